import type { Deadline, DeadlineQueue, DeadlineTarget } from './deadlines.js';
import { AbortedError, TimeoutError } from './errors.js';

/** What a policy hands to the function it runs. */
export interface PolicyContext {
  /** Aborted when the caller gives up or an enclosing timeout fires; pass it on to your I/O. */
  readonly signal?: AbortSignal;
  /** 1-based attempt number, set inside a retry policy. */
  readonly attempt?: number | undefined;
}

/** Options of a single `execute` call. */
export interface ExecuteOptions {
  readonly signal?: AbortSignal;
}

/** The function a policy runs. May return a value or a promise. */
export type PolicyFn<T> = (context: PolicyContext) => T | PromiseLike<T>;

/** Anything that can run a function under a policy. Breakers, retries and timeouts all are. */
export interface Policy {
  execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T>;
}

export const EMPTY_CONTEXT: PolicyContext = Object.freeze({});

/** How a guarded call ended. */
export const Outcome = { ok: 0, error: 1, timeout: 2, aborted: 3 } as const;
export type GuardOutcome = (typeof Outcome)[keyof typeof Outcome];

type Done = (outcome: GuardOutcome, error: unknown) => void;

/**
 * One guarded call, and the context handed to its function. A class (not closures and an object
 * literal with a getter) because this runs per call: it keeps the allocation to a few objects.
 */
class Guarded<T> implements PolicyContext, DeadlineTarget {
  readonly attempt: number | undefined;
  readonly #outer: AbortSignal | undefined;
  readonly #deadlines: DeadlineQueue | undefined;
  readonly #done: Done | undefined;
  #deadline: Deadline | undefined;
  #settled = false;
  // The inner AbortController is created only if fn reads `signal` (creating one costs more than
  // the rest of a guarded call); #abortReason remembers an abort that came first.
  #ac: AbortController | undefined;
  #aborted = false;
  #abortReason: unknown;
  #resolve: ((value: T) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #onAbort: (() => void) | undefined;

  constructor(outer: AbortSignal | undefined, attempt: number | undefined, deadlines: DeadlineQueue | undefined, done: Done | undefined) {
    this.#outer = outer;
    this.attempt = attempt;
    this.#deadlines = deadlines;
    this.#done = done;
  }

  /** Aborted on timeout and when the caller's signal aborts. */
  get signal(): AbortSignal {
    if (this.#deadlines === undefined && this.#outer !== undefined) return this.#outer;
    if (this.#ac === undefined) {
      this.#ac = new AbortController();
      if (this.#aborted) this.#ac.abort(this.#abortReason);
    }
    return this.#ac.signal;
  }

  run(fn: PolicyFn<T>): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const outer = this.#outer;
    if (outer !== undefined) {
      this.#onAbort = () => {
        this.#abort();
      };
      outer.addEventListener('abort', this.#onAbort);
    }
    if (this.#deadlines !== undefined) this.#deadline = this.#deadlines.add(this);
    let result: T | PromiseLike<T>;
    try {
      result = fn(this);
    } catch (e) {
      // Rethrow whatever fn threw, unchanged.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      result = Promise.reject(e);
    }
    Promise.resolve(result).then(
      (v) => {
        if (this.#finish(Outcome.ok, undefined)) this.#resolve?.(v);
      },
      (e: unknown) => {
        if (this.#finish(Outcome.error, e)) this.#reject?.(e);
      },
    );
    return promise;
  }

  /** Marks the call settled (once); false if it already was. */
  #finish(outcome: GuardOutcome, error: unknown): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    if (this.#deadline !== undefined) this.#deadlines?.cancel(this.#deadline);
    if (this.#onAbort !== undefined) this.#outer?.removeEventListener('abort', this.#onAbort);
    this.#done?.(outcome, error);
    return true;
  }

  #abortInner(reason: unknown): void {
    this.#aborted = true;
    this.#abortReason = reason;
    this.#ac?.abort(reason);
  }

  #abort(): void {
    const reason: unknown = this.#outer?.reason;
    const err = new AbortedError(reason);
    if (!this.#finish(Outcome.aborted, err)) return;
    this.#abortInner(reason);
    this.#reject?.(err);
  }

  onDeadline(): void {
    const err = new TimeoutError(this.#deadlines?.ms ?? 0);
    if (!this.#finish(Outcome.timeout, err)) return;
    this.#abortInner(err);
    this.#reject?.(err);
  }
}

/**
 * Runs `fn`, settling at once when `context.signal` aborts (AbortedError) or the deadline of
 * `deadlines` passes (TimeoutError; the signal handed to `fn` is aborted with it). `done` is
 * called exactly once, synchronously, before the returned promise settles.
 */
export function guard<T>(fn: PolicyFn<T>, context: PolicyContext, deadlines: DeadlineQueue | undefined, done?: Done): Promise<T> {
  const outer = context.signal;
  if (outer?.aborted === true) {
    const err = new AbortedError(outer.reason);
    done?.(Outcome.aborted, err);
    return Promise.reject(err);
  }
  // Nothing to guard against: run fn as it is.
  if (outer === undefined && deadlines === undefined) {
    let result: T | PromiseLike<T>;
    try {
      result = fn(context);
    } catch (e) {
      done?.(Outcome.error, e);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(e);
    }
    return Promise.resolve(result).then(
      (v) => {
        done?.(Outcome.ok, undefined);
        return v;
      },
      (e: unknown) => {
        done?.(Outcome.error, e);
        throw e;
      },
    );
  }
  return new Guarded<T>(outer, context.attempt, deadlines, done).run(fn);
}
