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
 * Runs `fn`, settling at once when `context.signal` aborts (AbortedError) or `timeoutMs` passes
 * (TimeoutError; the signal handed to `fn` is aborted with it). `done` is called exactly once,
 * synchronously, before the returned promise settles. `timeoutMs` 0 = no timeout.
 */
export function guard<T>(
  fn: PolicyFn<T>,
  context: PolicyContext,
  timeoutMs: number,
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ac = timeoutMs > 0 ? new AbortController() : undefined;
    const cleanup = (): void => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (settled) return;
      cleanup();
      const reason: unknown = outer?.reason;
      ac?.abort(reason);
      const err = new AbortedError(reason);
      done?.(Outcome.aborted, err);
      reject(err);
    };
    outer?.addEventListener('abort', onAbort);
    let inner = context;
    if (ac !== undefined) {
      timer = setTimeout(() => {
        if (settled) return;
        cleanup();
        const err = new TimeoutError(timeoutMs);
        ac.abort(err);
        done?.(Outcome.timeout, err);
        reject(err);
      }, timeoutMs);
      inner = context.attempt === undefined ? { signal: ac.signal } : { signal: ac.signal, attempt: context.attempt };
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
