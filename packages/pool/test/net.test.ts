import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionPool, KeyedPool, isPoolError, type PoolFactory } from '../src/index.js';
import { EchoServer, netFactory, request, type Conn } from '../examples/net-factory.js';

/** Wraps a factory to remember every connection it made. */
function tracked(f: PoolFactory<Conn>): { factory: PoolFactory<Conn>; made: Conn[] } {
  const made: Conn[] = [];
  return {
    made,
    factory: {
      create: async (signal) => {
        const c = await f.create(signal);
        made.push(c);
        return c;
      },
      destroy: (c) => f.destroy(c),
      validate: (c, s) => f.validate?.(c, s) ?? true,
    },
  };
}

async function deadAll(conns: readonly Conn[]): Promise<void> {
  await Promise.all(conns.map((c) => (c.dead ? Promise.resolve() : once(c.socket, 'close').then(() => undefined))));
}

const servers: EchoServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.kill();
});

describe('pooling node:net connections to a loopback server', () => {
  it('shares a few real connections among many concurrent requests', async () => {
    const server = new EchoServer();
    servers.push(server);
    const port = await server.start();
    const { factory, made } = tracked(netFactory('127.0.0.1', port));
    await using pool = new ConnectionPool(factory, { max: 3, acquireTimeoutMs: 5_000 });
    const replies = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        await using lease = await pool.lease();
        return await request(lease.resource, `msg ${i}`);
      }),
    );
    expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => `msg ${i}`));
    expect(made.length).toBeLessThanOrEqual(3);
    expect(server.accepted).toBe(made.length);
    const uses = pool.resources().reduce((s, r) => s + r.uses, 0);
    expect(uses).toBe(50);
    await pool.close();
    expect(made.every((c) => c.socket.destroyed)).toBe(true);
  });

  it('survives the server going away and coming back', async () => {
    const server = new EchoServer();
    servers.push(server);
    const port = await server.start();
    const { factory, made } = tracked(netFactory('127.0.0.1', port));
    const pool = new ConnectionPool(factory, { max: 2, testOnBorrow: true, acquireTimeoutMs: 5_000 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(await request(a, 'x')).toBe('x');
    pool.release(b);

    await server.kill();
    await deadAll(made);

    // the borrowed connection is broken: the request fails, the holder destroys it
    await expect(request(a, 'y')).rejects.toThrow('connection closed');
    pool.destroy(a);
    // the idle one fails test-on-borrow; its replacement cannot connect: a typed error, with the cause
    const err = await pool.acquire().catch((e: unknown) => e);
    expect(isPoolError(err) && err.code).toBe('CREATE_FAILED');
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(pool.stats()).toMatchObject({ size: 0, borrowed: 0, createFailures: 1, validationFailures: 1 });

    // not poisoned: once the server is back, the next acquire connects
    await server.start(port);
    const c = await pool.acquire();
    expect(await request(c, 'back')).toBe('back');
    pool.release(c);
    await pool.close();
    expect(made.every((x) => x.socket.destroyed)).toBe(true);
  });

  it('a keyed pool isolates endpoints: one server dying does not affect the other key', async () => {
    const s1 = new EchoServer();
    const s2 = new EchoServer();
    servers.push(s1, s2);
    const p1 = await s1.start();
    const p2 = await s2.start();
    const base = new Map([p1, p2].map((p) => [p, netFactory('127.0.0.1', p)]));
    const all: Conn[] = [];
    const pool = new KeyedPool<number, Conn>(
      {
        create: async (port, signal) => {
          const c = await base.get(port)!.create(signal);
          all.push(c);
          return c;
        },
        destroy: (c) => {
          c.socket.destroy();
        },
        validate: (c) => !c.dead,
      },
      { maxPerKey: 2, maxTotal: 3, testOnBorrow: true },
    );
    const x = await pool.acquire(p1);
    const y = await pool.acquire(p2);
    expect(await request(x, '1')).toBe('1');
    expect(await request(y, '2')).toBe('2');
    pool.release(x);
    pool.release(y);
    await s1.kill();
    await deadAll(all.filter((c) => c.socket.remotePort === p1));
    await expect(pool.acquire(p1)).rejects.toMatchObject({ code: 'CREATE_FAILED' });
    const z = await pool.acquire(p2);
    expect(z).toBe(y);
    expect(await request(z, '3')).toBe('3');
    pool.release(z);
    await pool.close();
    expect(all.every((c) => c.socket.destroyed)).toBe(true);
  });
});
