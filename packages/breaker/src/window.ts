import { InvalidConfigError } from './errors.js';
import { int, isNum, num, range, show } from './validate.js';

/** When the closed breaker trips. */
export type TripPolicy =
  /** Trip after `failures` consecutive failures (default 5). */
  | { readonly type: 'consecutive'; readonly failures?: number }
  /**
   * Trip when the failure rate over the last `size` calls reaches `failureRate`, once at least
   * `minimumCalls` calls are in the window.
   */
  | { readonly type: 'count'; readonly size: number; readonly failureRate?: number; readonly minimumCalls?: number }
  /**
   * Trip when the failure rate over the last `windowMs` reaches `failureRate`, once at least
   * `minimumCalls` calls are in the window. The window is `buckets` slices of `windowMs / buckets`
   * each, so it slides in steps of one slice.
   */
  | {
      readonly type: 'time';
      readonly windowMs: number;
      readonly buckets?: number;
      readonly failureRate?: number;
      readonly minimumCalls?: number;
    };

/** Serialised window contents, part of a breaker snapshot. */
export type WindowSnapshot =
  | { readonly type: 'consecutive'; readonly failures: number }
  /** Outcomes oldest first, 1 = failure, 0 = success. */
  | { readonly type: 'count'; readonly outcomes: readonly number[] }
  /** Live buckets: [slice index (floor(time / sliceMs)), calls, failures]. */
  | { readonly type: 'time'; readonly buckets: readonly (readonly [number, number, number])[] };

/** The closed-state failure accounting. Pure: time comes in as an argument. */
export interface FailureWindow {
  /** True if the time-based window needs `now` on every outcome. */
  readonly timed: boolean;
  success(now: number): void;
  /** Records a failure; true if the breaker should trip. */
  failure(now: number): boolean;
  reset(): void;
  snapshot(): WindowSnapshot;
  /** Loads a snapshot (untrusted input: every field is checked, errors name it). */
  restore(s: unknown, field: string): void;
}

export class ConsecutiveWindow implements FailureWindow {
  readonly timed = false;
  readonly threshold: number;
  count = 0;

  constructor(threshold: number) {
    this.threshold = threshold;
  }
  success(): void {
    this.count = 0;
  }
  failure(): boolean {
    return ++this.count >= this.threshold;
  }
  reset(): void {
    this.count = 0;
  }
  snapshot(): WindowSnapshot {
    return { type: 'consecutive', failures: this.count };
  }
  restore(input: unknown, field: string): void {
    const s = expectType(input, 'consecutive', field);
    this.count = int(`${field}.failures`, s.failures, 0);
  }
}

export class CountWindow implements FailureWindow {
  readonly timed = false;
  readonly #ring: Uint8Array;
  readonly #rate: number;
  readonly #min: number;
  #head = 0;
  #calls = 0;
  #failures = 0;

  constructor(size: number, failureRate: number, minimumCalls: number) {
    this.#ring = new Uint8Array(size);
    this.#rate = failureRate;
    this.#min = minimumCalls;
  }

