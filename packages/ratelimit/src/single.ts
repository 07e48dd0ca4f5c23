import {
  FixedWindowPolicy,
  SlidingLogPolicy,
  SlidingWindowPolicy,
  TokenBucketPolicy,
  type AnyState,
  type Policy,
} from './algorithms.js';
import { systemClock, type Clock } from './clock.js';
import { checkN, paramsOf, positiveFinite, positiveInteger, type RateLimitDecision } from './config.js';

/** One limiter for one key: the algorithm, its state and a clock. */
abstract class SingleLimiter {
  readonly #policy: Policy<AnyState>;
  readonly #clock: Clock;
  #state: AnyState;

  protected constructor(policy: Policy<AnyState>, clock: Clock | undefined) {
    this.#policy = policy;
    this.#clock = clock ?? systemClock;
    this.#state = policy.create(this.#clock.now());
  }

  /** Consumes `n` units (integer 1..limit) if available now. Never throws for a denial. */
  tryAcquire(n = 1): RateLimitDecision {
    if (n !== 1) checkN(n, this.#policy.params.limit);
    return this.#policy.decide(this.#state, this.#clock.now(), n);
  }

  /** Units available now (fractional for the token bucket), without consuming. */
  available(): number {
    return this.#policy.available(this.#state, this.#clock.now());
  }

  /** Back to the fresh state (full bucket, empty windows). */
  reset(): void {
    this.#state = this.#policy.create(this.#clock.now());
  }
}

export interface TokenBucketOptions {
  /** Tokens when full; the bucket starts full. Integer ≥ 1. */
  readonly capacity: number;
  /** Tokens added per second, continuously (fractional tokens accrue). Finite > 0. */
  readonly refillPerSecond: number;
  readonly clock?: Clock;
}

/** A token bucket: capacity, continuous lazy refill, starts full, exact `retryAfterMs`. */
export class TokenBucket extends SingleLimiter {
  constructor(options: TokenBucketOptions) {
    const capacity = positiveInteger('capacity', options.capacity);
    const rate = positiveFinite('refillPerSecond', options.refillPerSecond);
    super(new TokenBucketPolicy(paramsOf('token-bucket', capacity, rate / 1000, (capacity / rate) * 1000)), options.clock);
  }
}

export interface WindowOptions {
  /** Units admitted per window. Integer ≥ 1. */
  readonly limit: number;
  /** Window length in ms. Finite > 0. */
  readonly windowMs: number;
  readonly clock?: Clock;
}

function windowParams(algorithm: 'sliding-log' | 'sliding-window' | 'fixed-window', options: WindowOptions) {
  const limit = positiveInteger('limit', options.limit);
  const windowMs = positiveFinite('windowMs', options.windowMs);
  return paramsOf(algorithm, limit, limit / windowMs, windowMs);
}

/** Exact sliding log: at most `limit` units in any `windowMs`; weights `n` honoured; O(limit) memory. */
export class SlidingLog extends SingleLimiter {
  constructor(options: WindowOptions) {
    super(new SlidingLogPolicy(windowParams('sliding-log', options)), options.clock);
  }
}

/** O(1) sliding-window counter (previous window weighted by overlap + current window). */
export class SlidingWindowCounter extends SingleLimiter {
  constructor(options: WindowOptions) {
    super(new SlidingWindowPolicy(windowParams('sliding-window', options)), options.clock);
  }
}

/** At most `limit` units per window aligned to multiples of `windowMs`. */
export class FixedWindow extends SingleLimiter {
  constructor(options: WindowOptions) {
    super(new FixedWindowPolicy(windowParams('fixed-window', options)), options.clock);
  }
}
