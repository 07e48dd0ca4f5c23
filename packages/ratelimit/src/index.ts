export { RateLimiter } from './limiter.js';
export type { AcquireOptions, FullPolicy, RateLimiterOptions, RateLimiterStats } from './limiter.js';
export { TokenBucket, SlidingLog, SlidingWindowCounter, FixedWindow } from './single.js';
export type { TokenBucketOptions, WindowOptions } from './single.js';
export { ManualClock, systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { ALGORITHMS } from './config.js';
export type { Algorithm, RateLimitDecision, RateLimiterConfig } from './config.js';
export {
  RateLimitError,
  InvalidArgumentError,
  RateLimitedError,
  QueueFullError,
  ClosedError,
  StoreUnavailableError,
  isRateLimitError,
} from './errors.js';
export type { RateLimitErrorCode } from './errors.js';
