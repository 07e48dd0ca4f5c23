import { systemClock, type Clock } from './clock.js';
import { DeadlineQueue } from './deadlines.js';
import { CircuitOpenError, InvalidConfigError, type RejectionReason } from './errors.js';
import { Emitter, type Event } from './events.js';
import { EMPTY_CONTEXT, guard, Outcome, type GuardOutcome, type Policy, type PolicyContext, type PolicyFn } from './policy.js';
import { clockLike, fn as fnField, int, isNum, num, show } from './validate.js';
import { createWindow, type FailureWindow, type TripPolicy, type WindowSnapshot } from './window.js';

/**
 * `closed`: calls flow, failures are counted. `open`: calls are rejected until the reset timeout
 * has passed. `half-open`: at most `halfOpenMaxCalls` probes run at once. `isolated`: held open
 * by `isolate()` until released or `reset()`.
 */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

const STATES: readonly CircuitState[] = ['closed', 'open', 'half-open', 'isolated'];

/** Grow the open period while probes keep failing. */
export interface ResetBackoff {
  /** Factor applied to the open period after each failed probe. Default 2. */
  readonly multiplier?: number;
  /** Upper bound of the open period. */
  readonly maxResetTimeoutMs: number;
}

export interface CircuitBreakerOptions {
  /** Used in errors, events and the registry. Default `'breaker'`. */
  readonly name?: string;
  /** When the closed breaker opens. Default `{ type: 'consecutive', failures: 5 }`. */
  readonly trip?: TripPolicy;
  /** Probes admitted at once while half-open. Default 3. */
  readonly halfOpenMaxCalls?: number;
  /** Successful probes that close the breaker. Default 2. */
  readonly successThreshold?: number;
  /** How long the breaker stays open before admitting probes. Default 60 000. */
  readonly resetTimeoutMs?: number;
  /** Optional exponential growth of the open period while probes fail; reset on close. */
  readonly resetBackoff?: ResetBackoff;
  /** Which errors count as failures. Others count as successes (the dependency answered). Default: all. */
  readonly isFailure?: (error: unknown) => boolean;
  /** Per-call timeout for `execute`, counted as a failure (and in `stats().timeouts`). 0 = none (default). */
  readonly timeoutMs?: number;
  /** Time source. Default `Date.now()`. */
  readonly clock?: Clock;
  /** Start from a state produced by `toJSON()`. */
  readonly initialState?: BreakerSnapshot;
}

/** An admitted call. Report its outcome exactly once. */
export interface Permit {
  readonly ok: true;
  success(): void;
  /** The error is passed to `onFailure` listeners. */
  failure(error?: unknown): void;
  /** Release without an outcome (the caller gave up); counted in `stats().cancelled`. */
  cancel(): void;
}

/**
 * A refused call. The object is reused by its breaker: read it before the next `tryAcquire`.
 */
export interface Rejection {
  readonly ok: false;
  readonly reason: RejectionReason;
  readonly retryAfterMs: number;
  /** A fresh {@link CircuitOpenError} describing this rejection. */
  toError(): CircuitOpenError;
}

export interface StateChange {
  readonly breaker: string;
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** Clock time of the transition. */
  readonly at: number;
}
export interface SuccessEvent {
  readonly breaker: string;
}
export interface FailureEvent {
  readonly breaker: string;
  readonly error: unknown;
  /** True when the failure is the breaker's own per-call timeout. */
  readonly timeout: boolean;
}
export interface RejectionEvent {
  readonly breaker: string;
  readonly reason: RejectionReason;
  readonly retryAfterMs: number;
}

/**
 * Cumulative counters. Every call ends in exactly one of successes, failures, rejections or
 * cancelled; `timeouts` is the subset of failures that were per-call timeouts.
 */
export interface BreakerStats {
  readonly name: string;
  readonly state: CircuitState;
  readonly successes: number;
  readonly failures: number;
  readonly rejections: number;
  readonly cancelled: number;
  readonly timeouts: number;
  readonly transitions: number;
  /** Half-open probes admitted and not yet settled (0 in other states; closed calls are not tracked). */
  readonly inFlight: number;
}

