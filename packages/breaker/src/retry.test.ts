import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backoff, CircuitOpenError, RetryExecutor, isRetriesExhaustedError, retry, type PolicyContext, type RetryOptions } from './index.js';

const never = () => 0.5;

describe('Backoff', () => {
  it.each([
    ['exponential', [100, 200, 400, 800, 1600]],
    ['linear', [100, 200, 300, 400, 500]],
    ['fixed', [100, 100, 100, 100, 100]],
    ['fibonacci', [100, 200, 300, 500, 800]],
    ['immediate', [0, 0, 0, 0, 0]],
  ] as const)('%s gives %j by default (no jitter)', (strategy, expected) => {
    const b = new Backoff({ strategy });
    expect([1, 2, 3, 4, 5].map((k) => b.delay(k, 0, never))).toEqual(expected);
  });

  it('defaults: exponential ×2 from 100 ms, capped at 30 s', () => {
    const b = new Backoff();
    expect(b.delay(1, 0, never)).toBe(100);
    expect(b.delay(9, 0, never)).toBe(25_600);
    expect(b.delay(10, 0, never)).toBe(30_000);
    expect(b.delay(10_000, 0, never)).toBe(30_000);
  });

  it('applies jitter inside maxDelayMs', () => {
    const base = { initialDelayMs: 1_000, maxDelayMs: 1_100 };
    expect(new Backoff({ ...base, jitter: 'full' }).delay(1, 0, () => 0.25)).toBe(250);
    expect(new Backoff({ ...base, jitter: 'equal' }).delay(1, 0, () => 0.5)).toBe(750);
    expect(new Backoff({ ...base, jitter: { ratio: 0.2 } }).delay(1, 0, () => 0)).toBe(800);
    expect(new Backoff({ ...base, jitter: { ratio: 0.2 } }).delay(1, 0, () => 0.99)).toBe(1_100);
  });

  it('decorrelated jitter stays in [initial, min(max, 3 × previous)]', () => {
    const b = new Backoff({ strategy: 'decorrelated-jitter', initialDelayMs: 100, maxDelayMs: 1_000 });
    expect(b.delay(1, 0, () => 0)).toBe(100);
    expect(b.delay(2, 200, () => 0.999999)).toBeCloseTo(600, 2);
    expect(b.delay(3, 900, () => 0.999999)).toBeCloseTo(1_000, 2);
  });

  it.each([
    [{ strategy: 'sometimes' }, 'strategy'],
    [{ initialDelayMs: -1 }, 'initialDelayMs'],
    [{ maxDelayMs: 50 }, 'maxDelayMs'],
    [{ multiplier: 0.5 }, 'multiplier'],
    [{ jitter: 'lots' }, 'jitter'],
    [{ jitter: { ratio: 2 } }, 'jitter.ratio'],
    [{ maxRetries: -1 }, 'maxRetries'],
    [{ maxRetries: 1.5 }, 'maxRetries'],
    [{ budgetMs: Number.NaN }, 'budgetMs'],
    [{ retryable: true }, 'retryable'],
    [{ random: 4 }, 'random'],
    [{ clock: 4 }, 'clock'],
  ])('%j → INVALID_CONFIG naming %s', (opts, field) => {
    expect(() => new RetryExecutor(opts as unknown as RetryOptions)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field }));
  });
});

