export {
  AbortedError,
  BreakerError,
  CircuitOpenError,
  InvalidConfigError,
  RegistryFullError,
  RetriesExhaustedError,
  TimeoutError,
  isAbortedError,
  isBreakerError,
  isCircuitOpenError,
  isInvalidConfigError,
  isRetriesExhaustedError,
  isTimeoutError,
} from './errors.js';
export type { BreakerErrorCode, GiveUpReason, RejectionReason } from './errors.js';

export { systemClock, systemRandom } from './clock.js';
export type { Clock, Random } from './clock.js';

export { once, stream } from './events.js';
export type { Event, StreamOptions } from './events.js';

export type { ExecuteOptions, Policy, PolicyContext, PolicyFn } from './policy.js';

export type { TripPolicy, WindowSnapshot } from './window.js';

export { CircuitBreaker } from './breaker.js';
export type {
  BreakerSnapshot,
  BreakerStats,
  CircuitBreakerOptions,
  CircuitState,
  FailureEvent,
  Permit,
  Rejection,
  RejectionEvent,
  ResetBackoff,
  StateChange,
  SuccessEvent,
} from './breaker.js';

export { CircuitRegistry } from './registry.js';
export type { BreakerDefaults, CircuitRegistryOptions, RegistryStats } from './registry.js';

export { Backoff } from './backoff.js';
export type { BackoffOptions, BackoffStrategy, Jitter } from './backoff.js';

export { RetryExecutor, retry } from './retry.js';
export type { GiveUpEvent, RetryEvent, RetryOptions, RetryResult } from './retry.js';

export { sleep } from './sleep.js';

export { PolicyChain, TimeoutPolicy, timeout, wrap } from './compose.js';
export type { TimeoutEvent } from './compose.js';