/** Serialisable breaker state (`toJSON()` / `initialState`). */
export interface BreakerSnapshot {
  readonly version: 1;
  readonly state: CircuitState;
  /** Clock time the breaker last opened (0 if never). */
  readonly openedAt: number;
  /** Clock time from which an open breaker admits probes. */
  readonly openUntil: number;
  /** Current open period (grown by `resetBackoff`). */
  readonly resetTimeoutMs: number;
  /** Successful probes so far in this half-open period. */
  readonly halfOpenSuccesses: number;
  /** Outstanding `isolate()` holds. */
  readonly isolations: number;
  readonly window: WindowSnapshot;
}

const RESOLVED = Promise.resolve();

const SUCCESS = 0;
const FAILURE = 1;
const CANCEL = 2;
type Kind = typeof SUCCESS | typeof FAILURE | typeof CANCEL;

// Set in CircuitBreaker's static block: lets permits reach the breaker's private state.
let settle: (b: CircuitBreaker, epoch: number, halfOpen: boolean, kind: Kind, timeout: boolean, error: unknown) => void;
let counts: (b: CircuitBreaker, error: unknown) => boolean;
let closedSuccess: (b: CircuitBreaker, epoch: number) => void;

/** The shared permit of one closed period: reused, so admission allocates nothing. */
class ClosedPermit implements Permit {
  readonly ok = true as const;
  readonly breaker: CircuitBreaker;
  readonly epoch: number;
  /** Acquired minus released; releases beyond acquisitions are ignored. */
  outstanding = 0;
  /** Promise handlers of `execute` for this period (bound once, so a call allocates none). */
  readonly onValue: (value: unknown) => unknown;
  readonly onError: (error: unknown) => never;

  constructor(breaker: CircuitBreaker, epoch: number) {
    this.breaker = breaker;
    this.epoch = epoch;
    this.onValue = (value) => {
      closedSuccess(breaker, epoch);
      return value;
    };
    this.onError = (error) => {
      settle(breaker, epoch, false, counts(breaker, error) ? FAILURE : SUCCESS, false, error);
      throw error;
    };
  }
  success(): void {
    if (this.outstanding === 0) return;
    this.outstanding--;
    settle(this.breaker, this.epoch, false, SUCCESS, false, undefined);
  }
  failure(error?: unknown): void {
    if (this.outstanding === 0) return;
    this.outstanding--;
    settle(this.breaker, this.epoch, false, FAILURE, false, error);
  }
  cancel(): void {
    if (this.outstanding === 0) return;
    this.outstanding--;
    settle(this.breaker, this.epoch, false, CANCEL, false, undefined);
  }
}

/** One half-open probe: its own object, so a second outcome report is ignored. */
class ProbePermit implements Permit {
  readonly ok = true as const;
  readonly breaker: CircuitBreaker;
  readonly epoch: number;
  done = false;

  constructor(breaker: CircuitBreaker, epoch: number) {
    this.breaker = breaker;
    this.epoch = epoch;
  }
  success(): void {
    if (this.done) return;
    this.done = true;
    settle(this.breaker, this.epoch, true, SUCCESS, false, undefined);
  }
  failure(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    settle(this.breaker, this.epoch, true, FAILURE, false, error);
  }
  cancel(): void {
    if (this.done) return;
    this.done = true;
    settle(this.breaker, this.epoch, true, CANCEL, false, undefined);
  }
}

class SharedRejection implements Rejection {
  readonly ok = false as const;
  reason: RejectionReason = 'open';
  retryAfterMs = 0;
  readonly #name: string;
  constructor(name: string) {
    this.#name = name;
  }
  toError(): CircuitOpenError {
    return new CircuitOpenError(this.#name, this.reason, this.retryAfterMs);
  }
}

/**
 * A circuit breaker. The state machine is pure: it reads time only from the injected clock and
 * moves from open to half-open lazily, at the first call after the reset timeout (no timers).
 *
 * Two ways in: `execute(fn)` for async work, and `tryAcquire()` → permit | rejection for hot
 * paths that must not allocate (a closed breaker returns the same permit object every time).
 */
export class CircuitBreaker implements Policy {
  readonly name: string;
  readonly #window: FailureWindow;
  readonly #halfOpenMax: number;
  readonly #successThreshold: number;
  readonly #baseResetMs: number;
  readonly #backoffMul: number;
  readonly #maxResetMs: number;
  readonly #isFailure: ((error: unknown) => boolean) | undefined;
  readonly #timeoutMs: number;
  readonly #deadlines: DeadlineQueue | undefined;
  readonly #clock: Clock;
  readonly #rejection: SharedRejection;

