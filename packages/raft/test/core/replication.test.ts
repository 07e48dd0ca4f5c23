// Raft paper §5.3/§5.4.2 (Figures 7 and 8) and the replication bugs of raft-anchors.md §4 (11–21).
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import { MemoryStorage, isRaftError, type Entry } from '../../src/index.js';
import { codeOf, conf, diskWith, drain, enc, node } from './helpers.js';

const ent = (index: number, term: number, data = `e${index}t${term}`): Entry => ({ index, term, type: 'normal', data: enc(data) });
const terms = (d: MemoryStorage): number[] => d.entries(d.firstIndex(), d.lastIndex() + 1).map((e) => e.term);

/** Make `id` leader of `disk` at `term` by feeding it votes. */
function leaderAt(id: string, disk: MemoryStorage, voters: string[]) {
  const n = node(id, disk, { preVote: false });
  n.campaign();
  for (const v of voters) if (v !== id) n.step({ type: 'vote-resp', from: v, to: id, term: n.term, reject: false });
  expect(n.role).toBe('leader');
  return n;
}

describe('Raft paper: log replication', () => {
  it('§5.3: the leader replicates, commits after a majority persisted, and followers apply', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('c');
    const idx = c.raw('a').propose(enc('v'));
    c.stabilize();
    expect(c.raw('a').commitIndex).toBe(idx); // a + b
    expect(c.raw('c').commitIndex).toBeLessThan(idx);
    c.heal();
    for (let i = 0; i < 3; i++) {
      c.tickAll(5); // a lost append is detected after a heartbeat round without progress
      c.stabilize();
    }
    expect(c.raw('c').commitIndex).toBe(idx);
    expect(c.node('c').applied.at(-1)?.data).toEqual(enc('v'));
  });

  it('§5.3: batching and pipelining — many proposals between two Readys go out in few messages', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raw('a');
    for (let i = 0; i < 500; i++) a.propose(enc(`p${i}`));
    const rd = a.ready();
    const apps = rd.messages.filter((m) => m.type === 'app');
    expect(apps.length).toBe(2); // one message per follower
    expect(apps.every((m) => m.entries.length === 500)).toBe(true);
    c.node('a').disk.append(rd.entries);
    a.advance(rd);
  });

  it('§5.3: max size per message and max in-flight messages bound what is sent', () => {
    const c = new Cluster({ voters: ['a', 'b'], config: { maxSizePerMsg: 1000, maxInflightMsgs: 3 } });
    c.elect('a');
    const a = c.raw('a');
    for (let i = 0; i < 200; i++) a.propose(new Uint8Array(100)); // 124 bytes each -> 8 per message
    const rd = a.ready();
    const apps = rd.messages.filter((m) => m.type === 'app');
    expect(apps).toHaveLength(3);
    for (const m of apps) expect(m.entries.length).toBe(8);
    c.node('a').disk.append(rd.entries);
    a.advance(rd);
    for (const m of rd.messages) c.queue.push(m);
    c.stabilize();
    expect(a.commitIndex).toBe(a.lastIndex);
  });

  it('§5.3 Figure 7: the leader brings each of the six follower shapes (a)–(f) in line', () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const shapes: Record<string, number[]> = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    for (const [name, shape] of Object.entries(shapes)) {
      const cf = conf(['L', 'F', 'X']);
      const disks = {
        L: diskWith(cf, leaderLog, { term: 7 }),
        F: diskWith(cf, shape, { term: 7 }),
        X: diskWith(cf, leaderLog, { term: 7 }),
      };
      const c = new Cluster({ voters: ['L', 'F', 'X'], disks, config: { preVote: false } });
      expect(c.elect('L'), `shape ${name}`).toBe('L');
      c.tickAll(5);
      c.stabilize();
      expect(terms(disks.F), `shape ${name}`).toEqual(terms(disks.L));
      expect(c.raw('F').commitIndex, `shape ${name}`).toBe(11);
    }
  });
});

