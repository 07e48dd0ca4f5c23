import { describe, expect, it } from 'vitest';
import { isTransportError, MemoryNetwork, VirtualClock } from '../src/index.js';
import type { Connection, MemoryTransport } from '../src/index.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    if (isTransportError(e)) return e.code;
    throw e;
  }
}

interface Sim {
  net: MemoryNetwork;
  a: MemoryTransport;
  b: MemoryTransport;
  conn: Connection;
  inbound: () => Connection;
}

/** Two nodes `a` and `b` on a virtual-time network; `a` dials `b`. */
async function sim(seed: number, init: Parameters<MemoryNetwork['transport']>[1] = {}): Promise<Sim> {
  const net = new MemoryNetwork({ seed, clock: 'virtual' });
  const a = net.transport('a', init);
  const b = net.transport('b', init);
  let inbound: Connection | undefined;
  b.onConnection((c) => (inbound = c));
  await b.listen('b');
  const conn = await net.run(a.dial('b'));
  await net.runFor(1);
  return {
    net,
    a,
    b,
    conn,
    inbound: () => {
      if (inbound === undefined) throw new Error('no inbound connection');
      return inbound;
    },
  };
}

describe('simulation - virtual time', () => {
  it('a deadline fires in virtual time, not wall time', async () => {
    const s = await sim(1);
    s.b.handle('hang', () => new Promise(() => undefined));
    const t0 = s.net.clock.now();
    const wall = Date.now();
    expect(await codeOf(s.net.run(s.conn.request('hang', 1, { deadlineMs: 60_000 })))).toBe('DEADLINE_EXCEEDED');
    expect(s.net.clock.now() - t0).toBeGreaterThanOrEqual(60_000);
    expect(Date.now() - wall).toBeLessThan(30_000);
  });

  it('delay applies per link: a request takes two one-way delays', async () => {
    const s = await sim(2);
    s.b.handle('echo', (p) => p);
    s.net.setFaults({ delayMs: 25 });
    const t0 = s.net.clock.now();
    expect(await s.net.run(s.conn.request('echo', 5))).toBe(5);
    expect(s.net.clock.now() - t0).toBe(50);
  });

  it('the virtual clock orders timers by time, then by creation', () => {
    const c = new VirtualClock();
    const log: string[] = [];
    c.setTimeout(() => log.push('b'), 10);
    c.setTimeout(() => log.push('a'), 5);
    c.setTimeout(() => log.push('c'), 10);
    const h = c.setTimeout(() => log.push('x'), 7);
    c.clearTimeout(h);
    c.advance(20);
    expect(log).toEqual(['a', 'b', 'c']);
    expect(c.now()).toBe(20);
  });
});

describe('simulation - partitions', () => {
  it('a partition is detected by keep-alive; pending calls fail; heal lets a new dial through', async () => {
    const s = await sim(3, { keepAliveMs: 1000, keepAliveTimeoutMs: 1000 });
    s.b.handle('echo', (p) => p);
    s.net.partition('a', 'b');
    const pending = codeOf(s.conn.request('echo', 1));
    const reason = await s.net.run(s.conn.closed);
    expect(reason?.code).toBe('PEER_TIMEOUT');
    expect(await pending).toBe('CONNECTION_LOST');
    // While partitioned, a dial cannot complete.
    expect(await codeOf(s.net.run(s.a.dial('b', { timeoutMs: 500 })))).toBe('CONNECT_TIMEOUT');
    s.net.heal();
    const again = await s.net.run(s.a.dial('b'));
    expect(await s.net.run(again.request('echo', 2))).toBe(2);
  });

  it('a one-way partition loses a → b while b → a still flows', async () => {
    const s = await sim(4, { keepAliveMs: 0 });
    const atA: unknown[] = [];
    const atB: unknown[] = [];
    s.a.handle('note', (p) => void atA.push(p));
    s.b.handle('note', (p) => void atB.push(p));
    s.net.partitionOneWay('a', 'b');
    await s.conn.send('note', 'lost');
    await s.inbound().send('note', 'arrives');
    await s.net.runFor(100);
    expect(atB).toEqual([]);
    expect(atA).toEqual(['arrives']);
    s.net.heal();
    await s.conn.send('note', 'after heal');
    await s.net.runFor(100);
    expect(atB).toEqual(['after heal']);
  });
});

