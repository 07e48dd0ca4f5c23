// Raft paper §5.1/§5.2/§5.4.1 and the election bugs of research/raft-anchors.md §4 (items 1–10).
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import type { Message, VoteMessage } from '../../src/index.js';
import { conf, diskWith, drain, enc, node } from './helpers.js';

const voteReq = (from: string, to: string, term: number, lastLogIndex: number, lastLogTerm: number, type: 'vote' | 'prevote' = 'vote'): VoteMessage => ({
  type,
  from,
  to,
  term,
  lastLogIndex,
  lastLogTerm,
  transfer: false,
});

describe('Raft paper: elections', () => {
  it('§5.1: a node seeing a higher term adopts it and becomes follower; stale terms are rejected', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raw('a');
    const t = a.term;
    a.step({ type: 'heartbeat', from: 'b', to: 'a', term: t + 5, commit: 0, context: '' });
    expect(a.role).toBe('follower');
    expect(a.term).toBe(t + 5);
    // stale message: ignored (no state change)
    a.step({ type: 'heartbeat', from: 'c', to: 'a', term: t, commit: 0, context: '' });
    expect(a.term).toBe(t + 5);
    expect(a.leader).toBe('b');
  });

  it('§5.2: a follower times out, campaigns and wins with a majority; others follow', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'], config: { preVote: false } });
    c.tick('a', 60);
    c.stabilize();
    expect(c.leader()).not.toBeNull();
    const l = c.leader() as string;
    for (const id of ['a', 'b', 'c']) expect(c.raw(id).leader).toBe(l);
  });

  it('§5.2: a candidate receiving an append of its term from a leader steps down', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1]);
    const a = node('a', d, { preVote: false });
    a.campaign();
    expect(a.role).toBe('candidate');
    a.step({ type: 'app', from: 'b', to: 'a', term: a.term, prevIndex: 1, prevTerm: 1, entries: [], commit: 0 });
    expect(a.role).toBe('follower');
    expect(a.leader).toBe('b');
  });

  it('§5.4.1: a voter grants only to candidates whose log is at least as up to date', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1, 1, 2]);
    const a = node('a', d);
    a.step(voteReq('b', 'a', 5, 2, 2));
    let r = drain(a, d).msgs.find((m) => m.type === 'vote-resp');
    expect(r?.type === 'vote-resp' && r.reject).toBe(true);
    a.step(voteReq('c', 'a', 6, 3, 2));
    r = drain(a, d).msgs.find((m) => m.type === 'vote-resp');
    expect(r?.type === 'vote-resp' && r.reject).toBe(false);
  });
});

