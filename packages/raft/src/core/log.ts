import { InvalidMessageError } from '../errors.js';
import type { Storage } from './storage.js';
import { entrySize } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The Raft log: stable entries in `Storage`, plus entries (and at most one snapshot) not yet
 * persisted ("unstable").
 *
 * Invariants: `applied <= applying <= committed`; `committed <= lastIndex()`;
 * unstable entries are contiguous and start at `offset`; entries below `offset` are in storage.
 */
export class RaftLog {
  readonly storage: Storage;
  /** A snapshot received from the leader, not yet persisted. */
  snapshot: Snapshot | null = null;
  /** True once `snapshot` was handed to the driver in a Ready. */
  snapshotInProgress = false;
  /** Unstable entries; `entries[0].index === offset`. */
  entries: Entry[] = [];
  offset: number;
  /** Last index handed to the driver for persistence (entries above it are new). */
  inProgress: number;
  /** Highest index known committed. */
  committed: number;
  /** Highest index handed to the driver for applying. */
  applying: number;
  /** Highest index the driver reported applied. */
  applied: number;

  constructor(storage: Storage, applied: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.offset = last + 1;
    this.inProgress = last;
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
    if (applied > this.applied) {
      this.applied = applied;
      this.applying = applied;
    }
  }

  firstIndex(): number {
    if (this.snapshot !== null) return this.snapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    const n = this.entries.length;
    if (n > 0) return this.offset + n - 1;
    if (this.snapshot !== null) return this.snapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Last index that is durable (entries above it may still be in flight to disk). */
  persistedLast(): number {
    if (this.snapshot !== null) return this.snapshot.meta.index - 1;
    return this.entries.length > 0 ? this.offset - 1 : this.lastIndex();
  }

  /** Term of the entry at `i`, or -1 when `i` is compacted or beyond the last index. */
  term(i: number): number {
    const off = this.offset;
    if (i >= off) {
      const e = this.entries[i - off];
      if (e !== undefined) return e.term;
      if (this.entries.length > 0) return -1;
    }
    const snap = this.snapshot;
    if (snap !== null) {
      if (i === snap.meta.index) return snap.meta.term;
      if (i < snap.meta.index) return -1;
      return -1;
    }
    const dummy = this.storage.firstIndex() - 1;
    if (i < dummy || i > this.storage.lastIndex()) return -1;
    return this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft §5.4.1: is (lastTerm, lastIndex) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const lt = this.lastTerm();
    return lastTerm > lt || (lastTerm === lt && lastIndex >= this.lastIndex());
  }

  /**
   * The first index of `ents` that conflicts with (or extends) the log, or 0 when every entry
   * is already present with the same term.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index `<= index` whose term is `<= term` (or the first
   * index - 1 when the log was compacted below it).
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === -1) return i; // compacted: cannot look further back
      if (t <= term) return i;
    }
    return 0;
  }

  /**
   * Append `ents` (which follow `prevIndex`/`prevTerm`) if the log matches at prevIndex. Only
   * truncates on a real conflict. Returns the index of the last new entry, or -1 on mismatch.
   * Never commits beyond that last verified index. Throws `commit-regression` (before
   * changing anything) if the append would overwrite a committed entry.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new InvalidMessageError('commit-regression', 'entries', `entry ${ci} conflicts with committed ${this.committed}`);
      }
      const start = ci - (prevIndex + 1);
      this.append(start === 0 ? ents : ents.slice(start));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Append one entry right after the last index (the leader's hot path). */
  appendNext(e: Entry): void {
    if (this.entries.length === 0) this.offset = e.index;
    this.entries.push(e);
  }

  /** Append to the unstable log, truncating any suffix that the first entry overlaps. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = (ents[0] as Entry).index;
    const un = this.entries;
    const end = this.offset + un.length;
    if (first === end) {
      for (const e of ents) un.push(e);
    } else if (first <= this.offset) {
      // Replace all unstable entries (and shadow storage entries from `first`).
      this.offset = first;
      this.entries = ents.slice();
    } else {
      un.length = first - this.offset;
      for (const e of ents) un.push(e);
    }
    if (first - 1 < this.inProgress) this.inProgress = first - 1;
  }

  /** Entries in `[lo, hi)` limited to `maxBytes` (at least one); `null` if `lo` is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | null {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return null;
    const off = this.offset;
    let out: Entry[];
    if (lo < off) {
      const stHi = Math.min(hi, off);
      out = this.storage.entries(lo, stHi, maxBytes);
      if (out.length < stHi - lo || hi <= off) return out;
      let size = 0;
      for (const e of out) size += entrySize(e);
      for (let i = 0; i < hi - off; i++) {
        const e = this.entries[i] as Entry;
        size += entrySize(e);
        if (size > maxBytes) break;
        out.push(e);
      }
      return out;
    }
    out = [];
    let size = 0;
    for (let i = lo - off; i < hi - off; i++) {
      const e = this.entries[i] as Entry;
      size += entrySize(e);
      if (size > maxBytes && out.length > 0) break;
      out.push(e);
    }
    return out;
  }

  commitTo(i: number): void {
    if (i > this.committed) this.committed = i;
  }

  /** Unstable entries not yet handed out for persistence. */
  nextUnstable(): Entry[] {
    const from = this.inProgress + 1 - this.offset;
    if (from >= this.entries.length) return [];
    return from <= 0 ? this.entries.slice() : this.entries.slice(from);
  }

  hasNextUnstable(): boolean {
    return this.inProgress + 1 - this.offset < this.entries.length;
  }

  /** Highest index that may be handed out for applying (committed and durable). */
  maxApplicable(): number {
    if (this.snapshot !== null) return this.applying;
    return Math.min(this.committed, this.persistedLast());
  }

  hasNextCommitted(): boolean {
    return this.maxApplicable() > this.applying;
  }

  nextCommitted(maxBytes: number): Entry[] {
    const hi = this.maxApplicable();
    if (hi <= this.applying) return [];
    return this.slice(this.applying + 1, hi + 1, maxBytes) ?? [];
  }

  /** The driver persisted entries up to `(i, t)`: drop them from the unstable log. */
  stableTo(i: number, t: number): void {
    if (i < this.offset) return;
    const e = this.entries[i - this.offset];
    if (e === undefined || e.term !== t) return; // overwritten meanwhile (ABA): keep unstable
    const n = i + 1 - this.offset;
    this.entries = n === this.entries.length ? [] : this.entries.slice(n);
    this.offset = i + 1;
    if (this.inProgress < i) this.inProgress = i;
  }

  /** The driver persisted the unstable snapshot with index `i`. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== null && this.snapshot.meta.index === i) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /** Replace the log with a snapshot (follower install). */
  restore(snap: Snapshot): void {
    this.snapshot = snap;
    this.snapshotInProgress = false;
    this.entries = [];
    this.offset = snap.meta.index + 1;
    this.inProgress = snap.meta.index;
    this.committed = snap.meta.index;
    this.applying = snap.meta.index;
    // `applied` moves when the driver reports the snapshot persisted and restored.
  }

  appliedTo(i: number): void {
    if (i > this.applied) this.applied = i;
    if (i > this.applying) this.applying = i;
  }
}