describe('simulation - faults', () => {
  it('drop: some calls time out, the rest complete, stats count the drops', async () => {
    const s = await sim(5, { keepAliveMs: 0 });
    s.b.handle('echo', (p) => p);
    s.net.setFaults({ drop: 0.3, delayMs: [1, 5] });
    // Requests spaced in time: frames written in one tick share one packet (one write).
    const calls: Promise<string>[] = [];
    for (let i = 0; i < 50; i++) {
      calls.push(codeOf(s.conn.request('echo', i, { deadlineMs: 1000 })));
      await s.net.runFor(2);
    }
    const codes = await s.net.run(Promise.all(calls));
    expect(codes.filter((c) => c === 'resolved').length).toBeGreaterThan(10);
    expect(codes.filter((c) => c === 'DEADLINE_EXCEEDED').length).toBeGreaterThan(0);
    expect(codes.every((c) => c === 'resolved' || c === 'DEADLINE_EXCEEDED')).toBe(true);
    expect(s.net.stats.dropped).toBeGreaterThan(0);
  });

  it('duplicate: one-way messages may arrive twice; requests are served once per id', async () => {
    const s = await sim(6, { keepAliveMs: 0 });
    const got: number[] = [];
    let served = 0;
    s.b.handle('note', (p) => void got.push(p as number));
    s.b.handle('echo', (p) => {
      served++;
      return p;
    });
    s.net.setFaults({ duplicate: 0.5 });
    for (let i = 0; i < 40; i++) await s.conn.send('note', i);
    await s.net.runFor(100);
    expect(got.length).toBeGreaterThan(40);
    expect(new Set(got).size).toBe(40);
    const results = await s.net.run(Promise.all(Array.from({ length: 20 }, (_, i) => s.conn.request('echo', i))));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(served).toBe(20);
  });

  it('reorder: one-way messages can overtake each other', async () => {
    const s = await sim(7, { keepAliveMs: 0 });
    const got: number[] = [];
    s.b.handle('note', (p) => void got.push(p as number));
    s.net.setFaults({ reorder: 0.3, delayMs: 1 });
    for (let i = 0; i < 60; i++) {
      await s.conn.send('note', i);
      await s.net.runFor(0.5);
    }
    await s.net.runFor(1000);
    expect(got.length).toBe(60);
    expect(got).not.toEqual([...got].sort((x, y) => x - y));
    expect(s.net.stats.reordered).toBeGreaterThan(0);
  });

  it('faults can target one direction of one link', async () => {
    const s = await sim(8, { keepAliveMs: 0 });
    const atB: unknown[] = [];
    s.b.handle('note', (p) => void atB.push(p));
    s.net.setFaults({ drop: 1 }, { from: 'a', to: 'b' });
    await s.conn.send('note', 1);
    await s.net.runFor(10);
    expect(atB).toEqual([]);
    s.net.setFaults({}, { from: 'a', to: 'b' });
    await s.conn.send('note', 2);
    await s.net.runFor(10);
    expect(atB).toEqual([2]);
  });
});

describe('simulation - replay', () => {
  async function scenario(seed: number): Promise<{ trace: string[]; codes: string[]; at: number }> {
    const s = await sim(seed, { keepAliveMs: 500, keepAliveTimeoutMs: 500 });
    s.b.handle('echo', async (p) => p);
    s.net.setFaults({ drop: 0.1, duplicate: 0.1, reorder: 0.1, delayMs: [1, 20] });
    const calls: Promise<string>[] = [];
    for (let i = 0; i < 30; i++) {
      calls.push(codeOf(s.conn.request('echo', i, { deadlineMs: 200 })));
      await s.net.runFor(3);
    }
    const codes = await s.net.run(Promise.all(calls));
    return { trace: [...s.net.trace], codes, at: s.net.clock.now() };
  }

  it('the same seed replays the same run exactly; another seed differs', async () => {
    const seed = Number(process.env.SIM_SEED ?? 42);
    const one = await scenario(seed);
    const two = await scenario(seed);
    const other = await scenario(seed + 1);
    expect(two, `replay of seed ${seed}`).toEqual(one);
    expect(other.trace).not.toEqual(one.trace);
    expect(one.trace.length).toBeGreaterThan(30);
  });
});
