import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TcpTransport } from '@abi/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { RAFT_METHOD, startKvServer } from '../../src/node/index.js';
import type { KvReply, KvServer } from '../../src/node/index.js';
import { freePorts } from './ports.js';

const open: (KvServer | TcpTransport)[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('RaftTransport over TCP (@abi/transport)', () => {
  it('3 nodes on 127.0.0.1 elect, replicate, and a node that missed compacted entries catches up by snapshot stream', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'raft-tcp-'));
    dirs.push(base);
    const ports = await freePorts(3);
    const ids = ['n1', 'n2', 'n3'];
    const addr = (i: number): string => `127.0.0.1:${ports[i]!}`;
    const start = (i: number): Promise<KvServer> =>
      startKvServer({
        id: ids[i]!,
        listen: addr(i),
        peers: Object.fromEntries(ids.map((id, j) => [id, addr(j)] as const).filter(([id]) => id !== ids[i])),
        dataDir: path.join(base, ids[i]!),
        snapshotEvery: 40,
        snapshotTrailing: 5,
        core: { maxSnapshotChunkBytes: 256 },
      });
    const servers = await Promise.all([0, 1, 2].map(start));
    open.push(...servers);
    await until(() => servers.some((s) => s.node.isLeader), 'a leader');
    const client = new TcpTransport();
    open.push(client);
    const leaderOf = (): KvServer => servers.find((s) => s.node.isLeader)!;
    const conn = await client.dial(leaderOf().address);
    expect(await conn.request<KvReply>('kv.put', { key: 'a', value: 1 })).toEqual({ ok: true });
    expect(await conn.request<KvReply>('kv.get', { key: 'a' })).toEqual({ ok: true, value: 1 });

    // Take a follower down, write enough for several snapshots + compactions, bring it back.
    const li = servers.indexOf(leaderOf());
    const fi = [0, 1, 2].find((i) => i !== li)!;
    await servers[fi]!.close();
    for (let i = 0; i < 200; i++) {
      const r = await conn.request<KvReply>('kv.put', { key: `k${i % 20}`, value: `${'x'.repeat(50)}${i}` });
      expect(r.ok).toBe(true);
    }
    const leader = leaderOf();
    await until(() => leader.node.storage.firstIndex() > 100, 'compaction on the leader');
    const restarted = await start(fi);
    servers[fi] = restarted;
    open.push(restarted);
    await until(() => restarted.sm.get('k19') === `${'x'.repeat(50)}199`, 'the restarted follower to catch up');
    expect(restarted.node.storage.snapshot().meta.index).toBeGreaterThan(100);
    const m = leader.node.metrics();
    expect(m.peers.find((p) => p.id === ids[fi])!.match).toBeGreaterThan(200);
    const stats = leader.raftTransport.stats();
    expect(stats.find((s) => s.id === ids[fi])!.reconnects).toBeGreaterThan(0);
  }, 60_000);

  it('bad bytes on the raft method are counted and dropped, never crash the node', async () => {
    const ports = await freePorts(1);
    const server = await startKvServer({ id: 'solo', listen: `127.0.0.1:${ports[0]!}`, peers: {} });
    open.push(server);
    const client = new TcpTransport();
    open.push(client);
    const conn = await client.dial(server.address);
    await conn.send(RAFT_METHOD, new Uint8Array([1, 99, 0, 0]));
    await conn.send(RAFT_METHOD, { not: 'bytes' });
    await until(() => server.raftTransport.invalidBatches === 2, 'both batches rejected');
    await until(() => server.node.isLeader, 'single-node leader');
    expect(await conn.request<KvReply>('kv.put', { key: 'k', value: 'v' })).toEqual({ ok: true });
  }, 30_000);
});
