import { seededRandom } from '../core/config.js';
import { RawNode } from '../core/raft.js';
import type { Storage } from '../core/storage.js';
import { entrySize } from '../core/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../core/types.js';
import { isRaftError } from '../errors.js';

/** What a storage under test must contain when the suite creates it. */
export interface StorageFixture {
  readonly snapshot: Snapshot;
  /** Entries following the snapshot (contiguous from `snapshot.meta.index + 1`). */
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

/** The test functions of your runner (vitest, node:test, …), so this module imports none. */
export interface TestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => void | Promise<void>): void;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new Error(`storage conformance: ${msg}`);
}

function expectCode(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (e) {
    check(isRaftError(e) && e.code === code, `${what}: expected RaftError '${code}', got ${String(e)}`);
    return;
  }
  throw new Error(`storage conformance: ${what}: expected RaftError '${code}', nothing was thrown`);
}

const CONF: ConfState = { voters: ['a'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, removed: [] };

function fixture(snapIndex: number, snapTerm: number, count: number): StorageFixture {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = snapIndex + 1 + i;
    entries.push({ index, term: snapTerm + Math.floor(i / 3), type: 'normal', data: new Uint8Array(10 + (i % 5)).fill(i & 0xff) });
  }
  const last = entries.at(-1);
  return {
    snapshot: { meta: { index: snapIndex, term: snapTerm, conf: CONF }, data: new Uint8Array([1, 2, 3]) },
    entries,
    hardState: { term: last?.term ?? snapTerm, vote: 'a', commit: snapIndex },
  };
}

/**
 * A conformance suite for implementations of the core's synchronous `Storage` read contract
 * (the interface `RawNode` reads through). `create` must return a storage holding exactly the
 * fixture. (For the durable, writable `RaftStorage` of `@abi/raft/node` use its
 * `storageConformance` suite.)
 */
export function storageReadConformance(name: string, create: (f: StorageFixture) => Storage, t: TestApi): void {
  t.describe(`Storage read contract: ${name}`, () => {
    t.it('reports bounds of an empty log', () => {
      const s = create(fixture(0, 0, 0));
      check(s.firstIndex() === 1, `firstIndex() of an empty log is 1 (got ${s.firstIndex()})`);
      check(s.lastIndex() === 0, `lastIndex() of an empty log is 0 (got ${s.lastIndex()})`);
      check(s.term(0) === 0, 'term(0) is 0');
      check(s.entries(1, 1).length === 0, 'entries(1, 1) is empty');
    });

    t.it('reports bounds, terms and entries after a snapshot (log base offset)', () => {
      const f = fixture(10, 3, 9);
      const s = create(f);
      check(s.firstIndex() === 11, `firstIndex() is snapshot index + 1 (got ${s.firstIndex()})`);
      check(s.lastIndex() === 19, `lastIndex() is 19 (got ${s.lastIndex()})`);
      check(s.term(10) === 3, 'term(snapshot index) is the snapshot term');
      for (const e of f.entries) check(s.term(e.index) === e.term, `term(${e.index})`);
      const all = s.entries(11, 20);
      check(all.length === 9, `entries(11, 20) returns 9 entries (got ${all.length})`);
      all.forEach((e, i) => {
        const want = f.entries[i] as Entry;
        check(e.index === want.index && e.term === want.term && e.type === want.type, `entry ${want.index} metadata`);
        check(Buffer.from(e.data).equals(Buffer.from(want.data)), `entry ${want.index} data`);
      });
      const mid = s.entries(13, 16);
      check(mid.length === 3 && mid[0]?.index === 13, 'entries(13, 16) is [13, 14, 15]');
    });

    t.it('limits entries by size but always returns at least one', () => {
      const f = fixture(0, 1, 6);
      const s = create(f);
      check(s.entries(1, 7, 1).length === 1, 'maxBytes smaller than one entry still returns one entry');
      const two = entrySize(f.entries[0] as Entry) + entrySize(f.entries[1] as Entry);
      check(s.entries(1, 7, two).length === 2, 'maxBytes for exactly two entries returns two');
      check(s.entries(1, 7, Number.MAX_SAFE_INTEGER).length === 6, 'no limit returns all');
    });

    t.it("throws 'compacted' and 'unavailable' out of range", () => {
      const s = create(fixture(10, 3, 4));
      expectCode(() => s.term(9), 'compacted', 'term below the snapshot index');
      expectCode(() => s.entries(10, 12), 'compacted', 'entries starting at the snapshot index');
      expectCode(() => s.term(15), 'unavailable', 'term beyond the last index');
      expectCode(() => s.entries(12, 16), 'unavailable', 'entries beyond the last index');
    });

    t.it('returns the snapshot and the hard state', () => {
      const f = fixture(10, 3, 2);
      const s = create(f);
      const snap = s.snapshot();
      check(snap.meta.index === 10 && snap.meta.term === 3, 'snapshot meta');
      check(Buffer.from(snap.data).equals(Buffer.from(f.snapshot.data)), 'snapshot data');
      check(JSON.stringify(snap.meta.conf.voters) === JSON.stringify(CONF.voters), 'snapshot membership');
      const hs = s.initialState().hardState;
      check(hs.term === f.hardState.term && hs.vote === f.hardState.vote && hs.commit === f.hardState.commit, 'initialState().hardState');
    });

    t.it('drives a RawNode: restart, elect, replay committed entries', () => {
      const f = fixture(4, 2, 5);
      const s = create({ ...f, hardState: { ...f.hardState, commit: 9 } });
      const n = new RawNode({ id: 'a', storage: s, random: seededRandom(1), applied: 4 });
      check(n.commitIndex === 9, `commit index restored (got ${n.commitIndex})`);
      const rd = n.ready();
      check(rd.committedEntries.map((e) => e.index).join() === '5,6,7,8,9', 'entries 5..9 are handed out for applying');
      n.advance(rd);
      n.campaign();
      check(n.role === 'leader', 'a single voter elects itself');
    });
  });
}
