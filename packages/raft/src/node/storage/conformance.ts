import assert from 'node:assert/strict';
import type { ConfState, Entry, HardState } from '../../core/types.js';
import { isRaftError } from '../../errors.js';
import type { RaftStorage } from './raft-storage.js';

/** The test-registration functions the suite needs (vitest's, `node:test`'s, jest's...). */
export interface TestApi {
  readonly describe: (name: string, fn: () => void) => void;
  readonly it: (name: string, fn: () => Promise<void>) => void;
}

export interface StorageFactory {
  /** A fresh, empty storage bootstrapped with `conf`. */
  create(conf: ConfState): Promise<RaftStorage>;
  /**
   * Optional, for durable storages: close `s` and open the same data again. When given, every
   * check is also run across a reopen (what was acknowledged must survive it).
   */
  reopen?(s: RaftStorage): Promise<RaftStorage>;
  /** Optional cleanup after each check. */
  cleanup?(): Promise<void>;
}

const CONF: ConfState = { voters: ['a', 'b', 'c'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, removed: [] };

function ent(index: number, term: number, text = `v${index}`): Entry {
  return { index, term, type: 'normal', data: new TextEncoder().encode(text) };
}

function range(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term));
  return out;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isRaftError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

async function asyncCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isRaftError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

function sameEntries(actual: readonly Entry[], expected: readonly Entry[]): void {
  assert.equal(actual.length, expected.length, 'entry count');
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as Entry;
    const e = expected[i] as Entry;
    assert.equal(a.index, e.index, `index of entry ${i}`);
    assert.equal(a.term, e.term, `term of entry ${e.index}`);
    assert.equal(a.type, e.type, `type of entry ${e.index}`);
    assert.deepEqual(Buffer.from(a.data), Buffer.from(e.data), `data of entry ${e.index}`);
  }
}

/**
 * Registers the `RaftStorage` conformance checks for a storage implementation. Run it from your
 * own test file, e.g. with vitest:
 *
 * ```ts
 * import { describe, it } from 'vitest';
 * import { storageConformance } from '@abi/raft/node';
 * storageConformance('MyStorage', { create: (conf) => MyStorage.open(tmpdir(), { conf }) }, { describe, it });
 * ```
 *
 * The checks assert on error `code`s (`compacted`, `unavailable`, `snapshot-out-of-date`,
 * `invalid-argument`, `closed`), never on messages.
 */
