/**
 * The one errors module of `@abi/pool`. Every error is a {@link PoolError} with a typed `code`;
 * tests and callers branch on `code` (or on the subclass for errors that carry data).
 */

/** Every code a `PoolError` can carry. */
export type PoolErrorCode =
  /** A configuration value is out of range; `field` names it. */
  | 'INVALID_OPTION'
  /** `acquire` was called on a pool that is draining or closed. */
  | 'POOL_CLOSED'
  /** The waiter queue is at `maxWaiters`: the new acquire is rejected at once. */
  | 'WAITERS_FULL'
  /** No resource became available within `timeoutMs`. */
  | 'ACQUIRE_TIMEOUT'
  /** The factory's `create` threw or rejected; `cause` holds its error. */
  | 'CREATE_FAILED'
  /** The factory's `create` did not settle within `createTimeoutMs`. */
  | 'CREATE_TIMEOUT'
  /** `release`/`destroy` of a value that is not currently borrowed from this pool. */
  | 'NOT_BORROWED'
  /** `drain()` did not finish before its deadline. */
  | 'DRAIN_TIMEOUT'
  /** The load balancer has no endpoints at all. */
  | 'NO_ENDPOINTS'
  /** Every endpoint is ejected or failing its probes. */
  | 'NO_HEALTHY_ENDPOINT'
  /** An operation named an endpoint id the balancer does not know. */
  | 'UNKNOWN_ENDPOINT';

const BRAND: unique symbol = Symbol.for('@abi/pool/error') as never;

/** Base class of every error thrown by `@abi/pool`. */
export class PoolError extends Error {
  readonly code: PoolErrorCode;
  readonly [BRAND] = true;
  override readonly name: string = 'PoolError';

  constructor(code: PoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * True for any `PoolError`, including one created by another copy of this package (the check
 * uses a `Symbol.for` brand, not `instanceof`).
 */
export function isPoolError(e: unknown): e is PoolError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** A configuration value is invalid. `field` is the option's name (e.g. `max`, `endpoints[2].weight`). */
export class InvalidOptionError extends PoolError {
  override readonly name = 'InvalidOptionError';
  readonly field: string;
  constructor(field: string, message: string) {
    super('INVALID_OPTION', `${field}: ${message}`);
    this.field = field;
  }
}

/** The acquire waited `timeoutMs` without getting a resource. */
export class AcquireTimeoutError extends PoolError {
  override readonly name = 'AcquireTimeoutError';
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('ACQUIRE_TIMEOUT', `no resource became available within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The waiter queue is full. */
export class WaitersFullError extends PoolError {
  override readonly name = 'WaitersFullError';
  readonly maxWaiters: number;
  constructor(maxWaiters: number) {
    super('WAITERS_FULL', `the waiter queue is full (maxWaiters = ${maxWaiters})`);
    this.maxWaiters = maxWaiters;
  }
}

/** A create failed (`CREATE_FAILED`, with the factory's error as `cause`) or timed out (`CREATE_TIMEOUT`). */
export class CreateError extends PoolError {
  override readonly name = 'CreateError';
  declare readonly code: 'CREATE_FAILED' | 'CREATE_TIMEOUT';
}

/** `drain()` hit its deadline with resources still borrowed or waiters still queued. */
export class DrainTimeoutError extends PoolError {
  override readonly name = 'DrainTimeoutError';
  readonly borrowed: number;
  readonly pending: number;
  constructor(borrowed: number, pending: number) {
    super('DRAIN_TIMEOUT', `drain deadline passed with ${borrowed} borrowed and ${pending} waiting`);
    this.borrowed = borrowed;
    this.pending = pending;
  }
}

/** No endpoint can take the request. `retryAfterMs` is the time until the earliest re-admission, if any. */
export class NoEndpointError extends PoolError {
  override readonly name = 'NoEndpointError';
  readonly retryAfterMs: number | undefined;
  constructor(code: 'NO_ENDPOINTS' | 'NO_HEALTHY_ENDPOINT', retryAfterMs?: number) {
    super(code, code === 'NO_ENDPOINTS' ? 'the endpoint set is empty' : 'every endpoint is ejected or unhealthy');
    this.retryAfterMs = retryAfterMs;
  }
}

/** Validation helpers shared by every options parser in this package. */
export function checkNonNegative(field: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new InvalidOptionError(field, `must be a number ≥ 0, got ${String(v)}`);
  return v;
}

export function checkPositive(field: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v <= 0) throw new InvalidOptionError(field, `must be a number > 0, got ${String(v)}`);
  return v;
}

export function checkInt(field: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(Number.isInteger(v) || v === Infinity) || v < min) {
    throw new InvalidOptionError(field, `must be an integer ≥ ${min}, got ${String(v)}`);
  }
  return v;
}
