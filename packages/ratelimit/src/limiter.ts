import {
  decision,
  FixedWindowPolicy,
  SlidingLogPolicy,
  SlidingWindowPolicy,
  TokenBucketPolicy,
  policyFor,
  type AnyState,
  type BucketState,
  type CounterState,
  type LogState,
  type Policy,
  type WindowState,
} from './algorithms.js';
import { systemClock, type Clock } from './clock.js';
import {
  checkKey,
  checkN,
  nonNegative,
  oneOf,
  positiveInteger,
  toParams,
  type Algorithm,
  type RateLimitDecision,
  type RateLimiterConfig,
} from './config.js';
import { ClosedError, RateLimitedError } from './errors.js';
import { WaitQueues } from './queue.js';

/** What `tryAcquire` does for a new key when `maxKeys` keys are tracked and none is idle. */
export type FullPolicy = 'evict' | 'deny';

export interface RateLimiterOptions extends RateLimiterConfig {
  /** Time source. Default {@link systemClock}. */
  readonly clock?: Clock;
  /**
   * Most keys tracked at once (default 100 000). Idle keys (whose state equals a fresh key's) are
   * dropped as new keys arrive, without timers; see {@link FullPolicy} for when none is idle.
   */
  readonly maxKeys?: number;
  /**
   * When `maxKeys` keys are tracked and a new key arrives: `'evict'` (default) samples 8 tracked
   * keys and forgets the one closest to idle (it loses the rest of its history, which can only
   * loosen its limit); `'deny'` denies the new key until a slot frees up.
   */
  readonly onFull?: FullPolicy;
  /** Bound of each key's `acquire` wait queue (default 1 000). Beyond it: `QueueFullError`. */
  readonly maxQueuePerKey?: number;
  /** Bound of all `acquire` waiters together (default 10 000). Beyond it: `QueueFullError`. */
  readonly maxWaiters?: number;
}

export interface AcquireOptions {
  readonly signal?: AbortSignal;
  /** Longest wait before giving up with `RateLimitedError` (default Infinity). 0 = only if admissible now. */
  readonly maxWaitMs?: number;
}

export interface RateLimiterStats {
  readonly algorithm: Algorithm;
  /** Keys with state in memory now. */
  readonly trackedKeys: number;
  readonly maxKeys: number;
  /** Decisions that admitted (including those made for `acquire`). */
  readonly allowed: number;
  /** Decisions that denied (including `deniedFull`). */
  readonly denied: number;
  /** Idle keys forgotten (their state equalled a fresh key's). */
  readonly evictedIdle: number;
  /** Non-idle keys forgotten to make room under `onFull: 'evict'`. */
  readonly evictedFull: number;
  /** New keys denied under `onFull: 'deny'`. */
  readonly deniedFull: number;
  /** `acquire` calls waiting now, and the keys they wait on. */
  readonly waiting: number;
  readonly waitingKeys: number;
}

const SWEEP_PER_INSERT = 2;
const FULL_SAMPLE = 8;

/**
 * A keyed rate limiter held in memory. `tryAcquire` is synchronous and allocation-light: a denied
 * decision is a plain object, never a promise or an exception.
 */
export class RateLimiter implements Disposable {
  readonly #policy: Policy<AnyState>;
  // The same policy under its concrete type, exactly one of them set: each decide call site in
  // tryAcquire then sees one class only and stays monomorphic (inlinable) even when a process uses
  // several algorithms.
  readonly #tb: TokenBucketPolicy | undefined;
  readonly #sw: SlidingWindowPolicy | undefined;
  readonly #fw: FixedWindowPolicy | undefined;
  readonly #sl: SlidingLogPolicy | undefined;
  readonly #clock: Clock;
  readonly #states = new Map<string, AnyState>();
  readonly #limit: number;
  readonly #maxKeys: number;
  readonly #onFull: FullPolicy;
  readonly #queues: WaitQueues;
  #sweep: MapIterator<[string, AnyState]> | undefined;
  #closed = false;
  #allowed = 0;
  #denied = 0;
  #evictedIdle = 0;
  #evictedFull = 0;
  #deniedFull = 0;
  /** Under `onFull: 'deny'`: when the best eviction candidate seen last becomes idle. */
  #fullRetryAt = 0;