  #push(outcome: number): void {
    const ring = this.#ring;
    if (this.#calls === ring.length) this.#failures -= ring[this.#head] ?? 0;
    else this.#calls++;
    ring[this.#head] = outcome;
    this.#failures += outcome;
    this.#head = this.#head + 1 === ring.length ? 0 : this.#head + 1;
  }
  success(): void {
    this.#push(0);
  }
  failure(): boolean {
    this.#push(1);
    return this.#calls >= this.#min && this.#failures >= this.#rate * this.#calls;
  }
  reset(): void {
    this.#head = 0;
    this.#calls = 0;
    this.#failures = 0;
  }
  snapshot(): WindowSnapshot {
    const n = this.#ring.length;
    const out: number[] = [];
    const start = this.#calls === n ? this.#head : 0;
    for (let i = 0; i < this.#calls; i++) out.push(this.#ring[(start + i) % n] ?? 0);
    return { type: 'count', outcomes: out };
  }
  restore(input: unknown, field: string): void {
    const s = expectType(input, 'count', field);
    const outcomes: unknown = s.outcomes;
    if (!Array.isArray(outcomes) || outcomes.length > this.#ring.length) {
      throw new InvalidConfigError(`${field}.outcomes`, `must be an array of at most ${this.#ring.length} outcomes`);
    }
    this.reset();
    (outcomes as unknown[]).forEach((o, i) => {
      if (o !== 0 && o !== 1) throw new InvalidConfigError(`${field}.outcomes[${i}]`, 'must be 0 or 1');
      this.#push(o);
    });
  }
}

export class TimeWindow implements FailureWindow {
  readonly timed = true;
  readonly #sliceMs: number;
  readonly #slice: Float64Array;
  readonly #calls: Uint32Array;
  readonly #fails: Uint32Array;
  readonly #rate: number;
  readonly #min: number;

  constructor(windowMs: number, buckets: number, failureRate: number, minimumCalls: number) {
    this.#sliceMs = windowMs / buckets;
    this.#slice = new Float64Array(buckets).fill(-Infinity);
    this.#calls = new Uint32Array(buckets);
    this.#fails = new Uint32Array(buckets);
    this.#rate = failureRate;
    this.#min = minimumCalls;
  }

  #bucket(now: number): number {
    return this.#bucketAt(Math.floor(now / this.#sliceMs));
  }
  #bucketAt(idx: number): number {
    const n = this.#slice.length;
    const b = ((idx % n) + n) % n;
    if (this.#slice[b] !== idx) {
      this.#slice[b] = idx;
      this.#calls[b] = 0;
      this.#fails[b] = 0;
    }
    return b;
  }
  success(now: number): void {
    const b = this.#bucket(now);
    this.#calls[b] = (this.#calls[b] ?? 0) + 1;
  }
  failure(now: number): boolean {
    const b = this.#bucket(now);
    this.#calls[b] = (this.#calls[b] ?? 0) + 1;
    this.#fails[b] = (this.#fails[b] ?? 0) + 1;
    const idx = this.#slice[b] ?? 0;
    const n = this.#slice.length;
    let calls = 0;
    let fails = 0;
    for (let i = 0; i < n; i++) {
      const age = idx - (this.#slice[i] ?? -Infinity);
      if (age >= 0 && age < n) {
        calls += this.#calls[i] ?? 0;
        fails += this.#fails[i] ?? 0;
      }
    }
    return calls >= this.#min && fails >= this.#rate * calls;
  }
  reset(): void {
    this.#slice.fill(-Infinity);
    this.#calls.fill(0);
    this.#fails.fill(0);
  }
  snapshot(): WindowSnapshot {
    const out: [number, number, number][] = [];
    for (let i = 0; i < this.#slice.length; i++) {
      if (this.#calls[i] !== 0) out.push([this.#slice[i] ?? 0, this.#calls[i] ?? 0, this.#fails[i] ?? 0]);
    }
    out.sort((a, b) => a[0] - b[0]);
    return { type: 'time', buckets: out };
  }
  restore(input: unknown, field: string): void {
    const s = expectType(input, 'time', field);
    const buckets: unknown = s.buckets;
    if (!Array.isArray(buckets) || buckets.length > this.#slice.length) {
      throw new InvalidConfigError(`${field}.buckets`, `must be an array of at most ${this.#slice.length} buckets`);
    }
    this.reset();
    (buckets as unknown[]).forEach((entry, i) => {
      const f = `${field}.buckets[${i}]`;
      if (!Array.isArray(entry) || entry.length !== 3) throw new InvalidConfigError(f, 'must be [slice, calls, failures]');
      const [idx, calls, fails] = entry as [unknown, unknown, unknown];
      if (!isNum(idx) || !Number.isSafeInteger(idx)) throw new InvalidConfigError(`${f}[0]`, 'must be an integer slice index');
      const c = int(`${f}[1]`, calls, 1);
      const fl = int(`${f}[2]`, fails, 0);
      if (fl > c) throw new InvalidConfigError(`${f}[2]`, 'failures exceed calls');
      const b = this.#bucketAt(idx);
      if (this.#calls[b] !== 0) throw new InvalidConfigError(`${f}[0]`, 'duplicate slice');
      this.#calls[b] = c;
      this.#fails[b] = fl;
    });
  }
}

/** Validates a trip policy and builds its window. */
export function createWindow(trip: TripPolicy | undefined, field = 'trip'): FailureWindow {
  if (trip === undefined) return new ConsecutiveWindow(5);
  if (typeof trip !== 'object' || (trip as unknown) === null) throw new InvalidConfigError(field, 'must be an object');
  switch (trip.type) {
    case 'consecutive':
      return new ConsecutiveWindow(int(`${field}.failures`, trip.failures ?? 5, 1));
    case 'count': {
      const size = int(`${field}.size`, trip.size, 1);
      const rate = range(`${field}.failureRate`, trip.failureRate ?? 0.5, Number.MIN_VALUE, 1);
      const min = int(`${field}.minimumCalls`, trip.minimumCalls ?? Math.min(size, 10), 1);
      if (min > size) throw new InvalidConfigError(`${field}.minimumCalls`, `must be ≤ size (${size})`);
      return new CountWindow(size, rate, min);
    }
    case 'time': {
      const windowMs = num(`${field}.windowMs`, trip.windowMs, 0, true);
      const buckets = int(`${field}.buckets`, trip.buckets ?? 10, 1);
      if (buckets > 1000) throw new InvalidConfigError(`${field}.buckets`, 'must be ≤ 1000');
      const rate = range(`${field}.failureRate`, trip.failureRate ?? 0.5, Number.MIN_VALUE, 1);
      const min = int(`${field}.minimumCalls`, trip.minimumCalls ?? 10, 1);
      return new TimeWindow(windowMs, buckets, rate, min);
    }
    default:
      throw new InvalidConfigError(`${field}.type`, `must be 'consecutive', 'count' or 'time', got ${show((trip as { type: unknown }).type)}`);
  }
}

function expectType(input: unknown, type: WindowSnapshot['type'], field: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null) throw new InvalidConfigError(field, 'must be an object');
  const s = input as Record<string, unknown>;
  if (s.type !== type) throw new InvalidConfigError(`${field}.type`, `expected '${type}' (the configured trip policy), got ${show(s.type)}`);
  return s;
}
