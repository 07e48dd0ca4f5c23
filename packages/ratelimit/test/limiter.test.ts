import { describe, expect, it } from 'vitest';
import { ALGORITHMS, ManualClock, RateLimiter, isRateLimitError, type RateLimitErrorCode } from '../src/index.js';

function code(f: () => unknown): RateLimitErrorCode | undefined {
  try {
    f();
  } catch (e) {
    if (isRateLimitError(e)) return e.code;
    throw e;
  }
  return undefined;
}

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isRateLimitError(e) && e.code === 'INVALID_ARGUMENT') return (e as unknown as { field: string }).field;
    throw e;
  }
  return undefined;
}

describe('RateLimiter config and input', () => {
  it('rejects bad config with typed errors naming the field', () => {
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: -1 }))).toBe('requestsPerSecond');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: NaN }))).toBe('requestsPerSecond');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: Infinity }))).toBe('requestsPerSecond');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 0 }))).toBe('requestsPerSecond');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 1, burst: 0 }))).toBe('burst');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 1, burst: 1.5 }))).toBe('burst');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 1, algorithm: 'leaky' as never }))).toBe('algorithm');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 1, maxKeys: 0 }))).toBe('maxKeys');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 1, onFull: 'drop' as never }))).toBe('onFull');
    expect(fieldOf(() => new RateLimiter({ requestsPerSecond: 1, maxQueuePerKey: -3 }))).toBe('maxQueuePerKey');
  });

  it('rejects bad calls with typed errors naming the field', async () => {
    const rl = new RateLimiter({ requestsPerSecond: 10, burst: 5, clock: new ManualClock() });
    expect(fieldOf(() => rl.tryAcquire('k', 6))).toBe('n');
    expect(fieldOf(() => rl.tryAcquire('k', 0))).toBe('n');
    expect(fieldOf(() => rl.tryAcquire('k', -1))).toBe('n');
    expect(fieldOf(() => rl.tryAcquire('k', NaN))).toBe('n');
    expect(fieldOf(() => rl.tryAcquire('k', 1.5))).toBe('n');
    expect(fieldOf(() => rl.tryAcquire(''))).toBe('key');
    expect(fieldOf(() => rl.tryAcquire(undefined as never))).toBe('key');
    await expect(rl.acquire('k', 6)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'n' });
    await expect(rl.acquire('k', 1, { maxWaitMs: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'maxWaitMs' });
    expect(rl.stats().trackedKeys).toBe(0);
  });

  it('defaults: token bucket, burst = ceil(rate)', () => {
    const rl = new RateLimiter({ requestsPerSecond: 2.5 });
    expect(rl.algorithm).toBe('token-bucket');
    expect(rl.limit).toBe(3);
  });
});

describe.each(ALGORITHMS)('RateLimiter %s', (algorithm) => {
  it('limits each key separately and admits again after retryAfterMs', () => {
    const clock = new ManualClock(10_000);
    const rl = new RateLimiter({ requestsPerSecond: 10, burst: 5, algorithm, clock });
    for (let i = 0; i < 5; i++) expect(rl.tryAcquire('a').allowed).toBe(true);
    const d = rl.tryAcquire('a');
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBeGreaterThan(0);
    expect(rl.tryAcquire('b').allowed).toBe(true);
    clock.advance(d.retryAfterMs);
    expect(rl.tryAcquire('a').allowed).toBe(true);
    expect(rl.stats()).toMatchObject({ algorithm, trackedKeys: 2, allowed: 7, denied: 1 });
  });

  it('reset(key) makes the key fresh', () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 2, algorithm, clock });
    rl.tryAcquire('a', 2);
    expect(rl.tryAcquire('a').allowed).toBe(false);
    rl.reset('a');
    expect(rl.available('a')).toBe(2);
    expect(rl.tryAcquire('a', 2).allowed).toBe(true);
  });

  it('evicts idle keys as new keys arrive, without timers', () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 100, burst: 1, algorithm, clock });
    for (let i = 0; i < 1000; i++) rl.tryAcquire(`k${i}`);
    expect(rl.stats().trackedKeys).toBe(1000);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(60_000); // every key idle now
    for (let i = 0; i < 1000; i++) rl.tryAcquire(`n${i}`);
    const s = rl.stats();
    expect(s.evictedIdle).toBeGreaterThanOrEqual(1000);
    expect(s.trackedKeys).toBe(1000);
    clock.advance(60_000);
    expect(rl.prune()).toBe(1000);
    expect(rl.stats().trackedKeys).toBe(0);
  });
});

