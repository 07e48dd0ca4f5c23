import { describe, expect, it } from 'vitest';
import { KeyedPool, PoolBuilder, isPoolError, type KeyedFactory } from './index.js';
import { ManualScheduler, flush } from '../test/manual-scheduler.js';

interface Conn {
  readonly key: string;
  readonly id: number;
  destroyed: boolean;
}

class Factory implements KeyedFactory<string, Conn> {
  seq = 0;
  readonly live = new Set<Conn>();
  create(key: string): Promise<Conn> {
    const c = { key, id: ++this.seq, destroyed: false };
    this.live.add(c);
    return Promise.resolve(c);
  }
  destroy(c: Conn): void {
    c.destroyed = true;
    this.live.delete(c);
  }
  count(key: string): number {
    return [...this.live].filter((c) => c.key === key).length;
  }
}

function setup(o: { maxPerKey?: number; maxTotal?: number; idleTimeoutMs?: number } = {}) {
  const sched = new ManualScheduler();
  const f = new Factory();
  const pool = new KeyedPool<string, Conn>(f, { scheduler: sched, healthCheckIntervalMs: Infinity, ...o });
  return { sched, f, pool };
}

describe('KeyedPool', () => {
  it('keeps one pool per key with its own per-key cap', async () => {
    const { pool, f } = setup({ maxPerKey: 2 });
    const a1 = await pool.acquire('a');
    const a2 = await pool.acquire('a');
    let third: Conn | undefined;
    void pool.acquire('a').then((c) => (third = c));
    const b1 = await pool.acquire('b');
    await flush();
    expect(third).toBeUndefined();
    expect(f.count('a')).toBe(2);
    expect(b1.key).toBe('b');
    pool.release(a1);
    await flush();
    expect(third).toBe(a1);
    expect(pool.keyStats('a')).toMatchObject({ size: 2, borrowed: 2 });
    pool.release(a2);
    pool.release(third!);
    pool.release(b1);
    expect(pool.stats()).toMatchObject({ keys: 2, size: 3, idle: 3, borrowed: 0 });
    await pool.close();
    expect(f.live.size).toBe(0);
  });

  it('closes idle resources of the least recently used key to stay under the global cap', async () => {
    const { pool, f } = setup({ maxPerKey: 3, maxTotal: 3 });
    const as = await Promise.all([pool.acquire('a'), pool.acquire('a')]);
    const c = await pool.acquire('c');
    for (const x of as) pool.release(x);
    pool.release(c);
    // 'a' is now the least recently used key: 'b' takes its idle slots first
    const bs = await Promise.all([pool.acquire('b'), pool.acquire('b')]);
    expect(bs.map((x) => x.key)).toEqual(['b', 'b']);
    expect(f.count('a')).toBe(0);
    expect(f.count('c')).toBe(1);
    expect(pool.stats()).toMatchObject({ size: 3, evictedForOtherKeys: 2 });
    await flush();
    expect(pool.keys()).toEqual(['c', 'b']); // 'a' held nothing and was dropped
    for (const x of bs) pool.release(x);
    await pool.close();
  });

  it('waits for a global slot when nothing is idle, then gets one as soon as any key frees one', async () => {
    const { pool, f } = setup({ maxPerKey: 5, maxTotal: 2 });
    const a1 = await pool.acquire('a');
    const a2 = await pool.acquire('a');
    let got: Conn | undefined;
    void pool.acquire('b').then((c) => (got = c));
    await flush();
    expect(got).toBeUndefined();
    expect(pool.stats()).toMatchObject({ size: 2, pending: 1 });
    pool.release(a1);
    await flush();
    expect(got?.key).toBe('b');
    expect(a1.destroyed).toBe(true);
    expect(f.live.size).toBe(2);
    pool.destroy(a2);
    pool.release(got!);
    await pool.close();
    expect(f.live.size).toBe(0);
  });

  it('drops keys whose resources all timed out idle', async () => {
    const { pool, sched } = setup({ idleTimeoutMs: 1000 });
    pool.release(await pool.acquire('a'));
    pool.release(await pool.acquire('b'));
    expect(pool.keys()).toEqual(['a', 'b']);
    await sched.advance(3000);
    expect(pool.keys()).toEqual([]);
    expect(pool.stats().size).toBe(0);
    await pool.close();
    expect(sched.pendingTimers).toBe(0);
  });

  it('drain waits for every key, then close destroys everything', async () => {
    const { pool, f } = setup();
    const a = await pool.acquire('a');
    const b = await pool.acquire('b');
    let drained = false;
    const d = pool.drain().then(() => (drained = true));
    await expect(pool.acquire('c')).rejects.toMatchObject({ code: 'POOL_CLOSED' });
    pool.release(a);
    await flush();
    expect(drained).toBe(false);
    pool.release(b);
    await d;
    await pool.close();
    expect(f.live.size).toBe(0);
  });

  it('rejects foreign values, bad caps and use after close with typed errors', async () => {
    const { pool } = setup();
    expect(() => {
      pool.release({ key: 'x', id: 0, destroyed: false });
    }).toThrow(expect.objectContaining({ code: 'NOT_BORROWED' }));
    const f = new Factory();
    const field = (o: object): string | undefined => {
      try {
        new KeyedPool(f, o);
      } catch (e) {
        return isPoolError(e) ? (e as unknown as { field: string }).field : 'other';
      }
      return undefined;
    };
    expect(field({ maxPerKey: 0 })).toBe('maxPerKey');
    expect(field({ maxTotal: -1 })).toBe('maxTotal');
    expect(field({ minPerKey: 3, maxPerKey: 2 })).toBe('minPerKey');
    expect(field({ idleTimeoutMs: -1 })).toBe('idleTimeoutMs');
    await pool.close();
    await expect(pool.acquire('a')).rejects.toMatchObject({ code: 'POOL_CLOSED' });
  });
});

describe('PoolBuilder', () => {
  it('builds pools with the fluent options and checks them', async () => {
    const sched = new ManualScheduler();
    const b = new PoolBuilder({ create: () => Promise.resolve({ n: 1 }), destroy: () => undefined })
      .max(3)
      .min(1)
      .maxWaiters(5)
      .acquireTimeout(100)
      .idleTimeout(1000)
      .maxLifetime(5000)
      .testOnBorrow()
      .scheduler(sched);
    expect(b.options()).toMatchObject({ max: 3, min: 1, maxWaiters: 5, acquireTimeoutMs: 100, idleTimeoutMs: 1000, maxLifetimeMs: 5000, testOnBorrow: true });
    const pool = b.build();
    await flush();
    expect(pool.stats()).toMatchObject({ max: 3, min: 1, idle: 1 });
    await pool.close();
    expect(() => new PoolBuilder().max(1).min(2).build({ create: () => Promise.resolve(1), destroy: () => undefined })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', field: 'min' }),
    );
    expect(() => new PoolBuilder().build()).toThrow(expect.objectContaining({ field: 'factory' }));
    const keyed = new PoolBuilder<Conn>().maxPerKey(2).maxTotal(3).scheduler(sched).buildKeyed(new Factory());
    expect(keyed.stats()).toMatchObject({ maxPerKey: 2, maxTotal: 3 });
    await keyed.close();
  });
});
