// Crash points and torn writes at the core level (raft-anchors.md §4, 43–45). The file format
// side (CRC, torn-tail truncation, mid-log corruption) is tested with FileStorage in test/node.
import { describe, expect, it } from 'vitest';
import { Cluster, MemoryNode } from '../../src/testing/index.js';
import { enc } from './helpers.js';

describe('§4 durability and recovery at the core level', () => {
  it('§4.43 a torn tail (a prefix of the last write) is recovered from and nothing acknowledged is lost', () => {
    for (let keep = 0; keep <= 3; keep++) {
      for (const keepHardState of [false, true]) {
        const c = new Cluster({ voters: ['a', 'b', 'c'] });
        c.elect('a');
        const acked = c.raw('a').propose(enc('acked'));
        c.stabilize();
        for (let i = 0; i < 3; i++) c.raw('a').propose(enc(`torn${i}`));
        c.process(); // followers get the appends
        // b crashes in the middle of writing them
        const b = c.node('b');
        c.deliver();
        const sent: unknown[] = [];
        b.process((m) => sent.push(m), { keepEntries: keep, keepHardState });
        expect(sent.filter((m) => (m as { type: string }).type === 'app-resp')).toHaveLength(0); // nothing acked
        c.crash('b');
        c.restart('b');
        expect(c.raw('b').lastIndex).toBeGreaterThanOrEqual(acked);
        for (let i = 0; i < 6; i++) {
          c.tickAll(5);
          c.stabilize();
        }
        const l = c.leader() as string;
        for (const id of ['a', 'b', 'c']) {
          expect(c.raw(id).commitIndex, `keep=${keep} hs=${keepHardState}`).toBe(c.raw(l).commitIndex);
          expect(c.node(id).disk.entries(acked, acked + 1)[0]?.data).toEqual(enc('acked'));
        }
      }
    }
  });

  it('§4.44 a driver that cannot persist never advances: the leader never counts itself, nothing is acknowledged', () => {
    const c = new Cluster({ voters: ['a'] });
    c.elect('a');
    const a = c.raw('a');
    const idx = a.propose(enc('x'));
    const rd = a.ready();
    // the write failed: the driver stops (no advance); the entry is never committed
    expect(rd.committedEntries.map((e) => e.index)).not.toContain(idx);
    expect(a.commitIndex).toBeLessThan(idx);
    expect(() => a.ready()).toThrow(/advance/);
  });

  it('§4.45 crash at every Ready boundary of a short run: the cluster recovers and agrees', () => {
    // Count the Readys node b handles in a reference run, then crash b at each one in turn.
    const run = (crashAt: number): void => {
      const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 5 });
      const b = c.node('b');
      let n = 0;
      const orig = b.process.bind(b);
      let crashed = false;
      b.process = (send, crash) => {
        if (!crashed && crash === undefined && b.raw.hasReady() && n++ === crashAt) {
          crashed = true;
          orig(send, { keepEntries: crashAt % 3, keepHardState: crashAt % 2 === 0 });
          c.crash('b');
          return false;
        }
        return orig(send, crash);
      };
      c.elect('a');
      for (let i = 0; i < 4; i++) {
        c.raw('a').propose(enc(`w${i}`));
        c.stabilize();
      }
      expect(crashed, `b handled fewer than ${crashAt + 1} Readys`).toBe(true);
      c.restart('b');
      for (let i = 0; i < 8; i++) {
        c.tickAll(5);
        c.stabilize();
      }
      const l = c.leader() as string;
      expect(l).not.toBeNull();
      const ref = c.node(l).applied.map((e) => `${e.index}/${e.term}`);
      for (const id of ['a', 'b', 'c']) {
        const got = c.node(id).applied.map((e) => `${e.index}/${e.term}`);
        // every node's applied sequence is a prefix-consistent view of the leader's
        for (const k of got) if (Number(k.split('/')[0]) <= ref.length) expect(ref).toContain(k);
        expect(c.raw(id).commitIndex, `crash at ${crashAt}`).toBe(c.raw(l).commitIndex);
      }
    };
    for (let k = 0; k < 12; k++) run(k);
  });

  it('restarting from the disk keeps term and vote (they are persisted with the vote)', () => {
    const n = new MemoryNode({ id: 'a', bootstrap: ['a', 'b', 'c'] });
    n.process(() => undefined);
    n.raw.campaign();
    n.process(() => undefined);
    const { term, vote } = n.disk.hardState;
    n.restart();
    expect(n.raw.term).toBe(term);
    expect(n.raw.status().vote).toBe(vote);
  });
});
