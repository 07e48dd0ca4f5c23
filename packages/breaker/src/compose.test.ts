import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, RetryExecutor, timeout, wrap, type PolicyContext } from './index.js';

describe('composition (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup() {
    const breaker = new CircuitBreaker({ trip: { type: 'consecutive', failures: 3 }, resetTimeoutMs: 10_000 });
    const retryPolicy = new RetryExecutor({ maxRetries: 5, strategy: 'fixed', initialDelayMs: 10 });
    const limit = timeout(50);
    return { breaker, retryPolicy, limit, policy: wrap(retryPolicy, breaker, limit) };
  }

  it('retry around breaker around timeout: a hung attempt times out, counts as a breaker failure, and is retried', async () => {
    const { breaker, policy } = setup();
    const seen: PolicyContext[] = [];
    const p = policy.execute((ctx) => {
      seen.push(ctx);
      return ctx.attempt === 1 ? new Promise<string>(() => {}) : Promise.resolve(`ok on ${ctx.attempt}`);
    });
    await vi.advanceTimersByTimeAsync(50 + 10);
    await expect(p).resolves.toBe('ok on 2');
    expect(seen.map((c) => c.attempt)).toEqual([1, 2]);
    expect(seen[0]!.signal?.aborted).toBe(true);
    expect(breaker.stats()).toMatchObject({ failures: 1, successes: 1 });
  });

  it('once the breaker opens, retry stops on CircuitOpenError instead of hammering', async () => {
    const { breaker, policy } = setup();
    const fn = vi.fn(() => Promise.reject(new Error('down')));
    const p = policy.execute(fn).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await p).toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(fn).toHaveBeenCalledTimes(3);
    expect(breaker.state).toBe('open');
    expect(breaker.stats()).toMatchObject({ failures: 3, rejections: 1 });
  });

  it('the caller signal reaches fn through every layer and aborting stops everything at once', async () => {
    const { policy } = setup();
    const ac = new AbortController();
    let inner: AbortSignal | undefined;
    const p = policy.execute(
      ({ signal }) => {
        inner = signal;
        return new Promise(() => {});
      },
      { signal: ac.signal },
    );
    await vi.advanceTimersByTimeAsync(1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(inner?.aborted).toBe(true);
    // The timeout policy's shared timer lapses at its time and is not re-armed.
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('timeout alone rejects with TimeoutError and emits onTimeout', async () => {
    const t = timeout(20);
    const fired: number[] = [];
    t.onTimeout((e) => fired.push(e.timeoutMs));
    const p = t.execute(() => new Promise(() => {})).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(20);
    expect(await p).toMatchObject({ code: 'TIMEOUT', timeoutMs: 20 });
    expect(fired).toEqual([20]);
  });

  it('wrap() of nothing just runs fn; bad members and timeouts are INVALID_CONFIG', async () => {
    await expect(wrap().execute(() => 5)).resolves.toBe(5);
    expect(() => wrap({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field: 'policies[0]' }));
    expect(() => timeout(0)).toThrow(expect.objectContaining({ field: 'timeoutMs' }));
  });
});