  #state: CircuitState = 'closed';
  /** Closed and without a per-call timeout: `execute` can take its fast path. */
  #plain = false;
  #epoch = 0;
  #closedPermit: ClosedPermit;
  #openedAt = 0;
  #openUntil = 0;
  #resetMs: number;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  #isolations = 0;
  #periodError: CircuitOpenError | undefined;
  #periodThrow: (() => never) | undefined;

  #successes = 0;
  #failures = 0;
  #rejections = 0;
  #cancelled = 0;
  #timeouts = 0;
  #transitions = 0;

  readonly #stateChange = new Emitter<StateChange>();
  readonly #success = new Emitter<SuccessEvent>();
  readonly #failure = new Emitter<FailureEvent>();
  readonly #reject = new Emitter<RejectionEvent>();
  /** State transitions (including `isolate()` and `reset()`). */
  readonly onStateChange: Event<StateChange> = this.#stateChange.event;
  /** A call reported success (or an error that `isFailure` does not count). */
  readonly onSuccess: Event<SuccessEvent> = this.#success.event;
  /** A call failed (per-call timeouts included). */
  readonly onFailure: Event<FailureEvent> = this.#failure.event;
  /** A call was refused. */
  readonly onRejection: Event<RejectionEvent> = this.#reject.event;

