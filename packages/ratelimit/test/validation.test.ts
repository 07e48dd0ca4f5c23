import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { FixedWindow, ManualClock, RateLimiter, SlidingLog, SlidingWindowCounter, TokenBucket, isRateLimitError } from '../src/index.js';
import { RedisRateLimiter } from '../src/redis.js';

function field(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isRateLimitError(e) && e.code === 'INVALID_ARGUMENT') return (e as unknown as { field: string }).field;
    throw e;
  }
  return undefined;
}

describe('single-key limiters validate their options', () => {
  it('names the field', () => {
    expect(field(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }))).toBe('capacity');
    expect(field(() => new TokenBucket({ capacity: 1, refillPerSecond: NaN }))).toBe('refillPerSecond');
    expect(field(() => new TokenBucket({ capacity: 1, refillPerSecond: -2 }))).toBe('refillPerSecond');
    expect(field(() => new SlidingLog({ limit: 0, windowMs: 1 }))).toBe('limit');
    expect(field(() => new SlidingWindowCounter({ limit: 1, windowMs: -1 }))).toBe('windowMs');
    expect(field(() => new FixedWindow({ limit: 1, windowMs: Infinity }))).toBe('windowMs');
    const b = new TokenBucket({ capacity: 3, refillPerSecond: 1, clock: new ManualClock() });
    expect(field(() => b.tryAcquire(4))).toBe('n');
    expect(field(() => b.tryAcquire(0))).toBe('n');
  });
});

describe('RedisRateLimiter validates options and arguments without touching Redis', () => {
  const client = new Redis({ lazyConnect: true });
  const base = { client, requestsPerSecond: 1, burst: 2 };

  it('names the field of a bad option', () => {
    expect(field(() => new RedisRateLimiter({ ...base, requestsPerSecond: -1 }))).toBe('requestsPerSecond');
    expect(field(() => new RedisRateLimiter({ ...base, burst: 0 }))).toBe('burst');
    expect(field(() => new RedisRateLimiter({ ...base, onUnavailable: 'maybe' as never }))).toBe('onUnavailable');
    expect(field(() => new RedisRateLimiter({ ...base, time: 'local' as never }))).toBe('time');
    expect(field(() => new RedisRateLimiter({ ...base, commandTimeoutMs: 0 }))).toBe('commandTimeoutMs');
    expect(field(() => new RedisRateLimiter({ ...base, ttlSlackMs: NaN }))).toBe('ttlSlackMs');
    expect(field(() => new RedisRateLimiter({ ...base, client: {} as never }))).toBe('client');
  });

  it('rejects bad arguments (a promise, never a synchronous throw)', async () => {
    const rl = new RedisRateLimiter(base);
    await expect(rl.tryAcquire('k', 3)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'n' });
    await expect(rl.tryAcquire('')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'key' });
    await expect(rl.acquire('k', 1, { maxWaitMs: NaN })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'maxWaitMs' });
    await rl.close();
    await expect(rl.tryAcquire('k')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(client.status).toBe('wait'); // never connected
  });
});

describe("onFull: 'evict' spares keys with waiters", () => {
  it('evicts another key even if the waiting one is closest to idle', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 4, clock, maxKeys: 2 });
    rl.tryAcquire('waiting', 3); // full again after 3 s: the natural victim
    rl.tryAcquire('busy', 4); // full again after 4 s
    const w = rl.acquire('waiting', 4); // 'waiting' now has a waiter
    expect(rl.tryAcquire('new').allowed).toBe(true);
    expect(rl.available('busy')).toBe(4); // busy was the one evicted
    expect(rl.stats()).toMatchObject({ evictedFull: 1, trackedKeys: 2 });
    clock.advance(3000);
    await expect(w).resolves.toMatchObject({ allowed: true });
  });
});