  constructor(options: RateLimiterOptions) {
    const params = toParams(options);
    const policy = policyFor(params);
    this.#policy = policy;
    this.#tb = policy instanceof TokenBucketPolicy ? policy : undefined;
    this.#sw = policy instanceof SlidingWindowPolicy ? policy : undefined;
    this.#fw = policy instanceof FixedWindowPolicy ? policy : undefined;
    this.#sl = policy instanceof SlidingLogPolicy ? policy : undefined;
    this.#limit = params.limit;
    this.#clock = options.clock ?? systemClock;
    this.#maxKeys = options.maxKeys === undefined ? 100_000 : positiveInteger('maxKeys', options.maxKeys);
    this.#onFull = options.onFull === undefined ? 'evict' : oneOf('onFull', options.onFull, ['evict', 'deny']);
    const perKey = options.maxQueuePerKey === undefined ? 1000 : positiveInteger('maxQueuePerKey', options.maxQueuePerKey);
    const total = options.maxWaiters === undefined ? 10_000 : positiveInteger('maxWaiters', options.maxWaiters);
    this.#queues = new WaitQueues((key, n) => this.tryAcquire(key, n), this.#clock, perKey, total);
  }

  get algorithm(): Algorithm {
    return this.#policy.algorithm;
  }

  /** The burst: capacity / per-window limit. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Decides at once whether `key` may consume `n` units (integer 1..burst) now, and consumes them if
   * so. Does not wait and does not queue: it may take capacity ahead of waiting `acquire` calls.
   */
  tryAcquire(key: string, n = 1): RateLimitDecision {
    // Shaped for V8: small enough to inline into the caller, and every path that returns a
    // decision in normal operation returns the one built by the (inlined) policy, never a value
    // from an out-of-line call. A caller that only reads `.allowed` can then have the decision
    // object optimised away. The unusual cases (n ≠ 1, a new or invalid key, closed) are handled
    // out of line and rejoin the common path.
    if (n !== 1 || this.#closed) this.#check(key, n);
    let s = this.#states.get(key);
    const now = this.#clock.now();
    if (s === undefined) {
      s = this.#insertChecked(key, now);
      if (s === undefined) return this.#deny(now);
    }
    const tb = this.#tb;
    const d = tb !== undefined ? tb.decide(s as BucketState, now, n) : this.#decideOther(s, now, n);
    if (d.allowed) this.#allowed++;
    else this.#denied++;
    return d;
  }

  /** Throws for an invalid `n` or key, or when closed. */
  #check(key: string, n: number): void {
    checkN(n, this.#limit);
    checkKey(key);
    if (this.#closed) throw new ClosedError();
  }

  /** Validates a key not tracked yet and adds its state; undefined when full under `onFull: 'deny'`. */
  #insertChecked(key: string, now: number): AnyState | undefined {
    checkKey(key);
    return this.#insert(key, now);
  }

  #decideOther(s: AnyState, now: number, n: number): RateLimitDecision {
    return this.#sw !== undefined
      ? this.#sw.decide(s as CounterState, now, n)
      : this.#fw !== undefined
        ? this.#fw.decide(s as WindowState, now, n)
        : (this.#sl as SlidingLogPolicy).decide(s as LogState, now, n);
  }


  /**
   * Waits until `n` units can be consumed for `key`, in FIFO order with other `acquire` calls for
   * that key. Rejects with `RateLimitedError` when admission would take longer than `maxWaitMs`
   * (at once when that is already known), `QueueFullError` when a wait queue is at its bound,
   * `ClosedError` on `close()`, and the signal's reason on abort.
   */
  async acquire(key: string, n = 1, options: AcquireOptions = {}): Promise<RateLimitDecision> {
    options.signal?.throwIfAborted();
    if (this.#closed) throw new ClosedError();
    checkKey(key);
    checkN(n, this.#limit);
    const maxWaitMs = options.maxWaitMs === undefined ? Infinity : nonNegative('maxWaitMs', options.maxWaitMs);
    if (this.#queues.has(key)) return this.#queues.wait(key, n, maxWaitMs, options.signal, undefined);
    const d = this.tryAcquire(key, n);
    if (d.allowed) return d;
    if (d.retryAfterMs > maxWaitMs) throw new RateLimitedError(key, d.retryAfterMs);
    return this.#queues.wait(key, n, maxWaitMs, options.signal, d.retryAfterMs);
  }

  /** Units `key` could consume now (fractional for the token bucket), without consuming. */
  available(key: string): number {
    checkKey(key);
    const now = this.#clock.now();
    const s = this.#states.get(key);
    return s === undefined ? this.#limit : this.#policy.available(s, now);
  }

  /** Forgets `key`'s history: it is fresh again. Waiting `acquire` calls for it are re-decided. */
  reset(key: string): void {
    checkKey(key);
    this.#states.delete(key);
    this.#queues.wake(key);
  }

  /** Drops every idle key now (O(tracked keys)); returns how many. Normally unnecessary: new keys sweep as they arrive. */
  prune(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const [key, s] of this.#states) {
      if (this.#policy.isIdle(s, now) && !this.#queues.has(key)) {
        this.#states.delete(key);
        n++;
      }
    }
    this.#evictedIdle += n;
    return n;
  }

  stats(): RateLimiterStats {
    return {
      algorithm: this.#policy.algorithm,
      trackedKeys: this.#states.size,
      maxKeys: this.#maxKeys,
      allowed: this.#allowed,
      denied: this.#denied,
      evictedIdle: this.#evictedIdle,
      evictedFull: this.#evictedFull,
      deniedFull: this.#deniedFull,
      waiting: this.#queues.waiting,
      waitingKeys: this.#queues.keys,
    };
  }

  /** Rejects waiting `acquire` calls with `ClosedError`, drops all state; later calls throw `ClosedError`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queues.close(new ClosedError());
    this.#states.clear();
    this.#sweep = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #next(): [string, AnyState] | undefined {
    let r = this.#sweep?.next();
    if (r === undefined || r.done === true) {
      this.#sweep = this.#states.entries();
      r = this.#sweep.next();
      if (r.done === true) return undefined;
    }
    return r.value;
  }

  /** Adds state for a new key, sweeping a few entries for idle keys first (amortised eviction). */
  #insert(key: string, now: number): AnyState | undefined {
    const states = this.#states;
    const policy = this.#policy;
    for (let i = 0; i < SWEEP_PER_INSERT && states.size > 0; i++) {
      const e = this.#next();
      if (e !== undefined && policy.isIdle(e[1], now) && !this.#queues.has(e[0])) {
        states.delete(e[0]);
        this.#evictedIdle++;
      }
    }
    if (states.size >= this.#maxKeys && !this.#makeRoom(now)) return undefined;
    const s = policy.create(now);
    states.set(key, s);
    return s;
  }

  /** Frees one slot; false when `onFull: 'deny'` and no sampled key is idle. */
  #makeRoom(now: number): boolean {
    let victim: string | undefined;
    let victimAt = Infinity;
    let victimIdle = false;
    const samples = Math.min(FULL_SAMPLE, this.#states.size);
    for (let i = 0; i < samples; i++) {
      const e = this.#next();
      if (e === undefined) break;
      if (this.#queues.keys !== 0 && this.#queues.has(e[0])) continue;
      if (this.#policy.isIdle(e[1], now)) {
        victim = e[0];
        victimIdle = true;
        break;
      }
      const at = this.#policy.idleAt(e[1]);
      if (at < victimAt) {
        victim = e[0];
        victimAt = at;
      }
    }
    if (victim === undefined) {
      this.#fullRetryAt = now;
      return this.#onFull === 'evict' ? this.#evictFirst() : false;
    }
    if (victimIdle) {
      this.#evictedIdle++;
    } else if (this.#onFull === 'deny') {
      this.#fullRetryAt = victimAt;
      return false;
    } else {
      this.#evictedFull++;
    }
    this.#states.delete(victim);
    return true;
  }

  #evictFirst(): boolean {
    const e = this.#next();
    if (e === undefined) return false;
    this.#states.delete(e[0]);
    this.#evictedFull++;
    return true;
  }

  #deny(now: number): RateLimitDecision {
    this.#deniedFull++;
    this.#denied++;
    // A guess (the slot may be taken by then), never 0 so that waiters do not spin.
    const retry = Math.max(this.#fullRetryAt - now, 1);
    return decision(false, 0, retry, now + retry);
  }
}
