import { RaftError } from '../errors.js';
import type { ConfState, Entry, HardState, InitialState, Snapshot } from './types.js';
import { EMPTY_CONF_STATE, EMPTY_HARD_STATE } from './types.js';

/**
 * The read side of Raft storage, used by the core (etcd-style). All methods are synchronous:
 * implementations keep what they need in memory (or cache it) and make it durable on writes the
 * driver performs between `ready()` and `advance()`.
 *
 * Ownership: the core never mutates returned arrays or entries; implementations must not mutate
 * entries after handing them out either.
 *
 * Errors: `entries`/`term` throw `RaftError('compacted')` for an index below `firstIndex() - 1`
 * (or `< firstIndex()` for `entries`) and `RaftError('unavailable')` for an index above
 * `lastIndex()`. `snapshot` may throw `RaftError('snapshot-unavailable')` when a snapshot is
 * being created; the core retries later.
 */
export interface Storage {
  /**
   * Hard state saved by the last run. (`confState` is informational: the core takes membership
   * from `snapshot().meta.conf` and replays `conf-change` entries up to the applied index, so
   * membership is always "as of the applied index".)
   */
  initialState(): InitialState;
  /**
   * Entries in `[lo, hi)`. When `maxBytes` is given the result is cut so that its total
   * `entrySize` does not exceed it, but it always contains at least one entry if `lo < hi`.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** Term of the entry at `index`; valid for `firstIndex() - 1 <= index <= lastIndex()`. */
  term(index: number): number;
  /** First index still available in the log (snapshot index + 1). */
  firstIndex(): number;
  /** Last index in the log (the snapshot index when the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

/** Size accounting used for every byte limit (message size, in-flight bytes, uncommitted bytes). */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 24;
}

/** Total `entrySize` of `entries`. */
export function entriesSize(entries: readonly Entry[]): number {
  let n = 0;
  for (const e of entries) n += entrySize(e);
  return n;
}

/** Cut `entries` so their size stays within `maxBytes` (keeping at least one entry). */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySize(entries[0] as Entry);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n] as Entry);
    if (size > maxBytes) break;
  }
  if (n < entries.length) entries.length = n;
  return entries;
}

function emptySnapshot(): Snapshot {
  return { meta: { index: 0, term: 0, conf: EMPTY_CONF_STATE }, data: new Uint8Array(0) };
}

/**
 * In-memory `Storage`, also writable (the driver calls `append`, `setHardState`,
 * `applySnapshot` with what `ready()` returns). Good for tests, simulations and single-process
 * benchmarks; nothing survives the process.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot = emptySnapshot();
  /** `#ents[0]` is a dummy whose index/term are the snapshot's. */
  #ents: Entry[] = [{ term: 0, index: 0, type: 'noop', data: new Uint8Array(0) }];

  /** A storage for a brand new cluster member with the given initial membership. */
  static withConf(conf: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.#snapshot = { meta: { index: 0, term: 0, conf }, data: new Uint8Array(0) };
    return s;
  }

  initialState(): InitialState {
    return { hardState: this.#hardState, confState: this.#snapshot.meta.conf };
  }

  /** The hard state last written. */
  get hardState(): HardState {
    return this.#hardState;
  }

  setHardState(hs: HardState): void {
    this.#hardState = hs;
  }

  #offset(): number {
    return (this.#ents[0] as Entry).index;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1;
  }

  term(index: number): number {
    const off = this.#offset();
    if (index < off) throw new RaftError('compacted', `term(${index}): compacted (first index ${off + 1})`);
    const e = this.#ents[index - off];
    if (e === undefined) throw new RaftError('unavailable', `term(${index}): beyond last index ${this.lastIndex()}`);
    return e.term;
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    const off = this.#offset();
    if (lo <= off) throw new RaftError('compacted', `entries(${lo}): compacted (first index ${off + 1})`);
    if (hi > this.lastIndex() + 1) throw new RaftError('unavailable', `entries(${lo}, ${hi}): beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    const out = this.#ents.slice(lo - off, hi - off);
    return maxBytes === undefined ? out : limitSize(out, maxBytes);
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /**
   * Append entries, truncating any existing suffix they overlap (a new leader overwrote it).
   * Entries must be contiguous and must not start beyond `lastIndex() + 1`.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    const off = this.#offset();
    if (first + entries.length - 1 <= off) return; // all compacted already
    const start = Math.max(first, off + 1);
    if (start > this.lastIndex() + 1) {
      throw new RaftError('invalid-argument', `append: gap (first ${first}, last index ${this.lastIndex()})`);
    }
    this.#ents.length = start - off; // truncate conflicting / overlapping suffix
    for (let i = start - first; i < entries.length; i++) this.#ents.push(entries[i] as Entry);
  }

  /** Replace everything with the snapshot (the log restarts after `snap.meta.index`). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index < this.#snapshot.meta.index) {
      throw new RaftError('snapshot-out-of-date', `applySnapshot: ${snap.meta.index} < ${this.#snapshot.meta.index}`);
    }
    this.#snapshot = snap;
    this.#ents = [{ term: snap.meta.term, index: snap.meta.index, type: 'noop', data: new Uint8Array(0) }];
  }

  /**
   * Record a snapshot of the state machine as of `index` (≤ applied). Does not compact; call
   * `compact` to discard log entries (keeping some trailing entries helps slow followers).
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.meta.index) {
      throw new RaftError('snapshot-out-of-date', `createSnapshot: ${index} <= ${this.#snapshot.meta.index}`);
    }
    if (index > this.lastIndex()) throw new RaftError('unavailable', `createSnapshot: ${index} > last index ${this.lastIndex()}`);
    const snap: Snapshot = { meta: { index, term: this.term(index), conf }, data };
    this.#snapshot = snap;
    return snap;
  }

  /** Discard entries up to and including `index` (which must be ≤ the snapshot index... or applied). */
  compact(index: number): void {
    const off = this.#offset();
    if (index <= off) return;
    if (index > this.lastIndex()) throw new RaftError('unavailable', `compact: ${index} > last index ${this.lastIndex()}`);
    const e = this.#ents[index - off] as Entry;
    const rest = this.#ents.slice(index - off + 1);
    this.#ents = [{ term: e.term, index: e.index, type: 'noop', data: new Uint8Array(0) }, ...rest];
  }
}
