import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS, ManualClock, RateLimiter, type RateLimitDecision } from '../src/index.js';
import { SCRIPTS } from '../src/lua.js';
import { RedisRateLimiter } from '../src/redis.js';
import { START_REDIS, cleanup, client, closedPort, redisAvailable, uniquePrefix } from './redis-helpers.js';

const available = await redisAvailable();
const mustRun = process.env.CI === 'true';
if (!available && !mustRun) console.warn(`@abi/ratelimit: skipping Redis store tests: ${START_REDIS}`);

if (!available && mustRun) {
  describe('Redis store (CI)', () => {
    it('needs Redis', () => {
      throw new Error(`CI=true and no Redis answers: ${START_REDIS}`);
    });
  });
}

describe.skipIf(!available)(`Redis store (skipped unless Redis runs: ${START_REDIS})`, () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const prefix = (): string => {
    const p = uniquePrefix();
    prefixes.push(p);
    return p;
  };

  beforeAll(() => {
    redis = client();
  });
  afterAll(async () => {
    for (const p of prefixes) await cleanup(redis, p);
    redis.disconnect();
  });

  it.each(ALGORITHMS)('%s: limits, retries after retryAfterMs, resets, and sets a TTL', async (algorithm) => {
    const clock = new ManualClock(1_700_000_000_000);
    const p = prefix();
    await using rl = new RedisRateLimiter({ client: redis, prefix: p, requestsPerSecond: 10, burst: 3, algorithm, clock, ttlSlackMs: 500, commandTimeoutMs: 10_000 });
    for (let i = 0; i < 3; i++) expect((await rl.tryAcquire('k')).allowed).toBe(true);
    const d = await rl.tryAcquire('k');
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBeGreaterThan(0);
    const ttl = await redis.pttl(`${p}k`);
    // One window (300 ms; two for the sliding-window counter) + the slack.
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual((algorithm === 'sliding-window' ? 600 : 300) + 500);
    expect(ttl).toBeGreaterThan(d.resetAtMs - clock.now());
    clock.advance(d.retryAfterMs);
    expect((await rl.tryAcquire('k')).allowed).toBe(true);
    expect((await rl.tryAcquire('other', 3)).allowed).toBe(true);
    await rl.reset('k');
    expect(await redis.exists(`${p}k`)).toBe(0);
    expect((await rl.tryAcquire('k', 3)).allowed).toBe(true);
    expect(rl.stats()).toMatchObject({ algorithm, allowed: 6, denied: 1, storeErrors: 0 });
  });

  it.each(ALGORITHMS)('%s: memory and Redis stores agree on the same random calls (same fake clock)', async (algorithm) => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          requestsPerSecond: fc.oneof(fc.constantFrom(1, 3, 100), fc.double({ min: 0.05, max: 2000, noNaN: true })),
          burst: fc.integer({ min: 1, max: 8 }),
          start: fc.oneof(fc.constant(0), fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), fc.double({ min: 0, max: 1e9, noNaN: true })),
          steps: fc.array(
            fc.record({
              key: fc.constantFrom('a', 'b', 'c'),
              dt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 30, noNaN: true }), fc.double({ min: 0, max: 3000, noNaN: true })),
              n: fc.integer({ min: 1, max: 8 }),
            }),
            { minLength: 1, maxLength: 30 },
          ),
        }),
        async ({ requestsPerSecond, burst, start, steps }) => {
          const clock = new ManualClock(start);
          const config = { requestsPerSecond, burst, algorithm, clock };
          const mem = new RateLimiter(config);
          const red = new RedisRateLimiter({ ...config, client: redis, prefix: prefix(), ttlSlackMs: 3_600_000, commandTimeoutMs: 10_000 });
          const a: RateLimitDecision[] = [];
          const b: RateLimitDecision[] = [];
          for (const s of steps) {
            clock.advance(s.dt);
            const n = Math.min(s.n, burst);
            a.push(mem.tryAcquire(s.key, n));
            b.push(await red.tryAcquire(s.key, n));
          }
          expect(b).toEqual(a);
          expect(red.stats().storeErrors).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });

  it.each([
    ['token-bucket', 1, '00000000000010400000000000408f40', '000000000000104000000000000000000000000000409f40'],
    ['fixed-window', 2, '00000000000000000000000000000040', '00000000000008400000000000000000000000000088b340'],
    ['sliding-window', 2, '000000000000000000000000000000000000000000000040', '00000000000008400000000000000000000000000088c340'],
    ['sliding-log', 2, '0000000000408f400000000000000040', '00000000000008400000000000000000000000000070b740'],
  ] as const)('PROTOCOL.md test vector: %s', async (algorithm, n, stored, packed) => {
    const key = `${prefix()}vector`;
    const reply = await redis.callBuffer('eval', [SCRIPTS[algorithm], '1', key, '1000', String(n), '5', '0.001', '5000', '60000']);
    expect(Array.isArray(reply)).toBe(true);
    const [allowed, nums] = reply as [number, Buffer];
    expect(allowed).toBe(1);
    expect(nums.toString('hex')).toBe(packed);
    expect((await redis.getBuffer(key))!.toString('hex')).toBe(stored);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // The memory limiter makes the same decision.
    const mem = new RateLimiter({ requestsPerSecond: 1, burst: 5, algorithm, clock: new ManualClock(1000) });
    const d = mem.tryAcquire('k', n);
    expect([d.remaining, d.retryAfterMs, d.resetAtMs]).toEqual([nums.readDoubleLE(0), nums.readDoubleLE(8), nums.readDoubleLE(16)]);
  });

  it('two processes (two clients) share one limit', async () => {
    const clock = new ManualClock(1_000_000);
    const p = prefix();
    const other = client();
    await using a = new RedisRateLimiter({ client: redis, prefix: p, requestsPerSecond: 2, burst: 5, clock, commandTimeoutMs: 10_000 });
    await using b = new RedisRateLimiter({ client: other, prefix: p, requestsPerSecond: 2, burst: 5, clock, commandTimeoutMs: 10_000 });
    let admitted = 0;
    for (let i = 0; i < 10; i++) if ((await (i % 2 === 0 ? a : b).tryAcquire('shared')).allowed) admitted++;
    expect(admitted).toBe(5);
    const d = await a.tryAcquire('shared');
    expect(d.retryAfterMs).toBe(500);
    clock.advance(500);
    expect((await b.tryAcquire('shared')).allowed).toBe(true);
    expect((await a.tryAcquire('shared')).allowed).toBe(false);
    other.disconnect();
  });

  it('reloads the script with EVAL when the server lost it (NOSCRIPT)', async () => {
    await using rl = new RedisRateLimiter({ client: redis, prefix: prefix(), requestsPerSecond: 1, burst: 2, clock: new ManualClock(5), commandTimeoutMs: 10_000 });
    expect((await rl.tryAcquire('k')).allowed).toBe(true);
    await redis.script('FLUSH');
    expect(await rl.tryAcquire('k')).toMatchObject({ allowed: true, remaining: 0 });
    expect((await rl.tryAcquire('k')).allowed).toBe(false);
    expect(rl.stats()).toMatchObject({ scriptLoads: 1, storeErrors: 0 });
  });

  it("time: 'server' uses Redis TIME", async () => {
    await using rl = new RedisRateLimiter({ client: redis, prefix: prefix(), requestsPerSecond: 0.1, burst: 2, time: 'server', commandTimeoutMs: 10_000 });
    expect((await rl.tryAcquire('k', 2)).allowed).toBe(true);
    const d = await rl.tryAcquire('k');
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBeGreaterThan(9_000);
    expect(d.retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('acquire waits on the injected clock and is served in FIFO order', async () => {
    const clock = new ManualClock(0);
    await using rl = new RedisRateLimiter({ client: redis, prefix: prefix(), requestsPerSecond: 1, burst: 2, clock, commandTimeoutMs: 10_000 });
    await rl.tryAcquire('k', 2);
    const order: number[] = [];
    const first = rl.acquire('k', 2).then(() => order.push(1));
    await new Promise((r) => setTimeout(r, 20));
    const second = rl.acquire('k', 1).then(() => order.push(2));
    const tooLong = rl.acquire('other', 1, { maxWaitMs: 0 });
    await expect(tooLong).resolves.toMatchObject({ allowed: true });
    for (let i = 0; i < 6 && order.length < 2; i++) {
      clock.advance(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
  });

  it.each(['local', 'fail-open', 'fail-closed'] as const)("a disconnected client falls back to '%s', and Redis decides again once reconnected", async (policy) => {
    const c = new Redis(redis.options);
    c.on('error', () => {});
    const clock = new ManualClock(1000);
    await using rl = new RedisRateLimiter({ client: c, prefix: prefix(), requestsPerSecond: 1, burst: 2, clock, onUnavailable: policy, commandTimeoutMs: 10_000 });
    expect((await rl.tryAcquire('k', 2)).allowed).toBe(true);
    c.disconnect();
    const errors: string[] = [];
    using _sub = rl.onStoreError((e) => errors.push(e.code));
    const during = [await rl.tryAcquire('k', 2), await rl.tryAcquire('k')];
    if (policy === 'local') {
      // A fresh local bucket of the same config.
      expect(during.map((d) => d.allowed)).toEqual([true, false]);
      expect(rl.stats()).toMatchObject({ localDecisions: 2 });
    } else if (policy === 'fail-open') {
      expect(during.map((d) => d.allowed)).toEqual([true, true]);
      expect(rl.stats()).toMatchObject({ failOpenAdmits: 2 });
    } else {
      expect(during.map((d) => d.allowed)).toEqual([false, false]);
      expect(rl.stats()).toMatchObject({ failClosedDenials: 2 });
    }
    expect(errors).toEqual(['STORE_UNAVAILABLE', 'STORE_UNAVAILABLE']);
    await c.connect();
    expect((await rl.tryAcquire('k')).allowed).toBe(false); // Redis state again: the bucket is still empty
    expect(rl.stats()).toMatchObject({ storeErrors: 2, allowed: 1, denied: 1 });
    c.disconnect();
  });
});

describe('Redis unreachable (client pointed at a closed loopback port)', () => {
  let port: number;
  beforeAll(async () => {
    port = await closedPort();
  });

  const unreachable = (fast: boolean): Redis => {
    const c = fast
      ? new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
      : new Redis({ host: '127.0.0.1', port, retryStrategy: () => 50 }); // default offline queue: commands wait
    c.on('error', () => {});
    return c;
  };

  it.each([true, false])("'fail-open' admits (fast failure: %s)", async (fast) => {
    const c = unreachable(fast);
    await using rl = new RedisRateLimiter({ client: c, requestsPerSecond: 1, burst: 2, onUnavailable: 'fail-open', commandTimeoutMs: 50, clock: new ManualClock(0) });
    for (let i = 0; i < 5; i++) expect(await rl.tryAcquire('k')).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0, resetAtMs: 0 });
    expect(rl.stats()).toMatchObject({ storeErrors: 5, failOpenAdmits: 5, allowed: 0 });
    c.disconnect();
  });

  it.each([true, false])("'fail-closed' denies with failClosedRetryMs (fast failure: %s)", async (fast) => {
    const c = unreachable(fast);
    await using rl = new RedisRateLimiter({ client: c, requestsPerSecond: 1, burst: 2, onUnavailable: 'fail-closed', failClosedRetryMs: 750, commandTimeoutMs: 50, clock: new ManualClock(0) });
    expect(await rl.tryAcquire('k')).toEqual({ allowed: false, remaining: 0, retryAfterMs: 750, resetAtMs: 750 });
    await expect(rl.acquire('k', 1, { maxWaitMs: 100 })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(rl.stats()).toMatchObject({ storeErrors: 2, failClosedDenials: 2 });
    c.disconnect();
  });

  it.each([true, false])("'local' (the default) limits in process with the same config (fast failure: %s)", async (fast) => {
    const c = unreachable(fast);
    const clock = new ManualClock(0);
    const errors: unknown[] = [];
    await using rl = new RedisRateLimiter({ client: c, requestsPerSecond: 1, burst: 2, commandTimeoutMs: 50, clock });
    using _sub = rl.onStoreError((e) => errors.push(e));
    expect((await rl.tryAcquire('k', 2)).allowed).toBe(true);
    const d = await rl.tryAcquire('k');
    expect(d).toMatchObject({ allowed: false, retryAfterMs: 1000 });
    clock.advance(1000);
    expect((await rl.tryAcquire('k')).allowed).toBe(true);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(rl.stats()).toMatchObject({ localDecisions: 3, storeErrors: 3 });
    c.disconnect();
  });
});
