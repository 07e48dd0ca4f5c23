import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, isCircuitOpenError, type CircuitBreakerOptions, type FailureEvent } from './index.js';

function make(opts: CircuitBreakerOptions = {}) {
  const clock = { t: 0, now: () => clock.t };
  return { b: new CircuitBreaker({ resetTimeoutMs: 1_000, trip: { type: 'consecutive', failures: 2 }, clock, ...opts }), clock };
}
const boom = () => Promise.reject(new Error('boom'));

describe('execute', () => {
  it('returns the value of async and sync functions and counts successes', async () => {
    const { b } = make();
    await expect(b.execute(async () => 1)).resolves.toBe(1);
    await expect(b.execute(() => 'sync')).resolves.toBe('sync');
    expect(b.stats().successes).toBe(2);
  });

  it('rethrows errors unchanged (sync throws included) and trips', async () => {
    const { b } = make();
    const err = new Error('sync');
    await expect(
      b.execute(() => {
        throw err;
      }),
    ).rejects.toBe(err);
    await expect(b.execute(boom)).rejects.toThrow('boom');
    expect(b.state).toBe('open');
    expect(b.stats().failures).toBe(2);
  });

  it('rejects with CircuitOpenError (code CIRCUIT_OPEN, retryAfterMs) while open, without calling fn', async () => {
    const { b, clock } = make();
    await b.execute(boom).catch(() => 0);
    await b.execute(boom).catch(() => 0);
    clock.t = 250;
    const fn = vi.fn(async () => 1);
    const e: unknown = await b.execute(fn).catch((x: unknown) => x);
    expect(fn).not.toHaveBeenCalled();
    expect(isCircuitOpenError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'CIRCUIT_OPEN', retryAfterMs: 750, reason: 'open', breaker: 'breaker' });
    expect(b.stats().rejections).toBe(1);
  });

  it('reuses one CircuitOpenError per open period, with a live retryAfterMs', async () => {
    const { b, clock } = make();
    await b.execute(boom).catch(() => 0);
    await b.execute(boom).catch(() => 0);
    const e1: unknown = await b.execute(async () => 1).catch((x: unknown) => x);
    clock.t = 400;
    const e2: unknown = await b.execute(async () => 1).catch((x: unknown) => x);
    expect(e2).toBe(e1);
    expect(e2).toMatchObject({ retryAfterMs: 600 });
    clock.t = 1_000;
    await b.execute(boom).catch(() => 0); // failed probe: a new open period
    const e3: unknown = await b.execute(async () => 1).catch((x: unknown) => x);
    expect(e3).not.toBe(e1);
    expect(e3).toMatchObject({ code: 'CIRCUIT_OPEN', retryAfterMs: 1_000 });
    expect(e1).toMatchObject({ retryAfterMs: 0 });
    expect(b.stats().rejections).toBe(2 + 1);
  });

  it('isFailure decides which errors count; the others count as successes', async () => {
    class NotFound extends Error {}
    const { b } = make({ isFailure: (e) => !(e instanceof NotFound) });
    for (let i = 0; i < 5; i++) await b.execute(() => Promise.reject(new NotFound())).catch(() => 0);
    expect(b.state).toBe('closed');
    expect(b.stats()).toMatchObject({ successes: 5, failures: 0 });
  });

  it('an isFailure that throws counts the error as a failure', async () => {
    const { b } = make({
      isFailure: () => {
        throw new Error('bad predicate');
      },
    });
    await b.execute(boom).catch(() => 0);
    expect(b.stats().failures).toBe(1);
  });

  it('probes through execute in half-open and closes after successThreshold', async () => {
    const { b, clock } = make();
    await b.execute(boom).catch(() => 0);
    await b.execute(boom).catch(() => 0);
    clock.t = 1_000;
    await b.execute(async () => 1);
    expect(b.state).toBe('half-open');
    await b.execute(async () => 1);
    expect(b.state).toBe('closed');
  });

  it('half-open admits at most halfOpenMaxCalls concurrent executes', async () => {
    const { b, clock } = make({ halfOpenMaxCalls: 2, successThreshold: 5 });
    await b.execute(boom).catch(() => 0);
    await b.execute(boom).catch(() => 0);
    clock.t = 1_000;
    const gates: (() => void)[] = [];
    const slow = () => new Promise<number>((r) => gates.push(() => { r(1); }));
    const p1 = b.execute(slow);
    const p2 = b.execute(slow);
    await expect(b.execute(slow)).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', reason: 'half-open-full' });
    gates.shift()!();
    await p1;
    const p3 = b.execute(slow);
    for (const g of gates.splice(0)) g();
    await Promise.all([p2, p3]);
    expect(b.stats()).toMatchObject({ successes: 3, rejections: 1, inFlight: 0 });
  });

  it('emits onSuccess and onFailure with the error', async () => {
    const { b } = make();
    const failures: FailureEvent[] = [];
    let successes = 0;
    using _a = b.onFailure((e) => failures.push(e));
    using _b = b.onSuccess(() => successes++);
    await b.execute(async () => 1);
    const err = new Error('x');
    await b.execute(() => Promise.reject(err)).catch(() => 0);
    expect(successes).toBe(1);
    expect(failures).toEqual([{ breaker: 'breaker', error: err, timeout: false }]);
  });
});