  static {
    settle = (b, epoch, halfOpen, kind, timeout, error) => {
      b.#settle(epoch, halfOpen, kind, timeout, error);
    };
    counts = (b, error) => b.#counts(error);
    // The success of a closed `execute` call: #settle specialised for the hot path.
    closedSuccess = (b, epoch) => {
      b.#successes++;
      if (b.#success.size !== 0) b.#success.emit({ breaker: b.name });
      if (epoch !== b.#epoch) return;
      const w = b.#window;
      w.success(w.timed ? b.#clock.now() : 0);
    };
  }

  constructor(options: CircuitBreakerOptions = {}) {
    if (typeof options !== 'object' || (options as unknown) === null) throw new InvalidConfigError('options', 'must be an object');
    const name = options.name ?? 'breaker';
    if (typeof name !== 'string' || name === '') throw new InvalidConfigError('name', 'must be a non-empty string');
    this.name = name;
    this.#window = createWindow(options.trip);
    this.#halfOpenMax = int('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 3, 1);
    this.#successThreshold = int('successThreshold', options.successThreshold ?? 2, 1);
    this.#baseResetMs = num('resetTimeoutMs', options.resetTimeoutMs ?? 60_000, 0);
    const bo = options.resetBackoff;
    if (bo === undefined) {
      this.#backoffMul = 1;
      this.#maxResetMs = this.#baseResetMs;
    } else {
      if (typeof bo !== 'object' || (bo as unknown) === null) throw new InvalidConfigError('resetBackoff', 'must be an object');
      this.#backoffMul = num('resetBackoff.multiplier', bo.multiplier ?? 2, 1);
      this.#maxResetMs = num('resetBackoff.maxResetTimeoutMs', bo.maxResetTimeoutMs, this.#baseResetMs);
    }
    this.#resetMs = this.#baseResetMs;
    if (options.isFailure !== undefined) fnField('isFailure', options.isFailure);
    this.#isFailure = options.isFailure;
    this.#timeoutMs = num('timeoutMs', options.timeoutMs ?? 0, 0);
    this.#deadlines = this.#timeoutMs > 0 ? new DeadlineQueue(this.#timeoutMs) : undefined;
    if (options.clock !== undefined) clockLike('clock', options.clock);
    this.#clock = options.clock ?? systemClock;
    this.#rejection = new SharedRejection(name);
    this.#closedPermit = new ClosedPermit(this, 0);
    if (options.initialState !== undefined) this.#restore(options.initialState);
    this.#plain = this.#state === 'closed' && this.#timeoutMs === 0;
  }

  /** The current state. Open turns half-open at the next call after the reset timeout. */
  get state(): CircuitState {
    return this.#state;
  }

  /**
   * Synchronous admission. Returns a permit (report its outcome exactly once) or the breaker's
   * shared rejection. Allocates nothing while closed or rejecting.
   */
  tryAcquire(): Permit | Rejection {
    if (this.#state === 'closed') {
      const p = this.#closedPermit;
      p.outstanding++;
      return p;
    }
    return this.#acquireSlow();
  }

  #acquireSlow(): Permit | Rejection {
    if (this.#state === 'isolated') return this.#refuse('isolated', Infinity);
    if (this.#state === 'open') {
      const now = this.#clock.now();
      if (now < this.#openUntil) return this.#refuse('open', this.#openUntil - now);
      this.#to('half-open', now);
      // A listener may have moved the breaker on; start over.
      if ((this.#state as CircuitState) !== 'half-open') return this.tryAcquire();
    }
    if (this.#probesInFlight >= this.#halfOpenMax) return this.#refuse('half-open-full', 0);
    this.#probesInFlight++;
    return new ProbePermit(this, this.#epoch);
  }

  #refuse(reason: RejectionReason, retryAfterMs: number): Rejection {
    this.#rejections++;
    const r = this.#rejection;
    r.reason = reason;
    r.retryAfterMs = retryAfterMs;
    if (this.#reject.size !== 0) this.#reject.emit({ breaker: this.name, reason, retryAfterMs });
    return r;
  }

  /**
   * Runs `fn` if admitted, otherwise rejects with {@link CircuitOpenError}. Errors of `fn` are
   * rethrown as they are. With `options.signal`, an abort settles the call at once with
   * `AbortedError` and counts it as cancelled; with `timeoutMs`, a slow call rejects with
   * `TimeoutError` and counts as a failure. The signal handed to `fn` is aborted in both cases.
   */
  execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T> {
    const context = options ?? EMPTY_CONTEXT;
    let closed = this.#closedPermit;
    // #plain: closed and no per-call timeout, so the common case costs one check (and the signal's).
    if (!this.#plain || context.signal !== undefined) {
      if (this.#timeoutMs !== 0 || context.signal !== undefined) return this.#runGuarded(fn, context);
      const p = this.#acquireSlow();
      // Reject one microtask later: the caller's await is attached by then, which spares Node's
      // unhandled-rejection bookkeeping (most of the cost of a rejection).
      if (!p.ok) return RESOLVED.then(this.#rejectionThrower(p.reason));
      if (p instanceof ProbePermit) return this.#runProbe(fn, context, p);
      // A state-change listener closed the breaker meanwhile: run as a closed call.
      if (!(p instanceof ClosedPermit)) throw new TypeError('unreachable');
      p.outstanding--;
      closed = p;
    }
    // Closed: no async function, one derived promise, handlers bound once per closed period.
    let r: T | PromiseLike<T>;
    try {
      r = fn(context);
    } catch (e) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      r = Promise.reject(e);
    }
    return (r instanceof Promise ? (r as Promise<T>) : Promise.resolve(r)).then(closed.onValue as (v: T) => T, closed.onError);
  }

  async #runProbe<T>(fn: PolicyFn<T>, context: PolicyContext, p: ProbePermit): Promise<T> {
    p.done = true;
    let value: T;
    try {
      value = await fn(context);
    } catch (e) {
      this.#settle(p.epoch, true, this.#counts(e) ? FAILURE : SUCCESS, false, e);
      throw e;
    }
    this.#settle(p.epoch, true, SUCCESS, false, undefined);
    return value;
  }

  #rejectionThrower(reason: RejectionReason): () => never {
    let t = this.#periodThrow;
    if (t === undefined) {
      const e = this.#rejectionError(reason);
      t = () => {
        throw e;
      };
      this.#periodThrow = t;
    }
    return t;
  }

  /**
   * The CircuitOpenError of the current period, created at its first rejection and reused for
   * the rest of it (a rejection is then as cheap as a rejected promise). Its `retryAfterMs` is
   * computed when read.
   */
  #rejectionError(reason: RejectionReason): CircuitOpenError {
    let e = this.#periodError;
    if (e === undefined) {
      e =
        reason === 'open'
          ? new CircuitOpenError(this.name, reason, 0, { until: this.#openUntil, clock: this.#clock })
          : new CircuitOpenError(this.name, reason, reason === 'isolated' ? Infinity : 0);
      this.#periodError = e;
    }
    return e;
  }

  #runGuarded<T>(fn: PolicyFn<T>, context: PolicyContext): Promise<T> {
    const signal = context.signal;
    if (signal?.aborted === true) {
      this.#cancelled++;
      return guard(fn, context, undefined);
    }
    const p = this.tryAcquire();
    if (!p.ok) return RESOLVED.then(this.#rejectionThrower(p.reason));
    // The outcome is reported below, straight to #settle: retire the permit now.
    let halfOpen = false;
    let epoch = this.#epoch;
    if (p instanceof ProbePermit) {
      halfOpen = true;
      epoch = p.epoch;
      p.done = true;
    } else if (p instanceof ClosedPermit) {
      epoch = p.epoch;
      p.outstanding--;
    }
    const done = (outcome: GuardOutcome, error: unknown): void => {
      switch (outcome) {
        case Outcome.ok:
          this.#settle(epoch, halfOpen, SUCCESS, false, undefined);
          break;
        case Outcome.error:
          this.#settle(epoch, halfOpen, this.#counts(error) ? FAILURE : SUCCESS, false, error);
          break;
        case Outcome.timeout:
          this.#settle(epoch, halfOpen, FAILURE, true, error);
          break;
        default:
          this.#settle(epoch, halfOpen, CANCEL, false, error);
      }
    };
    return guard(fn, context, this.#deadlines, done);
  }

  #counts(error: unknown): boolean {
    const f = this.#isFailure;
    if (f === undefined) return true;
    try {
      return f(error);
    } catch {
      return true;
    }
  }

  #settle(epoch: number, halfOpen: boolean, kind: Kind, timeout: boolean, error: unknown): void {
    if (kind === SUCCESS) {
      this.#successes++;
      if (this.#success.size !== 0) this.#success.emit({ breaker: this.name });
    } else if (kind === FAILURE) {
      this.#failures++;
      if (timeout) this.#timeouts++;
      if (this.#failure.size !== 0) this.#failure.emit({ breaker: this.name, error, timeout });
    } else {
      this.#cancelled++;
    }
    // An outcome from an earlier period (the breaker has moved on since) changes no state.
    if (epoch !== this.#epoch) return;
    if (halfOpen) {
      this.#probesInFlight--;
      if (kind === SUCCESS) {
        if (++this.#probeSuccesses >= this.#successThreshold) this.#to('closed', this.#clock.now());
      } else if (kind === FAILURE) {
        this.#resetMs = Math.min(this.#resetMs * this.#backoffMul, this.#maxResetMs);
        this.#to('open', this.#clock.now());
      }
      return;
    }
    const w = this.#window;
    if (kind === SUCCESS) {
      w.success(w.timed ? this.#clock.now() : 0);
    } else if (kind === FAILURE) {
      const now = this.#clock.now();
      if (w.failure(now)) this.#to('open', now);
    }
  }

  #to(to: CircuitState, now: number): void {
    const from = this.#state;
    this.#state = to;
    this.#plain = to === 'closed' && this.#timeoutMs === 0;
    this.#epoch++;
    this.#transitions++;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#periodError = undefined;
    this.#periodThrow = undefined;
    switch (to) {
      case 'closed':
        this.#window.reset();
        this.#resetMs = this.#baseResetMs;
        this.#closedPermit = new ClosedPermit(this, this.#epoch);
        break;
      case 'open':
        this.#openedAt = now;
        this.#openUntil = now + this.#resetMs;
        break;
      default:
        break;
    }
    if (this.#stateChange.size !== 0) this.#stateChange.emit({ breaker: this.name, from, to, at: now });
  }

  /**
   * Holds the breaker open (state `isolated`, rejecting everything) until every returned handle
   * is disposed or `reset()` is called.
   */
  isolate(): Disposable {
    this.#isolations++;
    if (this.#state !== 'isolated') this.#to('isolated', this.#clock.now());
    let held = true;
    return {
      [Symbol.dispose]: () => {
        if (!held) return;
        held = false;
        if (this.#isolations > 0 && --this.#isolations === 0 && this.#state === 'isolated') {
          this.#to('closed', this.#clock.now());
        }
      },
    };
  }

  /** Closes the breaker, clears its failure window and open-period growth and drops isolation holds. */
  reset(): void {
    this.#isolations = 0;
    if (this.#state !== 'closed') this.#to('closed', this.#clock.now());
    else this.#window.reset();
  }

  /** How long until an open breaker admits probes: 0 when closed or half-open, Infinity when isolated. */
  retryAfterMs(): number {
    if (this.#state === 'isolated') return Infinity;
    if (this.#state !== 'open') return 0;
    return Math.max(0, this.#openUntil - this.#clock.now());
  }

  stats(): BreakerStats {
    return {
      name: this.name,
      state: this.#state,
      successes: this.#successes,
      failures: this.#failures,
      rejections: this.#rejections,
      cancelled: this.#cancelled,
      timeouts: this.#timeouts,
      transitions: this.#transitions,
      inFlight: this.#state === 'half-open' ? this.#probesInFlight : 0,
    };
  }

  /** The state, for `initialState`. Counters (`stats()`) and in-flight permits are not part of it. */
  toJSON(): BreakerSnapshot {
    return {
      version: 1,
      state: this.#state,
      openedAt: this.#openedAt,
      openUntil: this.#openUntil,
      resetTimeoutMs: this.#resetMs,
      halfOpenSuccesses: this.#probeSuccesses,
      isolations: this.#isolations,
      window: this.#window.snapshot(),
    };
  }

  #restore(input: BreakerSnapshot): void {
    const f = 'initialState';
    // Untrusted input (typically parsed JSON): check every field.
    if (typeof input !== 'object' || (input as unknown) === null) throw new InvalidConfigError(f, 'must be an object');
    const s = input as unknown as Record<string, unknown>;
    if (s.version !== 1) throw new InvalidConfigError(`${f}.version`, `unsupported version ${show(s.version)}`);
    const state = s.state as CircuitState;
    if (!STATES.includes(state)) throw new InvalidConfigError(`${f}.state`, `unknown state ${show(s.state)}`);
    const openedAt = s.openedAt;
    const openUntil = s.openUntil;
    if (!isNum(openedAt) || !Number.isFinite(openedAt)) throw new InvalidConfigError(`${f}.openedAt`, 'must be a finite number');
    if (!isNum(openUntil) || !Number.isFinite(openUntil)) throw new InvalidConfigError(`${f}.openUntil`, 'must be a finite number');
    const resetMs = num(`${f}.resetTimeoutMs`, s.resetTimeoutMs, this.#baseResetMs);
    if (resetMs > this.#maxResetMs) throw new InvalidConfigError(`${f}.resetTimeoutMs`, `exceeds the configured maximum ${this.#maxResetMs}`);
    const succ = int(`${f}.halfOpenSuccesses`, s.halfOpenSuccesses, 0);
    if (succ >= this.#successThreshold) throw new InvalidConfigError(`${f}.halfOpenSuccesses`, 'must be below successThreshold');
    const iso = int(`${f}.isolations`, s.isolations, 0);
    if ((iso > 0) !== (state === 'isolated')) throw new InvalidConfigError(`${f}.isolations`, 'must be > 0 exactly when isolated');
    this.#window.restore(s.window, `${f}.window`);
    this.#state = state;
    this.#openedAt = openedAt;
    this.#openUntil = openUntil;
    this.#resetMs = resetMs;
    this.#probeSuccesses = state === 'half-open' ? succ : 0;
    this.#isolations = iso;
  }
}
