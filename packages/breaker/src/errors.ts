/**
 * The one errors module of `@abi/breaker`. Every error thrown by this package is a
 * {@link BreakerError} with a `code` from {@link BreakerErrorCode}; match on `code` (or use the
 * `isXError` guards, which work across duplicate installs of the package), not on `instanceof`.
 */

const BRAND = Symbol.for('@abi/breaker/error');

export type BreakerErrorCode =
  | 'CIRCUIT_OPEN'
  | 'RETRIES_EXHAUSTED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'INVALID_CONFIG'
  | 'REGISTRY_FULL';

/** Base class of every error of this package. */
export class BreakerError extends Error {
  readonly code: BreakerErrorCode;
  declare readonly [BRAND]: true;

  constructor(code: BreakerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'BreakerError';
  }
}
Object.defineProperty(BreakerError.prototype, BRAND, { value: true });

/** Why a call was not admitted. */
export type RejectionReason = 'open' | 'half-open-full' | 'isolated';

/**
 * The breaker refused the call: it is open, isolated, or half-open with every probe permit taken.
 * `retryAfterMs` is how long until the breaker will admit a probe (0 when half-open and a permit
 * may free up any moment; `Infinity` while isolated).
 *
 * `execute()` rejects every call of one open period with the same instance (treat it as
 * read-only); its `retryAfterMs` is computed when read, so it stays accurate. It is created
 * without a stack trace: it is a control-flow signal on the hot rejection path, and capturing a
 * stack costs more than the rest of the rejection together.
 */
export class CircuitOpenError extends BreakerError {
  declare readonly retryAfterMs: number;
  readonly reason: RejectionReason;
  /** Name of the breaker that rejected. */
  readonly breaker: string;

  /** With `live`, `retryAfterMs` is `until − clock.now()` (at least 0) whenever it is read. */
  constructor(breaker: string, reason: RejectionReason, retryAfterMs: number, live?: { readonly until: number; readonly clock: { now(): number } }) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(
      'CIRCUIT_OPEN',
      live === undefined ? `circuit ${breaker} is ${reason}; retry after ${retryAfterMs} ms` : `circuit ${breaker} is ${reason}`,
    );
    Error.stackTraceLimit = limit;
    this.name = 'CircuitOpenError';
    this.breaker = breaker;
    this.reason = reason;
    Object.defineProperty(
      this,
      'retryAfterMs',
      live === undefined
        ? { value: retryAfterMs, enumerable: true }
        : { get: () => Math.max(0, live.until - live.clock.now()), enumerable: true },
    );
  }
}

/** Why a retry loop gave up. */
export type GiveUpReason = 'attempts' | 'budget';

/**
 * Every attempt of a retry loop failed with a retryable error (`reason: 'attempts'`), or the next
 * wait would overrun the total time budget (`reason: 'budget'`). `errors` holds every attempt's
 * error in order; `cause` is the last one.
 */
export class RetriesExhaustedError extends BreakerError {
  readonly attempts: number;
  readonly errors: readonly unknown[];
  readonly reason: GiveUpReason;

  constructor(reason: GiveUpReason, errors: readonly unknown[]) {
    super(
      'RETRIES_EXHAUSTED',
      reason === 'budget'
        ? `retry budget exhausted after ${errors.length} attempt(s)`
        : `all ${errors.length} attempt(s) failed`,
      { cause: errors[errors.length - 1] },
    );
    this.name = 'RetriesExhaustedError';
    this.reason = reason;
    this.attempts = errors.length;
    this.errors = errors;
  }
}

/** A call ran longer than its timeout; the signal handed to it was aborted. */
export class TimeoutError extends BreakerError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super('TIMEOUT', `operation timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's AbortSignal fired; `cause` is `signal.reason`. */
export class AbortedError extends BreakerError {
  constructor(reason: unknown) {
    super('ABORTED', 'operation aborted', { cause: reason });
    this.name = 'AbortedError';
  }
}

/** A configuration value (or a restored snapshot field) is invalid; `field` names it. */
export class InvalidConfigError extends BreakerError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('INVALID_CONFIG', `${field}: ${message}`);
    this.name = 'InvalidConfigError';
    this.field = field;
  }
}

/** A {@link CircuitRegistry} already holds `maxBreakers` breakers and was asked for a new name. */
export class RegistryFullError extends BreakerError {
  readonly maxBreakers: number;

  constructor(maxBreakers: number) {
    super('REGISTRY_FULL', `registry is full (${maxBreakers} breakers)`);
    this.name = 'RegistryFullError';
    this.maxBreakers = maxBreakers;
  }
}

function hasCode(e: unknown, code: BreakerErrorCode): boolean {
  return isBreakerError(e) && e.code === code;
}

/** True for any error of this package, including one from another copy of it. */
export function isBreakerError(e: unknown): e is BreakerError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}
export function isCircuitOpenError(e: unknown): e is CircuitOpenError {
  return hasCode(e, 'CIRCUIT_OPEN');
}
export function isRetriesExhaustedError(e: unknown): e is RetriesExhaustedError {
  return hasCode(e, 'RETRIES_EXHAUSTED');
}
export function isTimeoutError(e: unknown): e is TimeoutError {
  return hasCode(e, 'TIMEOUT');
}
export function isAbortedError(e: unknown): e is AbortedError {
  return hasCode(e, 'ABORTED');
}
export function isInvalidConfigError(e: unknown): e is InvalidConfigError {
  return hasCode(e, 'INVALID_CONFIG');
}
