// Membership: single-server changes, learners, joint consensus, and the membership bugs of
// raft-anchors.md §4 (27–34).
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import { MemoryStorage, encodeConfChange, type Entry } from '../../src/index.js';
import { codeOf, conf, enc, node } from './helpers.js';

function settle(c: Cluster, rounds = 6): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll(5);
    c.stabilize();
  }
}

/** Add `id` as a learner, let it catch up, promote it. */
function addVoter(c: Cluster, leader: string, id: string): void {
  c.addNode(id);
  c.raw(leader).addLearner(id);
  settle(c);
  c.raw(leader).addVoter(id);
  settle(c);
}

describe('§4 membership (bug scenarios)', () => {
  it('§4.27 a new leader must commit an entry of its term before a membership change; one change at a time', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.raw('a').campaign();
    c.filter = (m) => m.type !== 'app-resp';
    c.stabilize();
    expect(c.raw('a').role).toBe('leader');
    expect(codeOf(() => c.raw('a').addLearner('d'))).toBe('conf-change-pending');
    c.filter = undefined;
    settle(c, 2);
    c.addNode('d');
    c.raw('a').addLearner('d');
    expect(codeOf(() => c.raw('a').addLearner('e'))).toBe('conf-change-pending');
    settle(c);
    expect(() => c.raw('a').addLearner('e')).not.toThrow();
  });

  it('§4.28 a node with a committed but unapplied membership change does not campaign', () => {
    const cf = conf(['a', 'b', 'c']);
    const d = MemoryStorage.withConf(cf);
    const cc: Entry = { term: 1, index: 2, type: 'conf-change', data: encodeConfChange({ changes: [{ type: 'remove', id: 'a' }] }) };
    d.append([{ term: 1, index: 1, type: 'normal', data: enc('x') }, cc]);
    d.setHardState({ term: 1, vote: null, commit: 2 });
    const a = node('a', d, { preVote: false });
    a.campaign();
    expect(a.role).toBe('follower');
    expect(a.term).toBe(1);
  });

  it('§4.29 a membership change while the old leader is isolated loses no update', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c', 'd'] });
    c.elect('a');
    const w1 = c.raw('a').propose(enc('before'));
    c.stabilize();
    c.isolate('a');
    c.raw('a').propose(enc('lost-on-minority')); // can never commit
    for (let i = 0; i < 80 && ['b', 'c', 'd'].every((id) => c.raw(id).role !== 'leader'); i++) {
      for (const id of ['b', 'c', 'd']) c.tick(id);
      c.stabilize();
    }
    const nl = ['b', 'c', 'd'].find((id) => c.raw(id).role === 'leader') as string;
    expect(nl).toBeDefined();
    settle(c, 1);
    c.raw(nl).removeNode('d');
    settle(c);
    const w2 = c.raw(nl).propose(enc('after'));
    c.heal();
    settle(c);
    const data = (id: string): string[] => c.node(id).applied.filter((e) => e.type === 'normal').map((e) => new TextDecoder().decode(e.data));
    for (const id of ['a', 'b', 'c']) {
      expect(data(id)).toContain('before');
      expect(data(id)).toContain('after');
      expect(data(id)).not.toContain('lost-on-minority');
    }
    expect(w2).toBeGreaterThan(w1);
  });

  it('§4.30 removing the leader: it steps down once applied, the rest elect a new leader, it gets no more appends', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.raw('a').removeNode('a');
    c.stabilize();
    expect(c.raw('a').role).toBe('follower');
    expect(c.raw('a').confState.voters).toEqual(['b', 'c']);
    settle(c, 10);
    const l = c.leader();
    expect(l === 'b' || l === 'c').toBe(true);
    const aLast = c.raw('a').lastIndex;
    c.raw(l as string).propose(enc('after-removal'));
    settle(c);
    expect(c.raw('a').lastIndex).toBe(aLast);
    expect(c.raw(l as string).commitIndex).toBeGreaterThan(aLast);
  });

  it('§4.31 a removed node id is never accepted again', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c', 'd'] });
    c.elect('a');
    c.raw('a').removeNode('d');
    settle(c);
    expect(c.raw('a').confState.removed).toContain('d');
    expect(codeOf(() => c.raw('a').addLearner('d'))).toBe('invalid-conf-change');
    expect(codeOf(() => { c.raw('b').step({ type: 'vote', from: 'd', to: 'b', term: 99, lastLogIndex: 99, lastLogTerm: 99, transfer: false }); })).toBe(
      'removed-peer',
    );
    expect(c.raw('b').term).toBeLessThan(99);
  });

  it('§4.32 two-node cluster: removing a down member cannot commit (documented: use 3+ nodes)', () => {
    const c = new Cluster({ voters: ['a', 'b'] });
    c.elect('a');
    c.crash('b');
    c.raw('a').removeNode('b');
    for (let i = 0; i < 10; i++) {
      c.tick('a', 2);
      c.stabilize();
    }
    expect(c.raw('a').confState.voters).toEqual(['a', 'b']); // needs b's ack under the old config
    c.restart('b');
    settle(c);
    const l = c.leader() as string;
    expect(c.raw(l).confState.voters).toEqual(['a']);
  });

  it('§4.33 learners never campaign or count, catch up before promotion, and can vote once promoted', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.addNode('l');
    c.raw('a').addLearner('l');
    expect(codeOf(() => c.raw('a').addVoter('l'))).toBe('invalid-conf-change'); // not a learner until applied
    settle(c);
    expect(c.raw('l').confState.learners).toContain('l');
    for (let i = 0; i < 50; i++) c.raw('l').tick();
    expect(c.raw('l').role).toBe('follower'); // a learner never campaigns
    // restart: still a learner (membership comes from the log / snapshot)
    c.crash('l');
    c.restart('l');
    settle(c, 2);
    expect(c.raw('l').confState.learners).toContain('l');
    expect(c.raw('a').isCaughtUp('l')).toBe(true);
    c.raw('a').addVoter('l');
    settle(c);
    expect(c.raw('l').confState.voters).toContain('l');
    c.raw('a').transferLeader('l');
    c.stabilize();
    expect(c.leader()).toBe('l');
  });

  it('§4.33 promoting a learner that has not caught up is refused', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.addNode('l');
    c.isolate('l');
    c.raw('a').addLearner('l');
    settle(c);
    expect(codeOf(() => c.raw('a').addVoter('l'))).toBe('invalid-conf-change');
    expect(codeOf(() => c.raw('a').addVoter('nobody'))).toBe('invalid-conf-change');
  });

  it('§4.34 joint consensus: entered and left automatically, respected at startup and at commit', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    for (const id of ['d', 'e']) {
      c.addNode(id);
    }
    c.raw('a').addLearner('d');
    settle(c);
    c.raw('a').addLearner('e');
    settle(c);
    // replace b and c by d and e in one change: joint configuration
    c.filter = (m) => !(m.type === 'app' && m.entries.some((e) => e.type === 'conf-change' && e.data.byteLength < 40));
    c.raw('a').proposeConfChange({
      changes: [
        { type: 'add-voter', id: 'd' },
        { type: 'add-voter', id: 'e' },
        { type: 'remove', id: 'b' },
        { type: 'remove', id: 'c' },
      ],
    });
    settle(c, 2);
    const joint = c.raw('a').confState;
    expect([...joint.votersOutgoing].sort()).toEqual(['a', 'b', 'c']);
    expect([...joint.voters].sort()).toEqual(['a', 'd', 'e']);
    // restart a member while joint: it comes back joint
    c.crash('d');
    c.restart('d');
    settle(c, 1);
    expect(c.raw('d').confState.votersOutgoing.length).toBeGreaterThan(0);
    c.filter = undefined;
    settle(c);
    const fin = c.raw('a').confState;
    expect(fin.votersOutgoing).toEqual([]);
    expect([...fin.voters].sort()).toEqual(['a', 'd', 'e']);
    expect([...fin.removed].sort()).toEqual(['b', 'c']);
  });

  it('single-server helpers: add a voter through a learner, remove, and keep serving writes', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    addVoter(c, 'a', 'd');
    expect(c.raw('a').confState.voters).toEqual(['a', 'b', 'c', 'd']);
    c.raw('a').removeNode('b');
    settle(c);
    const idx = c.raw('a').propose(enc('z'));
    settle(c);
    expect(c.raw('d').commitIndex).toBeGreaterThanOrEqual(idx);
  });
});