describe('RetryExecutor (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function failing(n: number, value = 'ok') {
    let calls = 0;
    const attempts: number[] = [];
    const fn = vi.fn(({ attempt }: PolicyContext) => {
      attempts.push(attempt ?? -1);
      if (calls++ < n) return Promise.reject(new Error(`fail ${calls}`));
      return Promise.resolve(value);
    });
    return { fn, attempts };
  }

  it('retries with the default schedule 100, 200, 400 ms and returns attempts and every error', async () => {
    const { fn, attempts } = failing(3);
    const ex = new RetryExecutor();
    const delays: number[] = [];
    ex.onRetry((e) => delays.push(e.delayMs));
    const p = ex.run(fn);
    await vi.advanceTimersByTimeAsync(100);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1 + 400);
    const r = await p;
    expect(r.ok && r.value).toBe('ok');
    expect(r.attempts).toBe(4);
    expect(r.errors.map((e) => (e as Error).message)).toEqual(['fail 1', 'fail 2', 'fail 3']);
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('gives up after maxRetries with RetriesExhaustedError carrying every error', async () => {
    const { fn } = failing(10);
    const p = new RetryExecutor({ maxRetries: 2, strategy: 'immediate' }).execute(fn);
    const e: unknown = await p.catch((x: unknown) => x);
    expect(isRetriesExhaustedError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'RETRIES_EXHAUSTED', reason: 'attempts', attempts: 3 });
    if (!isRetriesExhaustedError(e)) return;
    expect(e.errors).toHaveLength(3);
    expect(e.cause).toBe(e.errors[2]);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('does not retry an error the retryable predicate rejects, and returns it unchanged', async () => {
    const err = new Error('fatal');
    const fn = vi.fn(() => Promise.reject(err));
    const r = await retry(fn, { retryable: (e) => e !== err });
    expect(r).toMatchObject({ ok: false, error: err, attempts: 1 });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not retry CircuitOpenError by default', async () => {
    const fn = vi.fn(() => Promise.reject(new CircuitOpenError('svc', 'open', 100)));
    const r = await retry(fn);
    expect(r).toMatchObject({ ok: false, attempts: 1 });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('stops when the next wait would overrun the total budget', async () => {
    const { fn } = failing(10);
    const p = retry(fn, { budgetMs: 350, maxRetries: 10 });
    await vi.advanceTimersByTimeAsync(300); // attempts at 0, 100, 300; the next wait (400) would end at 700
    const r = await p;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'RETRIES_EXHAUSTED', reason: 'budget' });
    expect(r.attempts).toBe(3);
  });

  it('an abort cancels a pending wait at once, leaving no timer', async () => {
    const { fn } = failing(10);
    const ac = new AbortController();
    const p = retry(fn, { signal: ac.signal, initialDelayMs: 10_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    ac.abort(new Error('user'));
    const r = await p; // no timer advanced
    expect(r).toMatchObject({ ok: false, attempts: 1, error: { code: 'ABORTED' } });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an already aborted signal runs nothing', async () => {
    const fn = vi.fn(async () => 1);
    const r = await retry(fn, { signal: AbortSignal.abort() });
    expect(r).toMatchObject({ ok: false, attempts: 0, error: { code: 'ABORTED' } });
    expect(fn).not.toHaveBeenCalled();
  });

  it('passes the signal to fn and reports an attempt failing because of the abort as ABORTED', async () => {
    const ac = new AbortController();
    const p = retry(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal?.addEventListener('abort', () => {
            reject(new Error('io aborted'));
          });
        }),
      { signal: ac.signal },
    );
    ac.abort();
    const r = await p;
    expect(r).toMatchObject({ ok: false, attempts: 1, error: { code: 'ABORTED' } });
  });

  it('execute() resolves after retries, handing each attempt its number', async () => {
    const { fn, attempts } = failing(2, 'done');
    const p = new RetryExecutor({ strategy: 'fixed', initialDelayMs: 5 }).execute(fn);
    await vi.advanceTimersByTimeAsync(10);
    await expect(p).resolves.toBe('done');
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('execute() rethrows a non-retryable first error unchanged', async () => {
    const err = new Error('fatal');
    await expect(new RetryExecutor({ retryable: () => false }).execute(() => Promise.reject(err))).rejects.toBe(err);
  });

  it('emits onGiveUp once', async () => {
    const ex = new RetryExecutor({ maxRetries: 0 });
    const seen: number[] = [];
    ex.onGiveUp((e) => seen.push(e.attempts));
    await ex.run(() => Promise.reject(new Error('x')));
    expect(seen).toEqual([1]);
  });
});
