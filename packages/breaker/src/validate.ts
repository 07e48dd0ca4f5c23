import { InvalidConfigError } from './errors.js';

export function isNum(v: unknown): v is number {
  return typeof v === 'number' && !Number.isNaN(v);
}

/** A finite number ≥ min (or > min when `exclusive`). */
export function num(field: string, v: unknown, min: number, exclusive = false): number {
  if (!isNum(v) || !Number.isFinite(v) || (exclusive ? v <= min : v < min)) {
    throw new InvalidConfigError(field, `must be a finite number ${exclusive ? '>' : '≥'} ${min}, got ${show(v)}`);
  }
  return v;
}

/** An integer ≥ min. */
export function int(field: string, v: unknown, min: number): number {
  if (!isNum(v) || !Number.isSafeInteger(v) || v < min) {
    throw new InvalidConfigError(field, `must be an integer ≥ ${min}, got ${show(v)}`);
  }
  return v;
}

/** A number in [lo, hi]. */
export function range(field: string, v: unknown, lo: number, hi: number): number {
  if (!isNum(v) || v < lo || v > hi) {
    throw new InvalidConfigError(field, `must be a number in [${lo}, ${hi}], got ${show(v)}`);
  }
  return v;
}

export function fn(field: string, v: unknown): void {
  if (typeof v !== 'function') throw new InvalidConfigError(field, `must be a function, got ${typeof v}`);
}

export function clockLike(field: string, v: unknown): void {
  if (typeof v !== 'object' || v === null || typeof (v as { now?: unknown }).now !== 'function') {
    throw new InvalidConfigError(field, 'must be an object with a now() method');
  }
}

/** Renders an untrusted value for an error message. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}
