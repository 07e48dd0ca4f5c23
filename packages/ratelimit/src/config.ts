import { InvalidArgumentError } from './errors.js';

/**
 * - `token-bucket`: capacity `burst`, refilled continuously at `requestsPerSecond`; starts full.
 * - `sliding-log`: at most `burst` units in any window of `burst / requestsPerSecond` s (exact; O(burst) memory per key).
 * - `sliding-window`: the O(1) sliding-window counter: previous window's count weighted by its overlap, plus the current one.
 * - `fixed-window`: at most `burst` units per aligned window of `burst / requestsPerSecond` s.
 */
export type Algorithm = 'token-bucket' | 'sliding-log' | 'sliding-window' | 'fixed-window';

export const ALGORITHMS: readonly Algorithm[] = ['token-bucket', 'sliding-log', 'sliding-window', 'fixed-window'];

/** The outcome of one rate-limit decision. */
export interface RateLimitDecision {
  /** Whether the `n` units were admitted (and consumed). */
  readonly allowed: boolean;
  /** Whole units left after this decision (the limit for a key never seen). */
  readonly remaining: number;
  /**
   * 0 when allowed. When denied: the exact wait after which the same request is admitted, provided
   * nothing else consumes in between (calling again at `now + retryAfterMs` succeeds).
   */
  readonly retryAfterMs: number;
  /** Clock time at which the key is back to its fresh state (full bucket, empty windows). */
  readonly resetAtMs: number;
}

/** The limit: `requestsPerSecond` sustained, `burst` at once. */
export interface RateLimiterConfig {
  /** Sustained rate, units per second: a finite number > 0 (fractions allowed, e.g. 0.5). */
  readonly requestsPerSecond: number;
  /** Largest admission at once (bucket capacity, or the per-window limit). Integer ≥ 1. Default `max(1, ceil(requestsPerSecond))`. */
  readonly burst?: number;
  /** Default `'token-bucket'`. */
  readonly algorithm?: Algorithm;
}

/** The numbers every algorithm works from, derived once from a config. */
export interface Params {
  readonly algorithm: Algorithm;
  /** Capacity / per-window limit (= burst). */
  readonly limit: number;
  /** Refill rate in units per millisecond. */
  readonly ratePerMs: number;
  /** Window length in ms for the window algorithms (= burst / rate). */
  readonly windowMs: number;
}

export function positiveFinite(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(field, 'a finite number > 0', v);
  return v;
}

export function positiveInteger(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(field, 'an integer ≥ 1', v);
  return v;
}

export function nonNegative(field: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new InvalidArgumentError(field, 'a number ≥ 0 (Infinity allowed)', v);
  return v;
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(field, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  }
  return v as T;
}

/** Validates a config (every field named on error) and derives the algorithm parameters. */
export function toParams(config: RateLimiterConfig): Params {
  if (typeof config !== 'object') throw new InvalidArgumentError('config', 'an object', config);
  const rps = positiveFinite('requestsPerSecond', config.requestsPerSecond);
  const burst = config.burst === undefined ? Math.max(1, Math.ceil(rps)) : positiveInteger('burst', config.burst);
  const algorithm = config.algorithm === undefined ? 'token-bucket' : oneOf('algorithm', config.algorithm, ALGORITHMS);
  return paramsOf(algorithm, burst, rps / 1000, (burst / rps) * 1000);
}

export function paramsOf(algorithm: Algorithm, limit: number, ratePerMs: number, windowMs: number): Params {
  return { algorithm, limit, ratePerMs, windowMs };
}

/** Throws unless `n` is an integer in 1..limit. */
export function checkN(n: unknown, limit: number): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > limit) {
    throw new InvalidArgumentError('n', `an integer from 1 to the burst (${limit})`, n);
  }
}

/** Throws unless `key` is a non-empty string. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgumentError('key', 'a non-empty string', key);
}