describe('§4 elections and terms (bug scenarios)', () => {
  it('§4.1 never votes twice in a term: the vote is in the hard state and only sent after it is persisted', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1]);
    const a = node('a', d);
    a.step(voteReq('b', 'a', 2, 1, 1));
    const rd = a.ready();
    expect(rd.hardState).toEqual({ term: 2, vote: 'b', commit: 0 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.some((m) => m.type === 'vote-resp')).toBe(false);
    expect(rd.persistedMessages.some((m) => m.type === 'vote-resp' && !m.reject)).toBe(true);
    // crash before persisting: the vote was never sent, so voting again is allowed and safe.
    const fresh = node('a', d);
    expect(fresh.term).toBe(1);
    // persist, crash, restart: a second candidate in the same term is refused
    if (rd.hardState !== null) d.setHardState(rd.hardState);
    const restarted = node('a', d);
    restarted.step(voteReq('c', 'a', 2, 1, 1));
    const resp = drain(restarted, d).msgs.find((m) => m.type === 'vote-resp');
    expect(resp?.type === 'vote-resp' && resp.reject).toBe(true);
  });

  it('§4.2 a same-term step-down (candidate receives an append) keeps votedFor', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1]);
    const a = node('a', d, { preVote: false });
    a.campaign();
    const term = a.term;
    drain(a, d);
    a.step({ type: 'app', from: 'b', to: 'a', term, prevIndex: 1, prevTerm: 1, entries: [], commit: 0 });
    expect(a.role).toBe('follower');
    expect(a.status().vote).toBe('a');
    a.step(voteReq('c', 'a', term, 5, 1));
    const resp = drain(a, d).msgs.find((m) => m.type === 'vote-resp');
    expect(resp?.type === 'vote-resp' && resp.reject).toBe(true);
  });

  it('§4.3 pre-vote changes neither term nor vote, and pre-vote answers never count as votes', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1], { term: 1, vote: 'a' });
    const b = node('b', d);
    b.step(voteReq('c', 'b', 2, 1, 1, 'prevote'));
    const { msgs } = drain(b, d);
    expect(msgs.find((m) => m.type === 'prevote-resp')).toMatchObject({ reject: false, term: 2 });
    expect(b.term).toBe(1);
    expect(b.status().vote).toBe('a');
    expect(d.hardState).toMatchObject({ term: 1, vote: 'a' });

    // a real candidate does not count pre-vote grants
    const d2 = diskWith(conf(['a', 'b', 'c']), [1]);
    const a = node('a', d2, { preVote: false });
    a.campaign();
    a.step({ type: 'prevote-resp', from: 'b', to: 'a', term: a.term, reject: false });
    expect(a.role).toBe('candidate');
    a.step({ type: 'vote-resp', from: 'b', to: 'a', term: a.term, reject: false });
    expect(a.role).toBe('leader');
  });

  it('§4.4 granting a pre-vote does not reset the election timer', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1]);
    const b = node('b', d, { checkQuorum: false }); // timeout = electionTick (random = 0)
    for (let i = 0; i < 9; i++) b.tick();
    b.step(voteReq('c', 'b', 2, 1, 1, 'prevote'));
    b.tick();
    expect(b.role).toBe('pre-candidate');
    // whereas a real vote does reset it
    const d2 = diskWith(conf(['a', 'b', 'c']), [1]);
    const b2 = node('b', d2, { checkQuorum: false });
    for (let i = 0; i < 9; i++) b2.tick();
    b2.step(voteReq('c', 'b', 2, 1, 1, 'vote'));
    b2.tick();
    expect(b2.role).toBe('follower');
  });

  it('§4.5 a partitioned node rejoining does not depose a healthy leader (pre-vote + check-quorum)', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    expect(c.elect('a')).toBe('a');
    const term = c.raw('a').term;
    c.isolate('c');
    for (let i = 0; i < 20; i++) {
      c.tickAll(5);
      c.stabilize();
    }
    expect(c.raw('c').term).toBe(term); // pre-vote: no inflated term
    c.heal();
    for (let i = 0; i < 5; i++) {
      c.tickAll(3);
      c.stabilize();
    }
    expect(c.leader()).toBe('a');
    expect(c.raw('a').term).toBe(term);
  });

  it('§4.5 without pre-vote, voters with a live leader ignore a disruptive candidate (check-quorum lease)', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1]);
    const b = node('b', d, { preVote: false });
    b.step({ type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 0, context: '' });
    drain(b, d);
    b.step(voteReq('c', 'b', 7, 1, 1));
    expect(b.term).toBe(1);
    expect(drain(b, d).msgs.filter((m) => m.type === 'vote-resp')).toHaveLength(0);
  });

  it('§4.6 pre-vote + check-quorum: a follower cut off only from the leader cannot disrupt it, and the cluster stays available', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.cut('a', 'c');
    for (let i = 0; i < 10; i++) {
      c.tickAll(5);
      c.stabilize();
    }
    expect(c.leader()).toBe('a');
    const idx = c.raw('a').propose(enc('still-available'));
    c.stabilize();
    expect(c.raw('a').commitIndex).toBeGreaterThanOrEqual(idx);
  });

  it('§4.6 leadership transfer works with pre-vote on (bypasses the known-leader gate)', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.raw('a').transferLeader('c');
    c.stabilize();
    expect(c.leader()).toBe('c');
    expect(c.raw('a').role).toBe('follower');
  });

  it('§4.7 a stale leader whose heartbeats are answered with a higher term steps down (not counted as contact)', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('a');
    for (let i = 0; i < 100 && c.raw('b').role !== 'leader' && c.raw('c').role !== 'leader'; i++) {
      c.tick('b');
      c.tick('c');
      c.stabilize();
    }
    const newLeader = c.raw('b').role === 'leader' ? 'b' : 'c';
    expect(c.raw(newLeader).role).toBe('leader');
    const newTerm = c.raw(newLeader).term;
    expect(c.raw('a').role).toBe('leader'); // stale: it has not noticed yet
    c.heal();
    // a still believes it leads; its heartbeat gets a higher-term answer
    c.tick('a', 5);
    c.stabilize();
    expect(c.raw('a').role).toBe('follower');
    expect(c.raw('a').term).toBe(newTerm);
  });

  it('§4.7 a leader cut off from a quorum steps down after an election timeout (check-quorum)', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('a');
    for (let i = 0; i < 40; i++) {
      c.tick('a');
      c.stabilize();
    }
    expect(c.raw('a').role).not.toBe('leader');
  });

  it('§4.8 after a full-cluster restart a leader is elected promptly', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.raw('a').propose(enc('x'));
    c.stabilize();
    for (const id of ['a', 'b', 'c']) {
      c.crash(id);
      c.restart(id);
    }
    let ticks = 0;
    while (c.leader() === null && ticks < 200) {
      c.tickAll();
      c.stabilize();
      ticks++;
    }
    expect(c.leader()).not.toBeNull();
    expect(ticks).toBeLessThan(2 * 2 * 15 + 10); // within ~2 randomized election timeouts
  });

  it('§4.9 vote comparison is lexicographic on (lastLogTerm, lastLogIndex)', () => {
    const d = diskWith(conf(['a', 'b', 'c']), [1, 1, 1]);
    const a = node('a', d);
    a.step(voteReq('b', 'a', 3, 1, 2)); // shorter log, higher last term: wins
    expect(drain(a, d).msgs.find((m) => m.type === 'vote-resp')).toMatchObject({ reject: false });
    const d2 = diskWith(conf(['a', 'b', 'c']), [1, 1, 1]);
    const a2 = node('a', d2);
    a2.step(voteReq('b', 'a', 3, 2, 1)); // same term, shorter: loses
    expect(drain(a2, d2).msgs.find((m) => m.type === 'vote-resp')).toMatchObject({ reject: true });
  });

  it('§4.10 split votes converge thanks to randomized timeouts', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const c = new Cluster({ voters: ['a', 'b', 'c', 'd', 'e'], seed: seed * 11, config: { preVote: false } });
      // everyone campaigns at once: likely split
      for (const id of ['a', 'b', 'c', 'd', 'e']) c.raw(id).campaign();
      c.stabilize();
      const l = c.waitLeader(400);
      expect(l).not.toBeNull();
    }
  });

  it('randomized election timeouts fall in [electionTick, 2·electionTick)', () => {
    let v = 0;
    const rnd = (): number => (v = (v + 0.37) % 1);
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const d = diskWith(conf(['a', 'b', 'c']), [1]);
      const a = node('a', d, { random: rnd, preVote: false });
      let t = 0;
      while (a.role === 'follower' && t < 100) {
        a.tick();
        t++;
      }
      seen.add(t);
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('defaults: 150–300 ms election and 50 ms heartbeat at 10 ms ticks, pre-vote and check-quorum on', () => {
    const c = new Cluster({ voters: ['a'] });
    const s = c.raw('a');
    expect(s.role).toBe('follower');
    let t = 0;
    while (s.role !== 'leader' && t < 100) {
      c.tick('a');
      t++;
    }
    expect(t).toBeGreaterThanOrEqual(15);
    expect(t).toBeLessThan(30);
  });
});

export type { Message };
