// Snapshots, compaction and chunked InstallSnapshot; raft-anchors.md §4 (35–42).
import { describe, expect, it } from 'vitest';
import { Cluster, KvStateMachine, encodeKvCommand } from '../../src/testing/index.js';
import { MemoryStorage, type Message, type SnapshotMessage } from '../../src/index.js';
import { conf, diskWith, drain, node } from './helpers.js';

const put = (key: string, value: string): Uint8Array => encodeKvCommand({ op: 'put', id: `${key}=${value}`, key, value });

function kvCluster(voters: string[], chunk = 32) {
  const sms = new Map<string, KvStateMachine>();
  const c = new Cluster({
    voters,
    config: { maxSnapshotChunkBytes: chunk, snapshotChunkWindow: 2 },
    stateMachine: (id) => {
      const sm = new KvStateMachine();
      sms.set(id, sm);
      return sm;
    },
  });
  return { c, sms };
}

function settle(c: Cluster, rounds = 6): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll(5);
    c.stabilize();
  }
}

function snapMeta(index: number, term: number) {
  return { index, term, conf: conf(['a', 'b']) };
}

function chunk(offset: number, data: Uint8Array, total: number, index = 10, term = 2): SnapshotMessage {
  return { type: 'snap', from: 'a', to: 'b', term: 2, meta: snapMeta(index, term), offset, totalBytes: total, data, done: offset + data.byteLength === total };
}