describe('maxKeys', () => {
  it("'evict': never tracks more than maxKeys, evicting the key closest to idle", () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 10, clock, maxKeys: 8 });
    for (let i = 0; i < 8; i++) rl.tryAcquire(`k${i}`, i === 3 ? 1 : 10);
    // k3 is nearest to full (idle at 1 s; others at 10 s).
    expect(rl.tryAcquire('new').allowed).toBe(true);
    const s = rl.stats();
    expect(s.trackedKeys).toBe(8);
    expect(s.evictedFull).toBe(1);
    expect(rl.available('k3')).toBe(10); // forgotten
    expect(rl.available('k0')).toBe(0);
    for (let i = 0; i < 100; i++) rl.tryAcquire(`x${i}`);
    expect(rl.stats().trackedKeys).toBe(8);
  });

  it("'deny': denies new keys while full and admits once a key is idle", () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 2, clock, maxKeys: 2, onFull: 'deny' });
    rl.tryAcquire('a', 2);
    rl.tryAcquire('b', 1);
    const d = rl.tryAcquire('c');
    expect(d).toMatchObject({ allowed: false, remaining: 0 });
    expect(d.retryAfterMs).toBe(1000); // b is full again at 1 s
    expect(rl.stats()).toMatchObject({ deniedFull: 1, trackedKeys: 2 });
    clock.advance(d.retryAfterMs);
    expect(rl.tryAcquire('c').allowed).toBe(true);
    expect(rl.available('a')).toBe(1); // a kept its state
  });
});

describe('acquire', () => {
  it('resolves at once when admissible, else waits the exact time', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 10, burst: 1, clock });
    await expect(rl.acquire('k')).resolves.toMatchObject({ allowed: true });
    let done = false;
    const p = rl.acquire('k').then((d) => { done = true; return d; });
    await Promise.resolve();
    clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await expect(p).resolves.toMatchObject({ allowed: true });
    expect(rl.stats().waiting).toBe(0);
  });

  it('serves waiters of a key in FIFO order even when a later one needs less', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 3, clock });
    rl.tryAcquire('k', 3);
    const order: string[] = [];
    const a = rl.acquire('k', 3).then(() => order.push('a3'));
    const b = rl.acquire('k', 1).then(() => order.push('b1'));
    const c = rl.acquire('k', 1).then(() => order.push('c1'));
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a3', 'b1', 'c1']);
  });

  it('gives up at once with RATE_LIMITED when the wait would exceed maxWaitMs', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock });
    rl.tryAcquire('k');
    await expect(rl.acquire('k', 1, { maxWaitMs: 999 })).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1000 });
    await expect(rl.acquire('k', 1, { maxWaitMs: 0 })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    const ok = rl.acquire('k', 1, { maxWaitMs: 1000 });
    clock.advance(1000);
    await expect(ok).resolves.toMatchObject({ allowed: true });
  });

  it('a queued waiter whose deadline passes behind the head is rejected at its deadline', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 2, clock });
    rl.tryAcquire('k', 2);
    const head = rl.acquire('k', 2);
    const second = rl.acquire('k', 1, { maxWaitMs: 500 });
    clock.advance(500);
    await expect(second).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    clock.advance(1500);
    await expect(head).resolves.toMatchObject({ allowed: true });
  });

  it('bounds the queue per key and in total', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock, maxQueuePerKey: 2, maxWaiters: 3 });
    rl.tryAcquire('a');
    rl.tryAcquire('b');
    const w = [rl.acquire('a'), rl.acquire('a')];
    await expect(rl.acquire('a')).rejects.toMatchObject({ code: 'QUEUE_FULL', scope: 'key', limit: 2 });
    w.push(rl.acquire('b'));
    await expect(rl.acquire('b')).rejects.toMatchObject({ code: 'QUEUE_FULL', scope: 'limiter', limit: 3 });
    expect(rl.stats()).toMatchObject({ waiting: 3, waitingKeys: 2 });
    clock.advance(2000);
    await Promise.all(w);
    expect(rl.stats()).toMatchObject({ waiting: 0, waitingKeys: 0 });
  });

  it('abort removes the waiter (rejecting with the reason) and lets the next proceed', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 2, clock });
    rl.tryAcquire('k', 2);
    const ac = new AbortController();
    const big = rl.acquire('k', 2, { signal: ac.signal });
    const small = rl.acquire('k', 1);
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(big).rejects.toBe(reason);
    clock.advance(1000);
    await expect(small).resolves.toMatchObject({ allowed: true });
    await expect(rl.acquire('k', 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('reset(key) wakes waiters; close() rejects them with CLOSED', async () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock });
    rl.tryAcquire('k');
    const p = rl.acquire('k');
    rl.reset('k');
    await expect(p).resolves.toMatchObject({ allowed: true });
    const q = rl.acquire('k');
    rl.close();
    await expect(q).rejects.toMatchObject({ code: 'CLOSED' });
    expect(code(() => rl.tryAcquire('k'))).toBe('CLOSED');
    expect(clock.pendingTimers).toBe(0);
  });

  it('works with Symbol.dispose', () => {
    let leaked: RateLimiter;
    {
      using rl = new RateLimiter({ requestsPerSecond: 1, clock: new ManualClock() });
      leaked = rl;
      rl.tryAcquire('x');
    }
    expect(code(() => leaked.tryAcquire('x'))).toBe('CLOSED');
  });
});
