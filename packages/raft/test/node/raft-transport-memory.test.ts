import { MemoryNetwork } from '@abi/transport';
import type { MemoryTransport } from '@abi/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { KvNode, KvStateMachine, MemoryRaftStorage, RaftNode, RaftTransport } from '../../src/node/index.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('RaftTransport over the simulated @abi/transport network', () => {
  it('replicates through dropped, duplicated, reordered and delayed frames; survives a leader partition', async () => {
    const net = new MemoryNetwork({ seed: 42 });
    net.setFaults({ drop: 0.03, duplicate: 0.03, reorder: 0.05, delayMs: [0, 4] });
    const ids = ['n1', 'n2', 'n3'];
    const nodes = new Map<string, RaftNode>();
    const sms = new Map<string, KvStateMachine>();
    const rts = new Map<string, RaftTransport>();
    for (const id of ids) {
      const t: MemoryTransport = net.transport(id);
      await t.listen(id);
      const sm = new KvStateMachine();
      const rt = new RaftTransport({ id, transport: t, peers: Object.fromEntries(ids.filter((x) => x !== id).map((x) => [x, x])) });
      const node = await RaftNode.start({ id, storage: new MemoryRaftStorage(), stateMachine: sm, bootstrap: ids, network: rt });
      rt.bind(node);
      nodes.set(id, node);
      sms.set(id, sm);
      rts.set(id, rt);
      cleanup.push(async () => {
        await rt.close();
        await node.close();
        await t.close();
      });
    }
    const leaderNow = async (exclude?: string): Promise<RaftNode> => {
      for (;;) {
        const l = [...nodes.values()].find((n) => n.isLeader && n.id !== exclude);
        if (l !== undefined) return l;
        await sleep(10);
      }
    };
    const first = await leaderNow();
    const kv = (n: RaftNode): KvNode => new KvNode(n, sms.get(n.id)!);
    for (let i = 0; i < 30; i++) await kv(first).put(`k${i}`, i, { signal: AbortSignal.timeout(10_000) });
    // cut the leader off; a new one takes over and has every acknowledged write
    net.partition(first.id, ids.filter((x) => x !== first.id));
    const second = await leaderNow(first.id);
    for (let i = 0; i < 30; i++) expect(await kv(second).get(`k${i}`, { signal: AbortSignal.timeout(10_000) })).toBe(i);
    await kv(second).put('after', 'yes', { signal: AbortSignal.timeout(10_000) });
    net.heal();
    // the old leader rejoins (its transport reconnects) and catches up
    expect(await kv(first).get('after', { signal: AbortSignal.timeout(10_000) })).toBe('yes');
    expect(net.stats.dropped + net.stats.duplicated + net.stats.reordered).toBeGreaterThan(0);
    const sent = [...rts.values()].flatMap((r) => r.stats()).reduce((a, s) => a + s.sent, 0);
    expect(sent).toBeGreaterThan(0);
  }, 60_000);
});