export function storageConformance(name: string, factory: StorageFactory, t: TestApi): void {
  const { describe, it } = t;
  const phases: ('live' | 'reopened')[] = factory.reopen === undefined ? ['live'] : ['live', 'reopened'];

  const check = (title: string, body: (s: RaftStorage, settle: (s: RaftStorage) => Promise<RaftStorage>) => Promise<RaftStorage>): void => {
    for (const phase of phases) {
      it(`${title}${phase === 'reopened' ? ' (after reopen)' : ''}`, async () => {
        let s = await factory.create(CONF);
        const settle = async (x: RaftStorage): Promise<RaftStorage> => (phase === 'reopened' && factory.reopen !== undefined ? factory.reopen(x) : x);
        try {
          s = await body(s, settle);
        } finally {
          await s.close();
          await factory.cleanup?.();
        }
      });
    }
  };

  describe(`RaftStorage conformance: ${name}`, () => {
    check('a fresh storage is empty and reports the bootstrap membership', async (s0, settle) => {
      const s = await settle(s0);
      assert.equal(s.firstIndex(), 1);
      assert.equal(s.lastIndex(), 0);
      assert.equal(s.term(0), 0);
      assert.deepEqual(s.initialState().hardState, { term: 0, vote: null, commit: 0 });
      assert.deepEqual([...s.initialState().confState.voters], [...CONF.voters]);
      assert.equal(code(() => s.term(1)), 'unavailable');
      assert.deepEqual(s.entries(1, 1), []);
      assert.equal(code(() => s.entries(1, 2)), 'unavailable');
      return s;
    });

    check('appended entries are read back, terms and bounds are right', async (s0, settle) => {
      const ents = [...range(1, 3, 1), ...range(4, 6, 2)];
      await s0.append(ents);
      const s = await settle(s0);
      assert.equal(s.firstIndex(), 1);
      assert.equal(s.lastIndex(), 6);
      assert.equal(s.term(3), 1);
      assert.equal(s.term(4), 2);
      sameEntries(s.entries(1, 7), ents);
      sameEntries(s.entries(2, 4), ents.slice(1, 3));
      assert.equal(code(() => s.entries(0, 2)), 'compacted');
      assert.equal(code(() => s.entries(5, 8)), 'unavailable');
      assert.equal(code(() => s.term(7)), 'unavailable');
      return s;
    });

    check('entries(lo, hi, maxBytes) cuts by size but returns at least one entry', async (s0, settle) => {
      await s0.append(range(1, 10, 1));
      const s = await settle(s0);
      assert.equal(s.entries(1, 11, 0).length, 1);
      const one = s.entries(1, 2)[0] as Entry;
      const per = one.data.byteLength + 24;
      assert.equal(s.entries(1, 11, per * 3).length, 3);
      assert.equal(s.entries(1, 11, per * 3 + per - 1).length, 3);
      assert.equal(s.entries(1, 11).length, 10);
      return s;
    });

    check('an append overlapping the log truncates the conflicting suffix', async (s0, settle) => {
      await s0.append(range(1, 5, 1));
      await s0.append([ent(3, 2, 'x3'), ent(4, 2, 'x4')]);
      let s = await settle(s0);
      assert.equal(s.lastIndex(), 4);
      assert.equal(s.term(2), 1);
      assert.equal(s.term(3), 2);
      sameEntries(s.entries(3, 5), [ent(3, 2, 'x3'), ent(4, 2, 'x4')]);
      // appending again after the truncation point continues the new suffix
      await s.append([ent(5, 2)]);
      s = await settle(s);
      assert.equal(s.lastIndex(), 5);
      assert.equal(s.term(5), 2);
      return s;
    });

    check('an append leaving a gap is refused and changes nothing', async (s0, settle) => {
      await s0.append(range(1, 3, 1));
      assert.equal(await asyncCode(s0.append([ent(5, 1)])), 'invalid-argument');
      const s = await settle(s0);
      assert.equal(s.lastIndex(), 3);
      return s;
    });

    check('hard state is stored and term/vote/commit come back together', async (s0, settle) => {
      await s0.append(range(1, 4, 1));
      const hs: HardState = { term: 3, vote: 'b', commit: 2 };
      await s0.setHardState(hs);
      await s0.setHardState({ term: 3, vote: 'b', commit: 4 });
      const s = await settle(s0);
      const got = s.initialState().hardState;
      assert.equal(got.term, 3);
      assert.equal(got.vote, 'b');
      assert.ok(got.commit >= 2 && got.commit <= 4, `commit ${got.commit} within [2, 4]`);
      return s;
    });

    check('a new term clears the vote atomically', async (s0, settle) => {
      await s0.setHardState({ term: 1, vote: 'a', commit: 0 });
      await s0.setHardState({ term: 2, vote: null, commit: 0 });
      const s = await settle(s0);
      assert.deepEqual({ ...s.initialState().hardState, commit: 0 }, { term: 2, vote: null, commit: 0 });
      return s;
    });

    check('compact discards a prefix and keeps the term of the compaction point', async (s0, settle) => {
      await s0.append([...range(1, 5, 1), ...range(6, 10, 2)]);
      await s0.compact(6);
      const s = await settle(s0);
      assert.equal(s.firstIndex(), 7);
      assert.equal(s.lastIndex(), 10);
      assert.equal(s.term(6), 2);
      assert.equal(code(() => s.term(5)), 'compacted');
      assert.equal(code(() => s.entries(6, 8)), 'compacted');
      sameEntries(s.entries(7, 11), range(7, 10, 2));
      assert.equal(await asyncCode(s.compact(11)), 'unavailable');
      await s.compact(3); // already compacted: no-op
      assert.equal(s.firstIndex(), 7);
      return s;
    });

    check('appending after compaction, and re-appending compacted entries, work', async (s0, settle) => {
      await s0.append(range(1, 5, 1));
      await s0.compact(4);
      await s0.append(range(3, 7, 1)); // 3..4 are compacted and ignored
      const s = await settle(s0);
      assert.equal(s.firstIndex(), 5);
      assert.equal(s.lastIndex(), 7);
      return s;
    });

    check('createSnapshot records a snapshot at an index with its term and membership', async (s0, settle) => {
      await s0.append([...range(1, 3, 1), ...range(4, 6, 2)]);
      const conf: ConfState = { ...CONF, voters: ['a', 'b', 'c', 'd'] };
      const snap = await s0.createSnapshot(5, conf, new TextEncoder().encode('state@5'));
      assert.equal(snap.meta.term, 2);
      assert.equal(await asyncCode(s0.createSnapshot(4, conf, new Uint8Array(0))), 'snapshot-out-of-date');
      const s = await settle(s0);
      const got = s.snapshot();
      assert.equal(got.meta.index, 5);
      assert.equal(got.meta.term, 2);
      assert.deepEqual([...got.meta.conf.voters], ['a', 'b', 'c', 'd']);
      assert.equal(Buffer.from(got.data).toString(), 'state@5');
      assert.equal(s.lastIndex(), 6);
      return s;
    });

    check('applySnapshot replaces the log; an older snapshot is refused', async (s0, settle) => {
      await s0.append(range(1, 5, 1));
      const snap = { meta: { index: 20, term: 4, conf: CONF }, data: new TextEncoder().encode('s20') };
      await s0.applySnapshot(snap);
      let s = await settle(s0);
      assert.equal(s.firstIndex(), 21);
      assert.equal(s.lastIndex(), 20);
      assert.equal(s.term(20), 4);
      assert.equal(s.snapshot().meta.index, 20);
      assert.equal(await asyncCode(s.applySnapshot({ meta: { index: 10, term: 3, conf: CONF }, data: new Uint8Array(0) })), 'snapshot-out-of-date');
      await s.append(range(21, 23, 4));
      s = await settle(s);
      assert.equal(s.lastIndex(), 23);
      assert.equal(s.firstIndex(), 21);
      sameEntries(s.entries(21, 24), range(21, 23, 4));
      return s;
    });

    check('save applies snapshot, then entries, then hard state as one durable step', async (s0, settle) => {
      await s0.append(range(1, 3, 1));
      await s0.save({
        snapshot: { meta: { index: 10, term: 2, conf: CONF }, data: new Uint8Array([1, 2, 3]) },
        entries: range(11, 12, 3),
        hardState: { term: 3, vote: 'c', commit: 12 },
      });
      const s = await settle(s0);
      assert.equal(s.firstIndex(), 11);
      assert.equal(s.lastIndex(), 12);
      assert.equal(s.term(12), 3);
      const hs = s.initialState().hardState;
      assert.equal(hs.term, 3);
      assert.equal(hs.vote, 'c');
      assert.ok(hs.commit >= 10 && hs.commit <= 12);
      return s;
    });

    check('reads reflect a write before its promise settles', async (s, _settle) => {
      const p = s.append(range(1, 2, 1));
      assert.equal(s.lastIndex(), 2);
      await p;
      return s;
    });

    check('after close every call fails with code closed', async (s, _settle) => {
      await s.append(range(1, 2, 1));
      await s.close();
      assert.equal(code(() => s.lastIndex()), 'closed');
      assert.equal(await asyncCode(s.append([ent(3, 1)])), 'closed');
      return s;
    });
  });
}
