import { describe, expect, it } from 'vitest';
import { ConnectionPool, isPoolError, type PoolOptions } from './index.js';
import { ManualScheduler, flush } from '../test/manual-scheduler.js';
import { FakeFactory, type Res } from '../test/fake-factory.js';

function setup(options: PoolOptions = {}, factory = new FakeFactory()) {
  const sched = new ManualScheduler();
  const pool = new ConnectionPool<Res>(factory, { scheduler: sched, ...options });
  return { sched, pool, factory };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isPoolError(e)) return e.code;
    return e instanceof Error ? e.name : String(e);
  }
  return 'resolved';
}

describe('ConnectionPool', () => {
  it('creates on demand, reuses released resources and counts uses', async () => {
    const { pool, factory } = setup();
    const a = await pool.acquire();
    expect(pool.info(a)?.state).toBe('active');
    pool.release(a);
    expect(pool.info(a)?.state).toBe('idle');
    const b = await pool.acquire();
    expect(b).toBe(a);
    expect(pool.info(a)?.uses).toBe(2);
    expect(factory.seq).toBe(1);
    const s = pool.stats();
    expect(s).toMatchObject({ size: 1, borrowed: 1, idle: 0, created: 1, acquired: 2, max: 10 });
    pool.release(b);
    await pool.close();
  });

  it('queues waiters FIFO when full and serves them in order', async () => {
    const { pool } = setup({ max: 1 });
    const a = await pool.acquire();
    const order: number[] = [];
    const ps = [1, 2, 3].map((i) =>
      pool.acquire().then((r) => {
        order.push(i);
        return r;
      }),
    );
    await flush();
    expect(pool.stats().pending).toBe(3);
    pool.release(a);
    const r1 = await ps[0]!;
    pool.release(r1);
    const r2 = await ps[1]!;
    pool.release(r2);
    const r3 = await ps[2]!;
    expect(order).toEqual([1, 2, 3]);
    expect(r3).toBe(a);
    pool.release(r3);
    await pool.close();
  });

  it('rejects past maxWaiters with WAITERS_FULL', async () => {
    const { pool } = setup({ max: 1, maxWaiters: 1 });
    const a = await pool.acquire();
    const w = pool.acquire();
    expect(await codeOf(pool.acquire())).toBe('WAITERS_FULL');
    pool.release(a);
    pool.release(await w);
    await pool.close();
  });

  it('times out waiters with ACQUIRE_TIMEOUT and keeps serving the rest', async () => {
    const { pool, sched } = setup({ max: 1 });
    const a = await pool.acquire();
    const late = pool.acquire({ timeoutMs: 100 });
    const patient = pool.acquire({ timeoutMs: 1000 });
    const lateCode = codeOf(late);
    await sched.advance(100);
    expect(await lateCode).toBe('ACQUIRE_TIMEOUT');
    expect(pool.stats()).toMatchObject({ timeouts: 1, pending: 1 });
    pool.release(a);
    expect(await patient).toBe(a);
    expect(await codeOf(pool.acquire({ timeoutMs: 0 }))).toBe('ACQUIRE_TIMEOUT');
    pool.release(a);
    await pool.close();
  });

  it('enforces the pool-default acquireTimeoutMs on the maintenance tick (within one interval late)', async () => {
    const { pool, sched } = setup({ max: 1, acquireTimeoutMs: 1000, evictionIntervalMs: 100 });
    const a = await pool.acquire();
    let code = '';
    void codeOf(pool.acquire()).then((c) => (code = c));
    await sched.advance(999);
    expect(code).toBe('');
    await sched.advance(101);
    expect(code).toBe('ACQUIRE_TIMEOUT');
    pool.release(a);
    await pool.close();
    expect(sched.pendingTimers).toBe(0);
  });

  it('arms a tick for a default-timeout waiter even when the pool holds nothing yet', async () => {
    const factory = new FakeFactory();
    factory.hangNext = 1;
    const { pool, sched } = setup({ max: 1, acquireTimeoutMs: 500, createTimeoutMs: 60_000, evictionIntervalMs: 100 }, factory);
    const p = codeOf(pool.acquire());
    await sched.advance(700);
    expect(await p).toBe('ACQUIRE_TIMEOUT');
    await pool.close();
  });

  it('honours an AbortSignal, before and while waiting', async () => {
    const { pool } = setup({ max: 1 });
    expect(await codeOf(pool.acquire({ signal: AbortSignal.abort() }))).toBe('AbortError');
    const a = await pool.acquire();
    const ctl = new AbortController();
    const w = codeOf(pool.acquire({ signal: ctl.signal }));
    ctl.abort();
    expect(await w).toBe('AbortError');
    expect(pool.stats().pending).toBe(0);
    pool.release(a);
    expect(pool.stats().idle).toBe(1);
    await pool.close();
  });

  it('destroy() removes a broken resource for good and a replacement is created', async () => {
    const { pool, factory } = setup({ max: 1 });
    const a = await pool.acquire();
    const w = pool.acquire();
    pool.destroy(a);
    const b = await w;
    expect(b).not.toBe(a);
    expect(a.destroyed).toBe(true);
    expect(pool.info(a)).toBeUndefined();
    expect(() => {
      pool.release(a);
    }).toThrow(expect.objectContaining({ code: 'NOT_BORROWED' }));
    pool.release(b);
    expect(() => {
      pool.release(b);
    }).toThrow(expect.objectContaining({ code: 'NOT_BORROWED' }));
    expect(factory.seq).toBe(2);
    await pool.close();
  });

  it('reports a failed create to the waiter that started it, without poisoning the pool', async () => {
    const { pool, factory } = setup();
    factory.failNext = 1;
    const err = await pool.acquire().catch((e: unknown) => e);
    expect(isPoolError(err) && err.code).toBe('CREATE_FAILED');
    expect((err as Error).cause).toEqual(new Error('boom'));
    const ok = await pool.acquire();
    expect(ok.id).toBe(1);
    expect(pool.stats()).toMatchObject({ createFailures: 1, size: 1 });
    pool.release(ok);
    await pool.close();
  });

  it('times out hanging creates with CREATE_TIMEOUT and destroys resources that arrive late', async () => {
    const { pool, factory, sched } = setup({ createTimeoutMs: 50 });
    factory.hangNext = 1;
    const p = codeOf(pool.acquire());
    await sched.advance(50);
    expect(await p).toBe('CREATE_TIMEOUT');
    expect(pool.stats()).toMatchObject({ createTimeouts: 1, size: 0 });
    factory.releaseHung();
    await flush();
    expect(factory.live.size).toBe(0);
    await pool.close();
  });

  it('evicts idle resources after idleTimeoutMs but keeps min warm', async () => {
    const { pool, factory, sched } = setup({ min: 1, idleTimeoutMs: 5_000, healthCheckIntervalMs: Infinity });
    await flush();
    expect(pool.stats().idle).toBe(1);
    const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    pool.release(a);
    pool.release(b);
    pool.release(c);
    expect(pool.stats().idle).toBe(3);
    await sched.advance(7_000);
    expect(pool.stats()).toMatchObject({ idle: 1, size: 1 });
    expect(factory.live.size).toBe(1);
    await pool.close();
    expect(factory.live.size).toBe(0);
  });

  it('retires resources past maxLifetimeMs: idle ones by the timer, borrowed ones on release', async () => {
    const { pool, factory, sched } = setup({ maxLifetimeMs: 10_000, idleTimeoutMs: Infinity, healthCheckIntervalMs: Infinity });
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    pool.release(a);
    await sched.advance(11_000);
    expect(a.destroyed).toBe(true);
    expect(b.destroyed).toBe(false);
    pool.release(b);
    expect(b.destroyed).toBe(true);
    expect(factory.live.size).toBe(0);
    await pool.close();
  });

  it('probes idle resources and destroys the ones that fail', async () => {
    const { pool, factory, sched } = setup({ healthCheckIntervalMs: 2_000 });
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    pool.release(a);
    pool.release(b);
    a.healthy = false;
    await sched.advance(3_000);
    expect(a.destroyed).toBe(true);
    expect(pool.info(b)?.state).toBe('idle');
    expect(pool.stats().validationFailures).toBe(1);
    expect(factory.validateCalls).toBe(2);
    await pool.close();
  });

  it('test-on-borrow skips broken idle resources', async () => {
    const { pool } = setup({ testOnBorrow: true });
    const a = await pool.acquire();
    pool.release(a);
    a.healthy = false;
    const b = await pool.acquire();
    expect(b).not.toBe(a);
    expect(a.destroyed).toBe(true);
    pool.release(b);
    const c = await pool.acquire();
    expect(c).toBe(b);
    pool.release(c);
    await pool.close();
  });

  it('leases release themselves with await using', async () => {
    const { pool } = setup();
    {
      await using lease = await pool.lease();
      expect(pool.stats().borrowed).toBe(1);
      expect(lease.resource.id).toBe(1);
    }
    expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 1 });
    {
      using lease = await pool.lease();
      lease.destroy();
    }
    expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 0, destroyed: 1 });
    await pool.close();
  });

  it('drain waits for borrowed resources and rejects new acquires', async () => {
    const { pool, sched } = setup();
    const a = await pool.acquire();
    let drained = false;
    const d = pool.drain().then(() => (drained = true));
    expect(await codeOf(pool.acquire())).toBe('POOL_CLOSED');
    await flush();
    expect(drained).toBe(false);
    pool.release(a);
    await d;
    expect(drained).toBe(true);
    const b = await pool.acquire().catch(() => undefined);
    expect(b).toBeUndefined();
    expect(await codeOf(pool.drain({ timeoutMs: 10 }))).toBe('resolved');
    await pool.close();
    expect(sched.pendingTimers).toBe(0);
  });

  it('drain rejects with DRAIN_TIMEOUT; close forces borrowed resources and waiters out', async () => {
    const { pool, sched, factory } = setup({ max: 1 });
    const a = await pool.acquire();
    const w = codeOf(pool.acquire({ timeoutMs: Infinity }));
    const d = codeOf(pool.drain({ timeoutMs: 100 }));
    const pendingDrain = pool.drain();
    await sched.advance(100);
    expect(await d).toBe('DRAIN_TIMEOUT');
    const c = pool.close({ timeoutMs: 100 });
    await sched.advance(100);
    await c;
    expect(await w).toBe('POOL_CLOSED');
    expect(a.destroyed).toBe(true);
    await pendingDrain; // a drain() with no deadline ends when close forces everything out
    pool.release(a); // a no-op after close
    expect(factory.live.size).toBe(0);
    expect(sched.pendingTimers).toBe(0);
  });

  it('reports destroy failures and orphaned create failures through onError, not as throws', async () => {
    const errors: unknown[] = [];
    const sched = new ManualScheduler();
    let fail = false;
    const pool = new ConnectionPool<{ n: number }>(
      {
        create: () => (fail ? Promise.reject(new Error('refused')) : Promise.resolve({ n: 1 })),
        destroy: () => {
          throw new Error('destroy blew up');
        },
      },
      { scheduler: sched, min: 1 },
    );
    const sub = pool.onError((e) => errors.push(e));
    await flush();
    const r = await pool.acquire();
    expect(() => {
      pool.destroy(r);
    }).not.toThrow();
    fail = true;
    await sched.advance(1000); // the maintenance tick tries to warm min = 1 and fails with no waiter to tell
    expect(errors.map((e) => (isPoolError(e) ? e.code : (e as Error).message))).toEqual(['destroy blew up', 'CREATE_FAILED']);
    sub[Symbol.dispose]();
    await pool.close();
  });

  it('rejects bad options with INVALID_OPTION naming the field', () => {
    const f = new FakeFactory();
    const field = (o: PoolOptions): string | undefined => {
      try {
        new ConnectionPool(f, o);
      } catch (e) {
        return isPoolError(e) && e.code === 'INVALID_OPTION' ? (e as unknown as { field: string }).field : 'other';
      }
      return undefined;
    };
    expect(field({ max: 2, min: 3 })).toBe('min');
    expect(field({ max: 0 })).toBe('max');
    expect(field({ acquireTimeoutMs: -1 })).toBe('acquireTimeoutMs');
    expect(field({ idleTimeoutMs: -5 })).toBe('idleTimeoutMs');
    expect(field({ createTimeoutMs: 0 })).toBe('createTimeoutMs');
    expect(field({ maxWaiters: 1.5 })).toBe('maxWaiters');
    expect(field({ max: 3, min: 1 })).toBeUndefined();
  });

  it('rejects a negative per-call timeout', async () => {
    const { pool } = setup({ max: 1 });
    const a = await pool.acquire();
    const e = await pool.acquire({ timeoutMs: -1 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INVALID_OPTION', field: 'timeoutMs' });
    pool.release(a);
    await pool.close();
  });
});
