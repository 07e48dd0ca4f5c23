// Linearizable reads (ReadIndex, lease) and the read bugs of raft-anchors.md §4 (22–26), plus
// leadership transfer.
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import { RawNode, MemoryStorage, seededRandom } from '../../src/index.js';
import { codeOf, enc } from './helpers.js';

describe('§4 reads (bug scenarios)', () => {
  it('§4.22 a deposed leader in a minority partition does not serve linearizable reads', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('a');
    c.raw('a').readIndex('r1');
    for (let i = 0; i < 40; i++) {
      c.tick('a');
      c.stabilize();
    }
    expect(c.node('a').readStates).toHaveLength(0);
    expect(c.raw('a').role).not.toBe('leader'); // and it stepped down (check-quorum)
  });

  it('§4.23 ReadIndex: waits for a current-term commit, confirms with a quorum, returns the commit index', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.raw('a').campaign();
    // deliver votes but hold the appends: the leader's no-op is not committed yet
    c.filter = (m) => m.type !== 'app';
    c.stabilize();
    const a = c.raw('a');
    expect(a.role).toBe('leader');
    a.readIndex('early');
    c.stabilize();
    expect(c.node('a').readStates).toHaveLength(0); // no current-term commit yet
    c.filter = undefined;
    c.tickAll(5);
    c.stabilize();
    const rs = c.node('a').readStates.find((r) => r.context === 'early');
    expect(rs).toBeDefined();
    expect(rs?.index).toBe(a.commitIndex);
  });

  it('§4.23 a quorum must confirm leadership before the read is released', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.filter = (m) => m.type !== 'heartbeat-resp';
    c.raw('a').readIndex('r');
    c.stabilize();
    expect(c.node('a').readStates).toHaveLength(0);
    c.filter = undefined;
    c.raw('a').readIndex('r2');
    c.stabilize();
    expect(c.node('a').readStates.map((r) => r.context)).toEqual(['r', 'r2']);
  });

  it('§4.23 ReadIndex forwarded from a follower; the follower reads once applied >= index', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.raw('a').propose(enc('x'));
    c.stabilize();
    c.raw('b').readIndex('fb');
    c.stabilize();
    const rs = c.node('b').readStates.find((r) => r.context === 'fb');
    expect(rs?.index).toBe(c.raw('a').commitIndex);
    expect(c.raw('b').appliedIndex).toBeGreaterThanOrEqual(rs?.index ?? Infinity);
  });

  it('§4.24 the read index is captured before the leadership confirmation round', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raw('a');
    const before = a.commitIndex;
    a.readIndex('r');
    // more writes commit before the confirmation round completes
    c.filter = (m) => m.type !== 'heartbeat-resp';
    a.propose(enc('later'));
    c.stabilize();
    expect(a.commitIndex).toBeGreaterThan(before);
    c.filter = undefined;
    a.readIndex('r2');
    c.stabilize();
    expect(c.node('a').readStates.find((r) => r.context === 'r')?.index).toBe(before);
  });

  it('§4.25 lease reads require check-quorum (config validation)', () => {
    const code = codeOf(() => new RawNode({ id: 'a', storage: new MemoryStorage(), random: seededRandom(1), readOnly: 'lease-based', checkQuorum: false }));
    expect(code).toBe('invalid-config');
  });

  it('§4.25 a lease read is served locally only while a quorum acknowledged a recent heartbeat', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'], config: { readOnly: 'lease-based' } });
    for (let i = 0; i < 40 && c.leader() === null; i++) {
      c.tickAll();
      c.stabilize();
    }
    const l = c.leader() as string;
    c.tickAll(5); // a heartbeat round
    c.stabilize();
    c.raw(l).readIndex('lease');
    c.process();
    expect(c.node(l).readStates.map((r) => r.context)).toContain('lease'); // no round trip needed
    // cut the leader off: once the acknowledged heartbeats are older than the lease, reads need a round
    for (const o of ['a', 'b', 'c']) if (o !== l) c.cut(l, o);
    for (let i = 0; i < 14; i++) c.raw(l).tick();
    c.process();
    c.raw(l).readIndex('expired');
    c.stabilize();
    expect(c.node(l).readStates.map((r) => r.context)).not.toContain('expired');
  });

  it('§4.26 a write whose leader stepped down is not failed: it may still commit', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raw('a');
    c.filter = (m) => !(m.type === 'app-resp' && m.to === 'a'); // a never learns about the commit
    const idx = a.propose(enc('maybe'));
    c.stabilize();
    c.filter = undefined;
    c.isolate('a');
    c.raw('b').transferLeader('b'); // no-op on followers without effect
    for (let i = 0; i < 60 && c.leader() === 'a'; i++) {
      c.tick('b');
      c.tick('c');
      c.stabilize();
    }
    for (let i = 0; i < 60 && c.raw('b').role !== 'leader' && c.raw('c').role !== 'leader'; i++) {
      c.tick('b');
      c.tick('c');
      c.stabilize();
    }
    c.heal();
    c.tickAll(10);
    c.stabilize();
    const applied = c.node('a').applied.find((e) => e.index === idx);
    expect(applied?.data).toEqual(enc('maybe')); // it committed after all
  });
});

describe('leadership transfer', () => {
  it('transfers to an up-to-date follower; proposals are refused meanwhile', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.filter = (m) => !(m.type === 'app' && m.to === 'c');
    c.raw('a').propose(enc('x'));
    c.stabilize();
    c.raw('a').transferLeader('c'); // c lags: the leader first catches it up
    expect(codeOf(() => c.raw('a').propose(enc('y')))).toBe('proposal-dropped');
    c.filter = undefined;
    c.tickAll(5);
    c.stabilize();
    expect(c.leader()).toBe('c');
  });

  it('is aborted after an election timeout if the target never catches up', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('c');
    c.cut('a', 'c');
    c.raw('a').transferLeader('c');
    expect(c.raw('a').status().leadTransferee).toBe('c');
    c.tick('a', 16);
    c.stabilize();
    expect(c.raw('a').status().leadTransferee).toBeNull();
    expect(() => c.raw('a').propose(enc('ok'))).not.toThrow();
  });

  it('a follower forwards a transfer request to the leader; a learner cannot be a target', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.raw('b').transferLeader('b');
    c.stabilize();
    expect(c.leader()).toBe('b');
    expect(codeOf(() => { c.raw('b').transferLeader('zz'); })).toBe('invalid-transfer');
  });
});
