// Quick start for @abi/ratelimit: runs without Redis.  pnpm --filter @abi/ratelimit example
import { ManualClock, RateLimiter, isRateLimitError } from '@abi/ratelimit';

// 5 requests per second sustained, bursts of up to 10, per key. A virtual clock makes the
// output deterministic; leave `clock` out to use real time.
const clock = new ManualClock(0);
const limiter = new RateLimiter({ requestsPerSecond: 5, burst: 10, algorithm: 'token-bucket', clock });

// Synchronous decisions: no promise, no exception when denied.
let admitted = 0;
for (let i = 0; i < 12; i++) if (limiter.tryAcquire('user:42').allowed) admitted++;
const denied = limiter.tryAcquire('user:42');
console.log(`burst: ${admitted} of 12 admitted; next one allowed=${denied.allowed}, retry after ${denied.retryAfterMs} ms`);

// Calling again exactly retryAfterMs later succeeds.
clock.advance(denied.retryAfterMs);
console.log(`after ${denied.retryAfterMs} ms:`, limiter.tryAcquire('user:42'));

// Keys are independent; weights take n units at once.
console.log('user:7 takes 4:', limiter.tryAcquire('user:7', 4));

// acquire() waits (FIFO per key), bounded by maxWaitMs and an AbortSignal.
const waited = limiter.acquire('user:42', 2, { maxWaitMs: 1000 });
clock.advance(400);
console.log('acquire(2) after waiting 400 ms:', await waited);
try {
  await limiter.acquire('user:42', 10, { maxWaitMs: 100 });
} catch (e) {
  if (isRateLimitError(e)) console.log(`acquire(10) gave up at once: ${e.code}`);
}

// Bad input is a typed error naming the field.
try {
  limiter.tryAcquire('user:42', 11);
} catch (e) {
  if (isRateLimitError(e)) console.log(`tryAcquire(n = 11): ${e.code}: ${e.message}`);
}

console.log('stats:', limiter.stats());
limiter.close();