describe('execute with timeouts and signals (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a call slower than timeoutMs rejects with TimeoutError, aborts the signal handed to fn, counts a failure and a timeout', async () => {
    const { b } = make({ timeoutMs: 100 });
    let seen: AbortSignal | undefined;
    const p = b.execute(({ signal }) => {
      seen = signal;
      return new Promise(() => {});
    });
    const caught = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(99);
    expect(seen?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await caught).toMatchObject({ code: 'TIMEOUT', timeoutMs: 100 });
    expect(seen?.aborted).toBe(true);
    expect(b.stats()).toMatchObject({ failures: 1, timeouts: 1 });
  });

  it('a call within timeoutMs succeeds, and the shared timeout timer lapses afterwards', async () => {
    const { b } = make({ timeoutMs: 100 });
    const p = b.execute(() => new Promise((r) => setTimeout(() => { r(7); }, 50)));
    await vi.advanceTimersByTimeAsync(50);
    await expect(p).resolves.toBe(7);
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(0);
    expect(b.stats()).toMatchObject({ successes: 1, timeouts: 0 });
  });

  it('a signal first read after the timeout is already aborted, with the TimeoutError as reason', async () => {
    const { b } = make({ timeoutMs: 10 });
    let ctx: { readonly signal?: AbortSignal } | undefined;
    const p = b.execute((c) => {
      ctx = c;
      return new Promise(() => {});
    });
    const caught = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    const err = await caught;
    expect(ctx?.signal?.aborted).toBe(true);
    expect(ctx?.signal?.reason).toBe(err);
  });

  it('timeouts of concurrent calls each fire at their own deadline', async () => {
    const { b } = make({ timeoutMs: 100, trip: { type: 'consecutive', failures: 10 } });
    const settledAt: number[] = [];
    const start = Date.now();
    const calls = [0, 30, 60].map(async (delay) => {
      await new Promise((r) => setTimeout(r, delay));
      await b.execute(() => new Promise(() => {})).catch(() => {
        settledAt.push(Date.now() - start);
      });
    });
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all(calls);
    expect(settledAt).toEqual([100, 130, 160]);
    expect(b.stats().timeouts).toBe(3);
  });

  it('aborting the caller signal settles at once with AbortedError and counts the call as cancelled', async () => {
    const { b } = make();
    const ac = new AbortController();
    let inner: AbortSignal | undefined;
    const p = b.execute(
      ({ signal }) => {
        inner = signal;
        return new Promise(() => {});
      },
      { signal: ac.signal },
    );
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(p).rejects.toMatchObject({ code: 'ABORTED', cause: reason });
    expect(inner).toBe(ac.signal);
    expect(b.stats()).toMatchObject({ cancelled: 1, failures: 0, successes: 0 });
  });

  it('an already aborted signal rejects before admission, without calling fn', async () => {
    const { b } = make();
    const fn = vi.fn(async () => 1);
    await expect(b.execute(fn, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(fn).not.toHaveBeenCalled();
    expect(b.stats().cancelled).toBe(1);
  });

  it('a cancelled probe frees its half-open permit without deciding the state', async () => {
    const { b, clock } = make({ halfOpenMaxCalls: 1 });
    await b.execute(boom).catch(() => 0);
    await b.execute(boom).catch(() => 0);
    clock.t = 1_000;
    const ac = new AbortController();
    const p = b.execute(() => new Promise(() => {}), { signal: ac.signal });
    await expect(b.execute(async () => 1)).rejects.toMatchObject({ reason: 'half-open-full' });
    ac.abort();
    await p.catch(() => 0);
    expect(b.state).toBe('half-open');
    await expect(b.execute(async () => 1)).resolves.toBe(1);
  });
});
