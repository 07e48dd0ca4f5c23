import { afterEach, describe, expect, it } from 'vitest';
import type { ConfState, Entry, HardState, InitialState, Snapshot } from '../../src/index.js';
import { RaftError, isRaftError } from '../../src/index.js';
import { KvNode, KvStateMachine, MemoryRaftStorage, createRaftCluster } from '../../src/node/index.js';
import type { RaftCluster, RaftStorage, StorageUpdate } from '../../src/node/index.js';

/** A storage whose writes can be held back (an fsync that has not returned) or made to fail. */
class GatedStorage implements RaftStorage {
  readonly inner = new MemoryRaftStorage();
  held = false;
  failing = false;
  saves = 0;
  #waiting: (() => void)[] = [];

  release(): void {
    this.held = false;
    for (const w of this.#waiting.splice(0)) w();
  }

  async save(u: StorageUpdate): Promise<void> {
    if (this.failing) throw new RaftError('io', 'EIO (injected)');
    const p = this.inner.save(u);
    this.saves++;
    if (this.held) await new Promise<void>((r) => this.#waiting.push(r));
    await p;
  }
  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries });
  }
  setHardState(hs: HardState): Promise<void> {
    return this.save({ hardState: hs });
  }
  applySnapshot(snap: Snapshot): Promise<void> {
    return this.save({ snapshot: snap });
  }
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.inner.createSnapshot(index, conf, data);
  }
  compact(index: number): Promise<void> {
    return this.inner.compact(index);
  }
  get hardState(): HardState {
    return this.inner.hardState;
  }
  initialState(): InitialState {
    return this.inner.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.inner.entries(lo, hi, maxBytes);
  }
  term(i: number): number {
    return this.inner.term(i);
  }
  firstIndex(): number {
    return this.inner.firstIndex();
  }
  lastIndex(): number {
    return this.inner.lastIndex();
  }
  snapshot(): Snapshot {
    return this.inner.snapshot();
  }
  close(): Promise<void> {
    this.release();
    return this.inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const open: RaftCluster[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function gatedCluster(ids: string[]): Promise<{ cluster: RaftCluster; st: Map<string, GatedStorage>; sms: Map<string, KvStateMachine> }> {
  const st = new Map<string, GatedStorage>();
  const sms = new Map<string, KvStateMachine>();
  const cluster = await createRaftCluster({
    ids,
    stateMachine: (id) => {
      const sm = new KvStateMachine();
      sms.set(id, sm);
      return sm;
    },
    storage: (id) => {
      const s = new GatedStorage();
      st.set(id, s);
      return s;
    },
  });
  open.push(cluster);
  return { cluster, st, sms };
}

describe('the driver never claims durability before the write is durable (§4.19, §4.20, §4.44)', () => {
  it('a single-node cluster does not acknowledge a write before its fsync returns', async () => {
    const { cluster, st, sms } = await gatedCluster(['solo']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const kv = new KvNode(leader, sms.get('solo')!);
    await kv.put('warm', 1);
    st.get('solo')!.held = true;
    let acked = false;
    const p = kv.put('x', 1).then(() => (acked = true));
    await sleep(150);
    expect(acked).toBe(false);
    expect(sms.get('solo')!.has('x')).toBe(false);
    st.get('solo')!.release();
    await p;
    expect(acked).toBe(true);
  });

  it('a follower acknowledges appends only after its write is durable: with its disk stalled nothing commits', async () => {
    const { cluster, st, sms } = await gatedCluster(['a', 'b']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const follower = leader.id === 'a' ? 'b' : 'a';
    const kv = new KvNode(leader, sms.get(leader.id)!);
    await kv.put('warm', 1);
    st.get(follower)!.held = true;
    const before = leader.metrics().commit;
    let acked = false;
    const p = kv.put('x', 1).then(() => (acked = true));
    await sleep(200);
    // the follower received the entry (its save was called) but its ack must wait for the fsync
    expect(st.get(follower)!.saves).toBeGreaterThan(0);
    expect(acked).toBe(false);
    expect(leader.metrics().commit).toBe(before);
    st.get(follower)!.release();
    await p;
    expect(acked).toBe(true);
  });

  it('an fsync error stops the node (code io), never acknowledges, and the others elect a new leader', async () => {
    const { cluster, st, sms } = await gatedCluster(['a', 'b', 'c']);
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const kv = new KvNode(leader, sms.get(leader.id)!);
    await kv.put('before', 1);
    st.get(leader.id)!.failing = true;
    const err = await kv.put('x', 1).catch((e: unknown) => e);
    expect(isRaftError(err) && err.code).toBe('io');
    expect(leader.failure).toBeDefined();
    const again = await kv.put('y', 1).catch((e: unknown) => e);
    expect(isRaftError(again) && again.code).toBe('io');
    let next = cluster.leader();
    while (next === undefined || next === leader) {
      await sleep(20);
      next = [...cluster.nodes.values()].find((n) => n !== leader && n.isLeader);
    }
    const kv2 = new KvNode(next, sms.get(next.id)!);
    expect(await kv2.get('before')).toBe(1);
    await kv2.put('after', 2);
  });
});
