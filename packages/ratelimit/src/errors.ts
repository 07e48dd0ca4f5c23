/**
 * The one errors module of `@abi/ratelimit`. Every error thrown or rejected by this package (apart
 * from an `AbortSignal`'s own reason, which `acquire` rethrows as-is) is a {@link RateLimitError}
 * with a `code` from {@link RateLimitErrorCode}. Match on `code` or use {@link isRateLimitError},
 * which works across duplicate installs of the package; don't rely on `instanceof`.
 *
 * Note what is *not* an error: a denied decision. `tryAcquire` returns `{ allowed: false, ... }`
 * and never throws or allocates a promise for it.
 */

const BRAND = Symbol.for('@abi/ratelimit/error');

export type RateLimitErrorCode =
  /** A config value or call argument is out of range; `field` names it. */
  | 'INVALID_ARGUMENT'
  /** `acquire` could not be admitted within `maxWaitMs`. */
  | 'RATE_LIMITED'
  /** `acquire` found the key's (or the limiter's) wait queue full. */
  | 'QUEUE_FULL'
  /** The limiter was closed while the call waited, or was called after `close()`. */
  | 'CLOSED'
  /** The shared store (Redis) did not answer; reported to `onStoreError` listeners. */
  | 'STORE_UNAVAILABLE';

/** Base class of every error of this package. */
export class RateLimitError extends Error {
  readonly code: RateLimitErrorCode;
  declare readonly [BRAND]: true;

  constructor(code: RateLimitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RateLimitError';
  }
}
Object.defineProperty(RateLimitError.prototype, BRAND, { value: true });

/** True for any error of this package, also one created by another copy of it. */
export function isRateLimitError(e: unknown): e is RateLimitError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** A config value or argument is invalid. `field` is its name (`burst`, `n`, `key`, ...). */
export class InvalidArgumentError extends RateLimitError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, requirement: string, value: unknown) {
    super('INVALID_ARGUMENT', `${field} must be ${requirement}, got ${describe(value)}`);
    this.name = 'InvalidArgumentError';
    this.field = field;
    this.value = value;
  }
}

/**
 * `acquire` gave up: the wait for `n` tokens would exceed (or did exceed) `maxWaitMs`.
 * `retryAfterMs` is the limiter's estimate of how long until the request could be admitted.
 */
export class RateLimitedError extends RateLimitError {
  readonly key: string;
  readonly retryAfterMs: number;

  constructor(key: string, retryAfterMs: number) {
    super('RATE_LIMITED', `rate limit for key ${JSON.stringify(key)} exceeded; retry after ${retryAfterMs} ms`);
    this.name = 'RateLimitedError';
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }
}

/** `acquire` was refused at once because a wait queue is at its bound (`limit`). */
export class QueueFullError extends RateLimitError {
  readonly key: string;
  readonly limit: number;
  /** `'key'` when the per-key queue is full, `'limiter'` when the limiter-wide bound is. */
  readonly scope: 'key' | 'limiter';

  constructor(key: string, scope: 'key' | 'limiter', limit: number) {
    super('QUEUE_FULL', `${scope === 'key' ? `wait queue of key ${JSON.stringify(key)}` : 'limiter wait queue'} is full (${limit})`);
    this.name = 'QueueFullError';
    this.key = key;
    this.scope = scope;
    this.limit = limit;
  }
}

/** The limiter is closed. */
export class ClosedError extends RateLimitError {
  constructor() {
    super('CLOSED', 'rate limiter is closed');
    this.name = 'ClosedError';
  }
}

/** The Redis store failed or timed out; `cause` holds the client's error. */
export class StoreUnavailableError extends RateLimitError {
  constructor(message: string, cause: unknown) {
    super('STORE_UNAVAILABLE', message, { cause });
    this.name = 'StoreUnavailableError';
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === undefined || v === null) return String(v);
  return typeof v;
}
