import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isRaftError } from '../../src/index.js';
import { FileStorage, KvNode, KvStateMachine, createRaftCluster } from '../../src/node/index.js';
import type { RaftCluster } from '../../src/node/index.js';

const open: RaftCluster[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function kvCluster(ids: string[], file = false): Promise<{ cluster: RaftCluster; sms: Map<string, KvStateMachine>; kv: (id: string) => KvNode }> {
  const sms = new Map<string, KvStateMachine>();
  const base = file ? mkdtempSync(path.join(tmpdir(), 'raft-cluster-')) : '';
  if (file) dirs.push(base);
  const cluster = await createRaftCluster({
    ids,
    stateMachine: (id) => {
      const sm = new KvStateMachine();
      sms.set(id, sm);
      return sm;
    },
    ...(file ? { storage: (id: string) => FileStorage.open(path.join(base, id)) } : {}),
    snapshotEvery: 50,
    snapshotTrailing: 10,
  });
  open.push(cluster);
  return { cluster, sms, kv: (id) => new KvNode(cluster.node(id), sms.get(id)!) };
}

describe('createRaftCluster + KV example', () => {
  it('elects one leader, replicates put/cas, and reads are linearizable on every node', async () => {
    const { cluster, kv } = await kvCluster(['a', 'b', 'c']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const l = kv(leader.id);
    await l.put('x', 1);
    expect(await l.cas('x', 1, 2)).toEqual({ ok: true });
    expect(await l.cas('x', 1, 3)).toEqual({ ok: false, error: 'mismatch', current: 2 });
    expect(await l.cas('nope', 1, 3)).toEqual({ ok: false, error: 'missing' });
    for (const id of ['a', 'b', 'c']) expect(await kv(id).get('x')).toBe(2);
    const follower = ['a', 'b', 'c'].find((id) => id !== leader.id)!;
    const err = await kv(follower).put('y', 1).catch((e: unknown) => e);
    expect(isRaftError(err) && err.code).toBe('not-leader');
    const m = leader.metrics();
    expect(m.role).toBe('leader');
    expect(m.peers.map((p) => p.id).sort()).toEqual(['a', 'b', 'c'].filter((id) => id !== leader.id).sort());
    expect(m.commit).toBeGreaterThanOrEqual(3);
  });

  it('an isolated leader is replaced; the new leader keeps every acknowledged write', async () => {
    const { cluster, kv } = await kvCluster(['a', 'b', 'c']);
    const first = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    for (let i = 0; i < 20; i++) await kv(first.id).put(`k${i}`, i);
    const roles: string[] = [];
    first.onRoleChange((r) => roles.push(r));
    cluster.network.isolate(first.id);
    let second = cluster.leader();
    while (second === undefined || second.id === first.id) {
      await new Promise((r) => setTimeout(r, 20));
      second = [...cluster.nodes.values()].find((n) => n.isLeader && n.id !== first.id);
    }
    for (let i = 0; i < 20; i++) expect(await kv(second.id).get(`k${i}`)).toBe(i);
    await kv(second.id).put('after', true);
    cluster.network.heal();
    // the old leader steps down (check-quorum) and catches up
    expect(await kv(first.id).get('after')).toBe(true);
    expect(roles).toContain('follower');
  });

  it('a proposal abandoned through its AbortSignal rejects with code aborted', async () => {
    const { cluster, kv } = await kvCluster(['a', 'b', 'c']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    cluster.network.isolate(leader.id); // cannot commit now
    const ac = new AbortController();
    const p = kv(leader.id).put('z', 1, { signal: ac.signal });
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(isRaftError(err) && err.code).toBe('aborted');
    // an already-aborted signal throws its reason, as every wait in the repo does
    const pre = await kv(leader.id).put('z', 1, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((pre as Error).name).toBe('AbortError');
  });

  it('with FileStorage: snapshots + compaction happen, and a restarted cluster recovers its state', async () => {
    const { cluster, kv, sms } = await kvCluster(['a', 'b', 'c'], true);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) ps.push(kv(leader.id).put(`k${i % 37}`, i));
    await Promise.all(ps);
    // snapshots and compaction follow the applies asynchronously in the ready loop
    while (leader.storage.snapshot().meta.index === 0) await new Promise((r) => setTimeout(r, 5));
    // compaction follows the snapshot asynchronously in the ready loop
    while (leader.storage.firstIndex() === 1) await new Promise((r) => setTimeout(r, 5));
    expect(leader.storage.firstIndex()).toBeGreaterThan(1);
    const before = sms.get(leader.id)!.snapshot();
    const base = dirs[0]!;
    await cluster.close();
    open.splice(0);
    const sms2 = new Map<string, KvStateMachine>();
    const again = await createRaftCluster({
      ids: ['a', 'b', 'c'],
      stateMachine: (id) => {
        const sm = new KvStateMachine();
        sms2.set(id, sm);
        return sm;
      },
      storage: (id) => FileStorage.open(path.join(base, id)),
    });
    open.push(again);
    const l2 = await again.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const kv2 = new KvNode(l2, sms2.get(l2.id)!);
    expect(await kv2.get('k0')).toBe(185);
    expect(Buffer.from(sms2.get(l2.id)!.snapshot()).equals(Buffer.from(before))).toBe(true);
  });

  it('malformed or out-of-range inbound messages are rejected with typed errors, counted, and change nothing', async () => {
    const { cluster, kv } = await kvCluster(['a', 'b', 'c']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    await kv(leader.id).put('k', 1);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    const before = follower.metrics();
    const lbefore = leader.metrics();
    const term = before.term;
    // a response from a node that is not a member, to the leader
    leader.step({ type: 'app-resp', from: 'intruder', to: leader.id, term, reject: false, index: 1_000_000, hintIndex: 0, hintTerm: 0 });
    // an impossible index, and a message addressed to another node
    follower.step({ type: 'app', from: leader.id, to: follower.id, term, prevIndex: -1, prevTerm: 0, commit: 0, entries: [] });
    follower.step({ type: 'heartbeat', from: leader.id, to: 'someone-else', term, commit: 1, context: '' });
    const after = follower.metrics();
    const lafter = leader.metrics();
    expect(lafter.invalidMessages - lbefore.invalidMessages).toBe(1);
    expect(lafter.commit).toBe(lbefore.commit);
    expect(after.invalidMessages - before.invalidMessages).toBe(2);
    expect(after.term).toBe(term);
    expect(after.commit).toBeGreaterThanOrEqual(before.commit);
    expect(await kv(follower.id).get('k')).toBe(1);
  });

  it('leadership transfer: the target becomes leader and serves writes; acknowledged data stays', async () => {
    const { cluster, kv } = await kvCluster(['a', 'b', 'c']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    await kv(leader.id).put('t', 1);
    const target = ['a', 'b', 'c'].find((id) => id !== leader.id)!;
    const changes: (string | null)[] = [];
    cluster.node(target).onLeaderChange((l) => changes.push(l));
    leader.transferLeadership(target);
    while (!cluster.node(target).isLeader) await new Promise((r) => setTimeout(r, 10));
    expect(changes).toContain(target);
    await kv(target).put('t', 2);
    expect(await kv(leader.id).get('t')).toBe(2);
    expect(cluster.node(target).metrics().peers.map((p) => p.id).sort()).toEqual(['a', 'b', 'c'].filter((id) => id !== target).sort());
  });

  it('membership through the driver: add a learner, promote it once caught up, remove a voter', async () => {
    const { cluster, kv, sms } = await kvCluster(['a', 'b', 'c']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    for (let i = 0; i < 20; i++) await kv(leader.id).put(`m${i}`, i);
    const smD = new KvStateMachine();
    sms.set('d', smD);
    await cluster.startNode('d', { stateMachine: smD });
    await leader.addLearner('d', { signal: AbortSignal.timeout(10_000) });
    expect(leader.membership.learners).toContain('d');
    for (;;) {
      try {
        await leader.addVoter('d', { signal: AbortSignal.timeout(10_000) });
        break;
      } catch (e) {
        if (!(isRaftError(e) && (e.code === 'invalid-conf-change' || e.code === 'conf-change-pending'))) throw e;
        await new Promise((r) => setTimeout(r, 20)); // not caught up yet
      }
    }
    expect(leader.membership.voters).toContain('d');
    const victim = ['a', 'b', 'c'].find((id) => id !== leader.id)!;
    await leader.removeNode(victim, { signal: AbortSignal.timeout(10_000) });
    expect(leader.membership.voters).not.toContain(victim);
    await cluster.stopNode(victim);
    await kv(leader.id).put('m0', 'new');
    expect(await kv('d').get('m19')).toBe(19);
    expect(await kv('d').get('m0')).toBe('new');
    const err = await leader.addVoter('zzz').catch((e: unknown) => e);
    expect(isRaftError(err) && err.code).toBe('invalid-conf-change');
  });
});

