import { MemoryNetwork } from '@abi/transport';
import { describe, expect, it } from 'vitest';
import { Identity, LinkManager, SecureTransport, backoffDelay, registerHeartbeat, type LinkState } from '../src/index.js';

const ida = Identity.fromSeed(new Uint8Array(32).fill(0x41));
const idb = Identity.fromSeed(new Uint8Array(32).fill(0x42));
const idm = Identity.fromSeed(new Uint8Array(32).fill(0x43));

function setup(opts: { bIdentity?: Identity; noHandler?: boolean } = {}) {
  const network = new MemoryNetwork({ seed: 3, clock: 'virtual' });
  const a = new SecureTransport(network.node('a'), { identity: ida, clock: network.clock });
  const b = new SecureTransport(network.node('b'), { identity: opts.bIdentity ?? idb, clock: network.clock });
  if (opts.noHandler !== true) registerHeartbeat(b);
  const manager = new LinkManager({
    transport: a, clock: network.clock, random: () => 0.5,
    heartbeatMs: 100, heartbeatTimeoutMs: 50, missesToDegraded: 1, missesToDown: 3, dialTimeoutMs: 300,
    backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 },
  });
  const states: LinkState[] = [];
  manager.onLinkState((e) => states.push(e.to));
  return { network, a, b, manager, states };
}

describe('LinkManager', () => {
  it('goes connecting → handshaking → up, authenticates the peer and measures RTT with heartbeats (peer without a heartbeat handler)', async () => {
    const { network, a, b, manager, states } = setup({ noHandler: true });
    await b.listen('b');
    network.setFaults({ delayMs: 5 });
    const link = manager.link('b', { peer: idb.nodeId });
    expect(manager.link('b')).toBe(link);
    const conn = await network.run(link.whenUp());
    expect(states).toEqual(['connecting', 'handshaking', 'up']);
    expect(link.peer?.nodeId).toBe(idb.nodeId);
    expect(conn.remoteIdentity).toBe(idb.nodeId);
    const rtts: number[] = [];
    link.onRtt((r) => rtts.push(r));
    await network.runFor(350);
    expect(rtts.length).toBeGreaterThanOrEqual(3);
    for (const r of rtts) expect(r).toBe(10);
    expect(link.smoothedRtt).toBe(10);
    expect(link.state).toBe('up');
    await manager.close();
    expect(link.state).toBe('down');
    await a.close();
    await b.close();
  });

  it('missed heartbeats degrade, then take the link down; it reconnects with back-off after the partition heals', async () => {
    const { network, a, b, manager, states } = setup();
    await b.listen('b');
    const link = manager.link('b', { peer: idb.nodeId });
    await network.run(link.whenUp());
    states.length = 0;
    network.partition('a', 'b');
    await network.runFor(150 + 50);
    expect(link.state).toBe('degraded');
    await network.runFor(400);
    expect(states.slice(0, 2)).toEqual(['degraded', 'down']);
    const failuresBefore = link.stats.failures;
    await network.runFor(2000);
    expect(link.stats.failures).toBeGreaterThan(failuresBefore);
    expect(link.state).not.toBe('up');
    network.heal();
    await network.run(link.whenUp(), { maxMs: 5000 });
    expect(link.state).toBe('up');
    expect(link.stats.connects).toBe(2);
    await manager.close();
    await a.close();
    await b.close();
  });

  it('a peer with the wrong identity never comes up: down with PEER_NOT_ALLOWED, retried with back-off', async () => {
    const { network, a, b, manager } = setup({ bIdentity: idm });
    await b.listen('b');
    const link = manager.link('b', { peer: idb.nodeId });
    const reasons: (string | undefined)[] = [];
    link.onStateChange((e) => { if (e.to === 'down') reasons.push(e.reason?.code); });
    await network.runFor(1000);
    expect(link.state).not.toBe('up');
    expect(reasons.length).toBeGreaterThanOrEqual(3);
    expect(reasons[0]).toBe('PEER_NOT_ALLOWED');
    const closing = link.whenUp();
    await link.close();
    await expect(closing).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(link.whenUp()).rejects.toMatchObject({ code: 'CLOSED' });
    await manager.close();
    await a.close();
    await b.close();
  });

  it('whenUp honours its AbortSignal', async () => {
    const { manager, a, b } = setup();
    const link = manager.link('nowhere');
    const ac = new AbortController();
    const p = link.whenUp({ signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    await manager.close();
    await a.close();
    await b.close();
  });

  it('backoffDelay grows by the factor, is capped, and jitters downward only', () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, o, 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(2, o, 0.999)).toBeCloseTo(100.1, 0);
    expect(backoffDelay(1, {}, 0)).toBe(100);
  });
});

describe('LinkManager RTT threshold', () => {
  it('marks a link degraded when its RTT exceeds degradedRttMs, and up again when it recovers', async () => {
    const network = new MemoryNetwork({ seed: 5, clock: 'virtual' });
    const a = new SecureTransport(network.node('a'), { identity: ida, clock: network.clock });
    const b = new SecureTransport(network.node('b'), { identity: idb, clock: network.clock });
    await b.listen('b');
    const manager = new LinkManager({ transport: a, clock: network.clock, random: () => 0, heartbeatMs: 100, heartbeatTimeoutMs: 500, degradedRttMs: 30 });
    const link = manager.link('b', { peer: idb.nodeId });
    await network.run(link.whenUp());
    network.setFaults({ delayMs: 20 });
    await network.runFor(400);
    expect(link.state).toBe('degraded');
    expect(link.rtt).toBe(40);
    network.setFaults({ delayMs: 1 });
    await network.runFor(400);
    expect(link.state).toBe('up');
    await manager.close();
    await a.close();
    await b.close();
  });
});
