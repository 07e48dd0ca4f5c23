import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';

const enc = new TextEncoder();

describe('election', () => {
  it('elects a leader in a 3-node cluster and replicates', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    expect(c.elect('a')).toBe('a');
    const a = c.raw('a');
    expect(a.term).toBe(2); // term 1 is the bootstrap entry's
    const idx = a.propose(enc.encode('x'));
    c.stabilize();
    for (const id of ['a', 'b', 'c']) {
      expect(c.raw(id).commitIndex).toBe(idx);
      expect(c.node(id).applied.map((e) => e.type)).toEqual(['conf-change', 'noop', 'normal']);
    }
  });

  it('elects a leader by ticking', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 7 });
    const l = c.waitLeader();
    expect(l).not.toBeNull();
  });

  it('single node commits only after persisting', () => {
    const c = new Cluster({ voters: ['a'] });
    expect(c.elect('a')).toBe('a');
    const a = c.raw('a');
    const idx = a.propose(enc.encode('x'));
    const rd = a.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([idx]);
    expect(rd.committedEntries).toHaveLength(0);
    expect(a.commitIndex).toBe(idx - 1);
    c.node('a').disk.append(rd.entries);
    a.advance(rd);
    expect(a.commitIndex).toBe(idx);
  });
});