describe('§4 replication and commit (bug scenarios)', () => {
  it('§4.11 Figure 8: a leader never commits an earlier-term entry by counting replicas', () => {
    // s1 leads term 4 with [1:t1, 2:t2]; index 2 (term 2) reaches a majority but must not commit.
    const voters = ['s1', 's2', 's3', 's4', 's5'];
    const d = diskWith(conf(voters), [1, 2], { term: 3, commit: 1 });
    const s1 = leaderAt('s1', d, voters);
    expect(s1.term).toBe(4);
    drain(s1, d); // persists the no-op (index 3, term 4)
    for (const f of ['s2', 's3']) s1.step({ type: 'app-resp', from: f, to: 's1', term: 4, reject: false, index: 2, hintIndex: 0, hintTerm: 0 });
    expect(s1.commitIndex).toBe(1); // index 2 is on s1, s2, s3 — a majority — but from term 2
    s1.step({ type: 'app-resp', from: 's2', to: 's1', term: 4, reject: false, index: 3, hintIndex: 0, hintTerm: 0 });
    s1.step({ type: 'app-resp', from: 's3', to: 's1', term: 4, reject: false, index: 3, hintIndex: 0, hintTerm: 0 });
    expect(s1.commitIndex).toBe(3); // the current-term entry commits, and everything before it
  });

  it('§4.11 Figure 8 end to end: an old-term entry on a majority is not committed and may be overwritten', () => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const c = new Cluster({ voters: ids, config: { preVote: false, checkQuorum: false, maxSizePerMsg: 1 } });
    const dec = new TextDecoder();
    // (a) s1 leads term 2 and replicates X (index 3) to s2 only.
    expect(c.elect('s1')).toBe('s1');
    for (const o of ['s3', 's4', 's5']) c.cut('s1', o);
    const x = c.raw('s1').propose(enc('X'));
    c.stabilize();
    expect(c.raw('s2').lastIndex).toBe(x);
    // (b) s1 crashes; s5 wins term 3 with s3 and s4 and appends its no-op at index 3 locally only.
    c.crash('s1');
    c.heal();
    c.filter = (m) => !(m.from === 's5' && m.type === 'app');
    c.raw('s5').campaign();
    c.stabilize();
    expect(c.raw('s5').role).toBe('leader');
    expect(c.raw('s5').lastIndex).toBe(x);
    // (c) s5 crashes; s1 restarts and wins term 4; X (term 2) reaches s3 — a majority has it —
    //     but the term-4 no-op does not: X must not be committed.
    c.crash('s5');
    c.restart('s1');
    c.filter = (m) => {
      if (m.type !== 'app' || !m.entries.some((e) => e.term === 4)) return true;
      c.queue.push({ ...m, entries: m.entries.filter((e) => e.term !== 4) }); // deliver without the no-op
      return false;
    };
    for (let i = 0; i < 3 && c.raw('s1').role !== 'leader'; i++) {
      c.raw('s1').campaign();
      c.stabilize();
    }
    expect(c.raw('s1').role).toBe('leader');
    expect(c.raw('s1').term).toBe(4);
    expect(['s1', 's2', 's3'].every((id) => c.node(id).disk.lastIndex() >= x && c.node(id).disk.term(x) === 2)).toBe(true);
    expect(c.raw('s1').commitIndex).toBeLessThan(x); // Figure 8: counting replicas is not enough
    // (d) s1 crashes; s5 restarts and wins term 5 (its last term 3 beats 2): it overwrites X.
    c.crash('s1');
    c.restart('s5');
    c.filter = undefined;
    for (let i = 0; i < 3 && c.raw('s5').role !== 'leader'; i++) {
      c.raw('s5').campaign();
      c.stabilize();
    }
    expect(c.raw('s5').role).toBe('leader');
    c.raw('s5').propose(enc('Y'));
    for (let i = 0; i < 20; i++) c.stabilize();
    for (const id of ['s2', 's3', 's4', 's5']) {
      expect(c.node(id).disk.term(x)).toBe(3);
      expect(c.node(id).applied.some((e) => dec.decode(e.data) === 'X')).toBe(false);
    }
  });

  it('§4.12 a new leader appends a no-op of its term and commits it before serving reads', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raw('a');
    const noop = c.node('a').applied.filter((e) => e.type === 'noop');
    expect(noop).toHaveLength(1);
    expect(noop[0]?.term).toBe(a.term);
  });

  it('§4.13 a delayed or duplicated older append never truncates newer entries', () => {
    const d = diskWith(conf(['a', 'b']), []);
    const b = node('b', d);
    b.step({ type: 'app', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, entries: [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)], commit: 0 });
    drain(b, d);
    b.step({ type: 'app', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, entries: [ent(1, 1), ent(2, 1), ent(3, 1)], commit: 0 });
    const { msgs } = drain(b, d);
    expect(b.lastIndex).toBe(5);
    expect(d.lastIndex()).toBe(5);
    expect(msgs.find((m) => m.type === 'app-resp')).toMatchObject({ reject: false, index: 3 });
  });

  it('§4.14 a follower never commits beyond the last entry verified by this append', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1, 1, 1, 1, 1], { term: 1 }); // stale uncommitted entries 2..5
    const b = node('b', d);
    b.step({ type: 'app', from: 'c', to: 'b', term: 2, prevIndex: 1, prevTerm: 1, entries: [], commit: 5 });
    expect(b.commitIndex).toBe(1);
    b.step({ type: 'app', from: 'c', to: 'b', term: 2, prevIndex: 1, prevTerm: 1, entries: [ent(2, 2)], commit: 5 });
    expect(b.commitIndex).toBe(2);
    expect(b.lastIndex).toBe(2); // conflicting 3..5 truncated
  });

  it('§4.15 a follower whose prevIndex is compacted does not treat it as a conflict', () => {
    const d = diskWith(conf(['a', 'b']), [1, 1, 1, 1, 1, 1], { term: 1, commit: 6 });
    d.createSnapshot(5, conf(['a', 'b']), new Uint8Array(0));
    d.compact(5);
    const b = node('b', d, { applied: 6 });
    b.step({ type: 'app', from: 'a', to: 'b', term: 1, prevIndex: 3, prevTerm: 1, entries: [ent(4, 1), ent(5, 1), ent(6, 1)], commit: 6 });
    const { msgs } = drain(b, d);
    expect(msgs.find((m) => m.type === 'app-resp')).toMatchObject({ reject: false, index: 6 });
    expect(d.lastIndex()).toBe(6);
    expect(d.firstIndex()).toBe(6);
  });

  it('§4.16 fast backtracking converges in few round trips over many inconsistent entries', () => {
    const cf = conf(['L', 'F', 'X']);
    const leaderLog = [...Array<number>(3).fill(1), ...Array<number>(300).fill(5)];
    const followerLog = [...Array<number>(3).fill(1), ...Array<number>(500).fill(3)];
    const disks = { L: diskWith(cf, leaderLog, { term: 6 }), F: diskWith(cf, followerLog, { term: 6 }), X: diskWith(cf, leaderLog, { term: 6 }) };
    const c = new Cluster({ voters: ['L', 'F', 'X'], disks, config: { preVote: false } });
    c.elect('L');
    let rejections = 0;
    c.filter = (m) => {
      if (m.type === 'app-resp' && m.from === 'F' && m.reject) rejections++;
      return true;
    };
    c.tickAll(5);
    c.stabilize();
    expect(terms(disks.F)).toEqual(terms(disks.L));
    expect(rejections).toBeLessThanOrEqual(3);
  });

  it('§4.17 a follower that lost acknowledged entries reports commit-regression instead of silently accepting', () => {
    const d = diskWith(conf(['a', 'b']), [1, 1, 1], { term: 1, commit: 1 });
    const b = node('b', d);
    // the leader believes b has index 3 (b acknowledged it before losing it)
    const code = codeOf(() => { b.step({ type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 5, context: '' }); });
    expect(code).toBe('commit-regression');
    expect(b.commitIndex).toBe(1);
  });

  it('§4.17 an append that conflicts below the commit index never rewrites committed entries', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1, 1, 1], { term: 2, commit: 3 });
    const b = node('b', d);
    b.step({ type: 'app', from: 'c', to: 'b', term: 3, prevIndex: 1, prevTerm: 1, entries: [ent(2, 3)], commit: 2 });
    const { msgs } = drain(b, d);
    expect(terms(d)).toEqual([1, 1, 1]);
    expect(b.commitIndex).toBe(3);
    expect(msgs.find((m) => m.type === 'app-resp')).toMatchObject({ reject: false, index: 3 });
  });

  it('§4.18 async-storage ABA: entries overwritten while an earlier write is in flight are not marked durable', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1], { term: 1, commit: 1 });
    const b = node('b', d);
    b.step({ type: 'app', from: 'a', to: 'b', term: 2, prevIndex: 1, prevTerm: 1, entries: [ent(2, 2), ent(3, 2)], commit: 1 });
    const rd1 = b.ready(); // driver starts writing 2..3 (term 2)
    expect(rd1.entries.map((e) => e.term)).toEqual([2, 2]);
    // before it finishes, a new leader overwrites index 3 with term 3
    b.step({ type: 'app', from: 'c', to: 'b', term: 3, prevIndex: 2, prevTerm: 2, entries: [ent(3, 3)], commit: 1 });
    d.append(rd1.entries);
    b.advance(rd1);
    const rd2 = b.ready();
    expect(rd2.entries.map((e) => [e.index, e.term])).toEqual([[3, 3]]); // not lost, not considered durable
    expect(rd2.persistedMessages.find((m) => m.type === 'app-resp' && m.term === 3)).toMatchObject({ index: 3 });
    d.append(rd2.entries);
    b.advance(rd2);
    expect(terms(d)).toEqual([1, 2, 3]);
  });

  it('§4.19 a follower acknowledges appends only after they are durable (persistedMessages)', () => {
    const d = diskWith(conf(['a', 'b']), []);
    const b = node('b', d);
    b.step({ type: 'app', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, entries: [ent(1, 1)], commit: 0 });
    const rd = b.ready();
    expect(rd.entries).toHaveLength(1);
    expect(rd.messages.filter((m) => m.type === 'app-resp')).toHaveLength(0);
    expect(rd.persistedMessages.filter((m) => m.type === 'app-resp')).toHaveLength(1);
  });

  it('§4.19 the leader sends appends before its own write (parallel disk write) but counts itself only after it', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raw('a');
    const idx = a.propose(enc('x'));
    const rd = a.ready();
    expect(rd.messages.filter((m) => m.type === 'app')).toHaveLength(2); // may go out now
    expect(rd.entries.at(-1)?.index).toBe(idx);
    // one follower acks; the leader's own write is not done: no commit (needs 2 of 3)
    a.step({ type: 'app-resp', from: 'b', to: 'a', term: a.term, reject: false, index: idx, hintIndex: 0, hintTerm: 0 });
    expect(a.commitIndex).toBeLessThan(idx); // a has not persisted: only b has it
    a.step({ type: 'app-resp', from: 'c', to: 'a', term: a.term, reject: false, index: idx, hintIndex: 0, hintTerm: 0 });
    expect(a.commitIndex).toBe(idx); // b + c are a majority even before the leader's fsync (thesis §10.2.1)
    c.node('a').disk.append(rd.entries);
    a.advance(rd);
  });

  it('§4.20 a single-node cluster does not commit before its write is durable', () => {
    const c = new Cluster({ voters: ['a'] });
    c.elect('a');
    const a = c.raw('a');
    const idx = a.propose(enc('x'));
    const rd = a.ready();
    expect(rd.committedEntries.some((e) => e.index === idx)).toBe(false);
    expect(a.commitIndex).toBeLessThan(idx);
    c.crash('a'); // the write never happened
    c.restart('a');
    expect(c.raw('a').lastIndex).toBeLessThan(idx);
  });

  it('§4.21 only voters count towards commit (learners do not)', () => {
    const d = diskWith(conf(['a', 'b'], ['l']), [1], { term: 1, commit: 1 });
    const a = leaderAt('a', d, ['a', 'b']);
    drain(a, d);
    const last = a.lastIndex;
    a.step({ type: 'app-resp', from: 'l', to: 'a', term: a.term, reject: false, index: last, hintIndex: 0, hintTerm: 0 });
    expect(a.commitIndex).toBeLessThan(last);
    a.step({ type: 'app-resp', from: 'b', to: 'a', term: a.term, reject: false, index: last, hintIndex: 0, hintTerm: 0 });
    expect(a.commitIndex).toBe(last);
  });

  it('§4.21 in a joint configuration both majorities are needed to commit', () => {
    const joint = { voters: ['a', 'd', 'e'], learners: [], votersOutgoing: ['a', 'b', 'c'], learnersNext: [], autoLeave: false, removed: [] };
    const d = MemoryStorage.withConf(joint);
    d.append([ent(1, 1)]);
    d.setHardState({ term: 1, vote: null, commit: 1 });
    const a = node('a', d, { preVote: false });
    a.campaign();
    for (const v of ['b', 'c', 'd', 'e']) a.step({ type: 'vote-resp', from: v, to: 'a', term: a.term, reject: false });
    expect(a.role).toBe('leader');
    drain(a, d);
    const last = a.lastIndex;
    const ack = (from: string): void => { a.step({ type: 'app-resp', from, to: 'a', term: a.term, reject: false, index: last, hintIndex: 0, hintTerm: 0 }); };
    ack('b'); // old majority {a, b}
    expect(a.commitIndex).toBeLessThan(last);
    ack('d'); // new majority {a, d}
    expect(a.commitIndex).toBe(last);
  });

  it('uncommitted-size back-pressure refuses proposals with a typed error', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'], config: { maxUncommittedEntriesSize: 1000 } });
    c.elect('a');
    c.isolate('a');
    const a = c.raw('a');
    let err: unknown;
    let accepted = 0;
    try {
      for (let i = 0; i < 100; i++) {
        a.propose(new Uint8Array(100));
        accepted++;
      }
    } catch (e) {
      err = e;
    }
    expect(isRaftError(err) && err.code).toBe('uncommitted-limit');
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(10);
    c.heal();
    c.tickAll(5);
    c.stabilize();
    expect(() => a.propose(new Uint8Array(100))).not.toThrow(); // room again once committed
  });
});
