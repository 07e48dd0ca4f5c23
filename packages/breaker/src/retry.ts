import { Backoff, type BackoffOptions } from './backoff.js';
import { systemClock, systemRandom, type Clock, type Random } from './clock.js';
import { AbortedError, isAbortedError, isCircuitOpenError, RetriesExhaustedError } from './errors.js';
import { Emitter, type Event } from './events.js';
import { EMPTY_CONTEXT, type Policy, type PolicyContext, type PolicyFn } from './policy.js';
import { sleep } from './sleep.js';
import { clockLike, fn as fnField, int, num } from './validate.js';

export interface RetryOptions extends BackoffOptions {
  /** Retries after the first attempt (so at most maxRetries + 1 attempts). Default 3. */
  readonly maxRetries?: number;
  /**
   * Which errors are worth another attempt (`attempt` is the 1-based attempt that failed).
   * Default: every error except `AbortedError` and `CircuitOpenError` (an open breaker means
   * "stop calling", so retrying it is pointless).
   */
  readonly retryable?: (error: unknown, attempt: number) => boolean;
  /**
   * Total time budget in ms from the start of the first attempt. A wait that would end past it is
   * not started: the loop gives up with `RetriesExhaustedError` (reason `budget`). Default: none.
   */
  readonly budgetMs?: number;
  /** Time source for the budget. Default `Date.now()`. */
  readonly clock?: Clock;
  /** Randomness for jitter. Default `Math.random`. */
  readonly random?: Random;
}

/** Outcome of a retry loop, with every attempt's error. */
export type RetryResult<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number; readonly errors: readonly unknown[] }
  | {
      readonly ok: false;
      /** `RetriesExhaustedError`, `AbortedError`, or the non-retryable error as thrown. */
      readonly error: unknown;
      readonly attempts: number;
      readonly errors: readonly unknown[];
    };

export interface RetryEvent {
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  readonly error: unknown;
  /** The wait before the next attempt. */
  readonly delayMs: number;
}

export interface GiveUpEvent {
  readonly attempts: number;
  readonly error: unknown;
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

const FIRST_ATTEMPT: PolicyContext = Object.freeze({ attempt: 1 });
const NO_ERRORS: readonly unknown[] = Object.freeze([]);

function defaultRetryable(error: unknown): boolean {
  return !isAbortedError(error) && !isCircuitOpenError(error);
}

/**
 * Runs a function until it succeeds, a non-retryable error occurs, the retries or the time
 * budget run out, or the caller's signal aborts (which cancels a pending wait at once).
 * Waits are timers: the event loop is never blocked.
 */
export class RetryExecutor implements Policy {
  readonly backoff: Backoff;
  readonly maxRetries: number;
  readonly #retryable: (error: unknown, attempt: number) => boolean;
  readonly #budgetMs: number;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #retry = new Emitter<RetryEvent>();
  readonly #giveUp = new Emitter<GiveUpEvent>();
  /** An attempt failed and another one is scheduled. */
  readonly onRetry: Event<RetryEvent> = this.#retry.event;
  /** The loop ended without a value. */
  readonly onGiveUp: Event<GiveUpEvent> = this.#giveUp.event;

  constructor(options: RetryOptions = {}) {
    this.backoff = new Backoff(options);
    this.maxRetries = int('maxRetries', options.maxRetries ?? 3, 0);
    if (options.retryable !== undefined) fnField('retryable', options.retryable);
    this.#retryable = options.retryable ?? defaultRetryable;
    this.#budgetMs = options.budgetMs === undefined ? Infinity : num('budgetMs', options.budgetMs, 0);
    if (options.clock !== undefined) clockLike('clock', options.clock);
    this.#clock = options.clock ?? systemClock;
    if (options.random !== undefined) fnField('random', options.random);
    this.#random = options.random ?? systemRandom;
  }

  /** Runs `fn` with retries; resolves with a result, never rejects. */
  run<T>(fn: PolicyFn<T>, options: PolicyContext = EMPTY_CONTEXT): Promise<RetryResult<T>> {
    return this.#loop(fn, options.signal, this.#budgetMs === Infinity ? 0 : this.#clock.now(), false, undefined);
  }

  /**
   * The loop. With `failedFirst`, attempt 1 already ran (in `execute`) and failed with `firstError`.
   */
  async #loop<T>(fn: PolicyFn<T>, signal: AbortSignal | undefined, start: number, failedFirst: boolean, firstError: unknown): Promise<RetryResult<T>> {
    let errors: unknown[] | undefined;
    let previous = 0;
    for (let attempt = 1; ; attempt++) {
      let e: unknown;
      if (failedFirst && attempt === 1) e = firstError;
      else {
        if (isAborted(signal)) return this.#fail(new AbortedError(signal?.reason), attempt - 1, errors);
        try {
          const value = await fn(signal === undefined ? { attempt } : { signal, attempt });
          return { ok: true, value, attempts: attempt, errors: errors ?? NO_ERRORS };
        } catch (err) {
          e = err;
        }
      }
      (errors ??= []).push(e);
      if (isAborted(signal)) return this.#fail(new AbortedError(signal?.reason), attempt, errors);
      let retryable: boolean;
      try {
        retryable = this.#retryable(e, attempt);
      } catch {
        retryable = false;
      }
      if (!retryable) return this.#fail(e, attempt, errors);
      if (attempt > this.maxRetries) return this.#fail(new RetriesExhaustedError('attempts', errors), attempt, errors);
      const delayMs = this.backoff.delay(attempt, previous, this.#random);
      previous = delayMs;
      if (this.#budgetMs !== Infinity && this.#clock.now() - start + delayMs > this.#budgetMs) {
        return this.#fail(new RetriesExhaustedError('budget', errors), attempt, errors);
      }
      if (this.#retry.size !== 0) this.#retry.emit({ attempt, error: e, delayMs });
      try {
        await sleep(delayMs, signal);
      } catch (abort) {
        return this.#fail(abort, attempt, errors);
      }
    }
  }

  #fail(error: unknown, attempts: number, errors: unknown[] | undefined): RetryResult<never> {
    if (this.#giveUp.size !== 0) this.#giveUp.emit({ attempts, error });
    return { ok: false, error, attempts, errors: errors ?? NO_ERRORS };
  }

  /**
   * Runs `fn` with retries; resolves with its value or rejects with `RetriesExhaustedError`,
   * `AbortedError`, or the first non-retryable error as it was thrown.
   */
  async execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T> {
    const signal = options?.signal;
    if (isAborted(signal)) throw new AbortedError(signal?.reason);
    const start = this.#budgetMs === Infinity ? 0 : this.#clock.now();
    // The first attempt runs here, so a call that succeeds at once costs one async frame.
    try {
      return await fn(signal === undefined ? FIRST_ATTEMPT : { signal, attempt: 1 });
    } catch (e) {
      const r = await this.#loop(fn, signal, start, true, e);
      if (r.ok) return r.value;
      throw r.error;
    }
  }
}

/** Runs `fn` with retries (see {@link RetryExecutor}); `options.signal` cancels. */
export function retry<T>(fn: PolicyFn<T>, options: RetryOptions & { readonly signal?: AbortSignal } = {}): Promise<RetryResult<T>> {
  const { signal, ...rest } = options;
  return new RetryExecutor(rest).run(fn, signal === undefined ? EMPTY_CONTEXT : { signal });
}
