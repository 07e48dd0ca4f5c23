import type { Deadline, DeadlineQueue } from './deadlines.js';
import { AbortedError, TimeoutError } from './errors.js';

/** What a policy hands to the function it runs. */
export interface PolicyContext {
  /** Aborted when the caller gives up or an enclosing timeout fires; pass it on to your I/O. */
  readonly signal?: AbortSignal;
  /** 1-based attempt number, set inside a retry policy. */
  readonly attempt?: number;
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

/**
 * Runs `fn`, settling at once when `context.signal` aborts (AbortedError) or the deadline of
 * `deadlines` passes (TimeoutError; the signal handed to `fn` is aborted with it). `done` is
 * called exactly once, synchronously, before the returned promise settles.
 */
export function guard<T>(
  fn: PolicyFn<T>,
  context: PolicyContext,
  deadlines: DeadlineQueue | undefined,
  done?: (outcome: GuardOutcome, error: unknown) => void,
): Promise<T> {
  const outer = context.signal;
  if (outer?.aborted === true) {
    const err = new AbortedError(outer.reason);
    done?.(Outcome.aborted, err);
    return Promise.reject(err);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let deadline: Deadline | undefined;
    // The inner AbortController is created only if fn reads `signal` (creating one costs more
    // than the rest of a guarded call); `abortReason` remembers an abort that came first.
    let ac: AbortController | undefined;
    let aborted = false;
    let abortReason: unknown;
    const abortInner = (reason: unknown): void => {
      aborted = true;
      abortReason = reason;
      ac?.abort(reason);
    };
    const cleanup = (): void => {
      settled = true;
      if (deadline !== undefined) deadlines?.cancel(deadline);
      outer?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (settled) return;
      cleanup();
      const reason: unknown = outer?.reason;
      abortInner(reason);
      const err = new AbortedError(reason);
      done?.(Outcome.aborted, err);
      reject(err);
    };
    outer?.addEventListener('abort', onAbort);
    let inner = context;
    if (deadlines !== undefined) {
      deadline = deadlines.add(() => {
        if (settled) return;
        cleanup();
        const err = new TimeoutError(deadlines.ms);
        abortInner(err);
        done?.(Outcome.timeout, err);
        reject(err);
      });
      const signal = (): AbortSignal => {
        if (ac === undefined) {
          ac = new AbortController();
          if (aborted) ac.abort(abortReason);
        }
        return ac.signal;
      };
      const attempt = context.attempt;
      inner =
        attempt === undefined
          ? {
              get signal() {
                return signal();
              },
            }
          : {
              get signal() {
                return signal();
              },
              attempt,
            };
    }
    let result: T | PromiseLike<T>;
    try {
      result = fn(inner);
    } catch (e) {
      // Rethrow whatever fn threw, unchanged.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      result = Promise.reject(e);
    }
    Promise.resolve(result).then(
      (v) => {
        if (settled) return;
        cleanup();
        done?.(Outcome.ok, undefined);
        resolve(v);
      },
      (e: unknown) => {
        if (settled) return;
        cleanup();
        done?.(Outcome.error, e);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(e);
      },
    );
  });
}