describe('§4 snapshots and compaction (bug scenarios)', () => {
  it('§4.35 a snapshot older than what the follower has is refused (state never goes backwards)', () => {
    const d = diskWith(conf(['a', 'b']), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], { term: 2, commit: 12 });
    const b = node('b', d, { applied: 12 });
    b.step(chunk(0, new Uint8Array([1, 2, 3]), 3, 10, 1));
    const { msgs, readys } = drain(b, d);
    expect(readys.some((r) => r.snapshot !== null)).toBe(false);
    expect(msgs.find((m) => m.type === 'app-resp')).toMatchObject({ index: 12, reject: false });
  });

  it('§4.36 a snapshot is handed out before any later committed entry (no install/apply race)', () => {
    const d = MemoryStorage.withConf(conf(['a', 'b']));
    const b = node('b', d);
    const data = new Uint8Array([9, 9]);
    b.step(chunk(0, data, 2, 10, 2));
    const rd = b.ready();
    expect(rd.snapshot?.meta.index).toBe(10);
    expect(rd.committedEntries).toHaveLength(0);
    d.applySnapshot(rd.snapshot as NonNullable<typeof rd.snapshot>);
    b.advance(rd);
    expect(b.appliedIndex).toBe(10);
    expect(rd.persistedMessages.find((m) => m.type === 'app-resp')).toMatchObject({ index: 10 });
  });

  it('§4.37 replicating the first entry after a compacted prefix uses the snapshot term as prevTerm', () => {
    const { c } = kvCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) c.raw('a').propose(put('k', `v${i}`));
    c.stabilize();
    const a = c.node('a');
    a.compact(0); // snapshot at applied, no trailing entries
    const snapIdx = a.disk.snapshot().meta.index;
    const sent: Message[] = [];
    c.filter = (m) => {
      sent.push(m);
      return true;
    };
    c.raw('a').propose(put('k', 'next'));
    c.stabilize();
    const app = sent.find((m) => m.type === 'app' && m.entries.length > 0);
    expect(app).toMatchObject({ prevIndex: snapIdx, prevTerm: a.disk.snapshot().meta.term });
  });

  it('§4.38 a follower behind the compaction point gets a (chunked) snapshot instead of a crash', () => {
    const { c, sms } = kvCluster(['a', 'b', 'c'], 16);
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 20; i++) c.raw('a').propose(put(`k${i % 4}`, `value-${i}`));
    c.stabilize();
    c.node('a').compact(2);
    expect(c.node('a').disk.firstIndex()).toBeGreaterThan(c.raw('c').lastIndex + 1);
    const chunks: SnapshotMessage[] = [];
    c.filter = (m) => {
      if (m.type === 'snap') chunks.push(m);
      return true;
    };
    c.heal();
    settle(c);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((m) => m.data.byteLength <= 16)).toBe(true);
    expect(c.raw('c').commitIndex).toBe(c.raw('a').commitIndex);
    expect([...(sms.get('c')?.data ?? [])]).toEqual([...(sms.get('a')?.data ?? [])]);
  });

  it('§4.39 membership survives compaction: a new member learns it from the snapshot', () => {
    const { c } = kvCluster(['a', 'b', 'c']);
    c.elect('a');
    c.addNode('d');
    c.isolate('d');
    c.raw('a').addLearner('d');
    settle(c);
    for (let i = 0; i < 5; i++) c.raw('a').propose(put('x', String(i)));
    settle(c, 1);
    c.node('a').compact(0);
    expect(c.node('a').disk.snapshot().meta.conf.learners).toContain('d');
    c.heal();
    settle(c);
    expect(c.raw('d').confState.learners).toContain('d');
    expect(c.raw('d').confState.voters).toEqual(['a', 'b', 'c']);
    // restart from the snapshot alone: still knows the membership
    c.crash('d');
    c.restart('d');
    expect(c.raw('d').confState.voters).toEqual(['a', 'b', 'c']);
  });

  describe('§4.40 chunked InstallSnapshot', () => {
    const data = Uint8Array.from({ length: 10 }, (_, i) => i + 1);

    it('a chunk at offset > 0 never starts a session', () => {
      const d = MemoryStorage.withConf(conf(['a', 'b']));
      const b = node('b', d);
      b.step(chunk(4, data.subarray(4, 8), 10));
      const { msgs } = drain(b, d);
      expect(msgs.find((m) => m.type === 'snap-resp')).toMatchObject({ nextOffset: 0, reject: true });
    });

    it('duplicated and reordered chunks are handled; no trailing empty chunk is needed', () => {
      const d = MemoryStorage.withConf(conf(['a', 'b']));
      const b = node('b', d);
      b.step(chunk(0, data.subarray(0, 4), 10));
      b.step(chunk(0, data.subarray(0, 4), 10)); // duplicate
      b.step(chunk(8, data.subarray(8, 10), 10)); // ahead: gap
      const { msgs } = drain(b, d);
      expect(msgs.filter((m) => m.type === 'snap-resp').at(-1)).toMatchObject({ nextOffset: 4, reject: true });
      b.step(chunk(4, data.subarray(4, 8), 10));
      b.step(chunk(8, data.subarray(8, 10), 10)); // done = true on the last data chunk
      const r = drain(b, d);
      const snap = r.readys.find((x) => x.snapshot !== null)?.snapshot;
      expect(snap?.data).toEqual(data);
      expect(d.snapshot().meta.index).toBe(10);
    });

    it('a follower crash mid-install adopts nothing; the transfer restarts from offset 0', () => {
      const d = MemoryStorage.withConf(conf(['a', 'b']));
      const b = node('b', d);
      b.step(chunk(0, data.subarray(0, 4), 10));
      b.step(chunk(4, data.subarray(4, 8), 10));
      drain(b, d);
      expect(d.snapshot().meta.index).toBe(0);
      const restarted = node('b', d); // crash: the partial snapshot was only in memory
      restarted.step(chunk(8, data.subarray(8, 10), 10));
      const { msgs } = drain(restarted, d);
      expect(msgs.find((m) => m.type === 'snap-resp')).toMatchObject({ nextOffset: 0, reject: true });
      expect(restarted.lastIndex).toBe(0);
    });

    it('a leader change mid-install starts a new session from the new leader', () => {
      const d = MemoryStorage.withConf(conf(['a', 'b', 'c']));
      const b = node('b', d);
      b.step(chunk(0, data.subarray(0, 4), 10));
      const other = Uint8Array.from({ length: 6 }, () => 7);
      b.step({ type: 'snap', from: 'c', to: 'b', term: 3, meta: { index: 12, term: 3, conf: conf(['a', 'b', 'c']) }, offset: 0, totalBytes: 6, data: other, done: true });
      const r = drain(b, d);
      expect(r.readys.find((x) => x.snapshot !== null)?.snapshot?.meta.index).toBe(12);
      expect(d.snapshot().data).toEqual(other);
    });

    it('the leader resumes from the offset the follower reports after losses', () => {
      const { c, sms } = kvCluster(['a', 'b', 'c'], 8);
      c.elect('a');
      c.isolate('c');
      for (let i = 0; i < 10; i++) c.raw('a').propose(put(`k${i}`, `v${i}`));
      c.stabilize();
      c.node('a').compact(0);
      c.heal();
      let n = 0;
      c.filter = (m) => !(m.type === 'snap' && ++n % 3 === 0); // lose every third chunk
      settle(c, 15);
      expect([...(sms.get('c')?.data ?? [])]).toEqual([...(sms.get('a')?.data ?? [])]);
    });
  });

  it('§4.41 after compaction a restart still finds the compacted prefix (first index, snapshot term)', () => {
    const { c } = kvCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 6; i++) c.raw('a').propose(put('k', String(i)));
    c.stabilize();
    c.node('b').compact(1);
    const first = c.node('b').disk.firstIndex();
    c.crash('b');
    c.restart('b');
    expect(c.raw('b').status().firstIndex).toBe(first);
    settle(c, 2);
    expect(c.raw('b').commitIndex).toBe(c.raw('a').commitIndex);
  });

  it('§4.42 restart with the applied index of the state machine: nothing is applied twice, membership is replayed', () => {
    const d = MemoryStorage.withConf(conf([]));
    const n1 = node('a', d, { bootstrap: ['a'] });
    drain(n1, d);
    n1.campaign();
    drain(n1, d);
    n1.propose(put('k', '1'));
    const applied = drain(n1, d).readys.flatMap((r) => r.committedEntries);
    const lastApplied = applied.at(-1)?.index ?? 0;
    // the state machine persisted `lastApplied` atomically with its data; restart from there
    const n2 = node('a', d, { applied: lastApplied });
    expect(n2.confState.voters).toEqual(['a']);
    const again = drain(n2, d).readys.flatMap((r) => r.committedEntries);
    expect(again.filter((e) => e.index <= lastApplied)).toHaveLength(0);
  });
});
