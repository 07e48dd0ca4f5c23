import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { limitSize } from '../../core/storage.js';
import type { ConfState, Entry, HardState, InitialState, Snapshot } from '../../core/types.js';
import { EMPTY_CONF_STATE, EMPTY_HARD_STATE } from '../../core/types.js';
import { CorruptionError, RaftError } from '../../errors.js';
import { Reader, Writer, readEntries, readHardState, readSnapshotMeta, writeEntries, writeHardState, writeSnapshotMeta } from '../codec.js';
import { checksum, fsyncDir, readFileOrUndefined, writeFileAtomic } from './fsutil.js';
import type { RaftStorage, SaveOptions, StorageUpdate } from './raft-storage.js';
import { Wal, encodeRecord } from './wal.js';

/** WAL record types (PROTOCOL.md §WAL records). */
export const RECORD = { entries: 1, commit: 2, snapshot: 3, compact: 4 } as const;

export const HARDSTATE_MAGIC = Buffer.from('ABIRHST\0', 'latin1');
export const SNAPSHOT_MAGIC = Buffer.from('ABIRSNP\0', 'latin1');
const FILE_VERSION = 1;
/** Snapshot files kept on disk (newest first); older ones are deleted after a new one is durable. */
const SNAPSHOTS_KEPT = 2;

export interface FileStorageOptions {
  /** Membership to bootstrap a brand-new data directory with (ignored when the dir has state). */
  readonly conf?: ConfState;
  /** WAL segment size before rollover. Default 64 MiB. */
  readonly segmentBytes?: number;
  /**
   * fdatasync before a write's promise resolves. Default true. `false` is only for benchmarks'
   * clearly-labelled upper bounds: a crash may then lose acknowledged writes.
   */
  readonly fsync?: boolean;
}

/** What recovery found, for logs and tests. */
export interface RecoveryInfo {
  readonly walRecords: number;
  readonly tornBytes: number;
  readonly segments: number;
}

/** hard-state file: magic | u32 version | hardState | u32 crc over all preceding bytes. */
export function encodeHardStateFile(hs: HardState): Buffer {
  const w = new Writer(64).bytes(HARDSTATE_MAGIC).u32(FILE_VERSION);
  writeHardState(w, hs);
  const body = w.finish();
  const out = Buffer.allocUnsafe(body.length + 4);
  body.copy(out);
  out.writeUInt32LE(checksum(body), body.length);
  return out;
}

export function decodeHardStateFile(file: string, buf: Buffer): HardState {
  if (buf.length < 16 || !buf.subarray(0, 8).equals(HARDSTATE_MAGIC)) throw new CorruptionError(file, 0, 'bad hard-state magic');
  const body = buf.subarray(0, buf.length - 4);
  if (checksum(body) !== buf.readUInt32LE(buf.length - 4)) throw new CorruptionError(file, buf.length - 4, 'hard-state checksum mismatch');
  const r = new Reader(body, 'hard-state file', 8);
  const v = r.u32('version');
  if (v !== FILE_VERSION) throw new CorruptionError(file, 8, `unsupported hard-state version ${v}`);
  const hs = readHardState(r);
  r.end();
  return hs;
}

/**
 * snapshot file: magic | u32 version | meta | u64 dataLength | data | u32 crc over all preceding
 * bytes. Named `<index:16 hex>-<term:16 hex>.snap`, written to `.tmp`, fsynced, renamed.
 */
export function encodeSnapshotFile(snap: Snapshot): Buffer[] {
  const w = new Writer(128).bytes(SNAPSHOT_MAGIC).u32(FILE_VERSION);
  writeSnapshotMeta(w, snap.meta);
  w.u64(snap.data.length);
  const head = Buffer.from(w.finish());
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32LE(checksum(snap.data, checksum(head)));
  return [head, Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength), crc];
}

export function decodeSnapshotFile(file: string, buf: Buffer): Snapshot {
  if (buf.length < 16 || !buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) throw new CorruptionError(file, 0, 'bad snapshot magic');
  const body = buf.subarray(0, buf.length - 4);
  if (checksum(body) !== buf.readUInt32LE(buf.length - 4)) throw new CorruptionError(file, buf.length - 4, 'snapshot checksum mismatch');
  const r = new Reader(body, 'snapshot file', 8);
  const v = r.u32('version');
  if (v !== FILE_VERSION) throw new CorruptionError(file, 8, `unsupported snapshot version ${v}`);
  const meta = readSnapshotMeta(r);
  const n = r.u64('dataLength');
  const data = new Uint8Array(r.bytes(n, 'data'));
  r.end();
  return { meta, data };
}

function snapshotName(index: number, term: number): string {
  return `${index.toString(16).padStart(16, '0')}-${term.toString(16).padStart(16, '0')}.snap`;
}

interface Job {
  /** Runs before this job's records are written (after earlier records are durable). */
  readonly pre?: () => Promise<void>;
  readonly records: Buffer[];
  /** Max entry index in `records` (for segment bookkeeping), 0 if none. */
  readonly maxIndex: number;
  /** Commit recorded by this job, if any. */
  readonly commit?: number;
  /** Runs after this job's records are durable. Receives the seq they went to. */
  readonly post?: (seq: number) => Promise<void>;
  /** False: resolve once written; durability comes with the next synced job. */
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

const dummy = (index: number, term: number): Entry => ({ index, term, type: 'noop', data: new Uint8Array(0) });

/**
 * Durable `RaftStorage` in a data directory: a segmented WAL (entries, commit, snapshot and
 * compaction markers, each record with length + type + CRC-32), an atomically replaced hard-state
 * file and atomically renamed snapshot files. All live entries are also kept in memory, so the
 * core's synchronous reads never touch the disk.
 *
 * Writes are group-committed: writes issued while an fdatasync is in flight are coalesced into
 * the next write(2) + fdatasync.
 */
export class FileStorage implements RaftStorage {
  readonly dir: string;
  readonly recovery: RecoveryInfo;
  readonly #wal: Wal;
  readonly #snapDir: string;
  #hs: HardState;
  /** Term and vote as last written to the hard-state file. */
  #fileHs: HardState;
  #durableCommit: number;
  /** Commit written by a lazy (unsynced) save, durable with the next sync. */
  #lazyCommit = -1;
  #snapshot: Snapshot;
  /** `#ents[0]` is a dummy holding the base (compaction point) index and term. */
  #ents: Entry[];
  /** Max entry index ever written into each live segment. */
  readonly #segMax = new Map<number, number>();
  #queue: Job[] = [];
  #flushing = false;
  #failed: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #idle: (() => void)[] = [];

  private constructor(
    dir: string,
    wal: Wal,
    hs: HardState,
    snapshot: Snapshot,
    ents: Entry[],
    segMax: Map<number, number>,
    recovery: RecoveryInfo,
  ) {
    this.dir = dir;
    this.#wal = wal;
    this.#snapDir = path.join(dir, 'snap');
    this.#hs = hs;
    this.#fileHs = hs;
    this.#durableCommit = hs.commit;
    this.#snapshot = snapshot;
    this.#ents = ents;
    this.#segMax = segMax;
    this.recovery = recovery;
  }

  /**
   * Opens (or creates) the storage in `dir` and recovers it: loads the newest snapshot and the
   * hard state, replays the WAL, truncates a torn tail. Throws `CorruptionError` (code `corrupt`)
   * for damage that is not a torn tail.
   */
  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    await fsp.mkdir(path.join(dir, 'snap'), { recursive: true });
    const snapDir = path.join(dir, 'snap');
    const walDir = path.join(dir, 'wal');
    const fresh = !(await exists(walDir)) && !(await exists(path.join(dir, 'hardstate')));
    for (const n of await fsp.readdir(snapDir)) if (n.endsWith('.tmp')) await fsp.rm(path.join(snapDir, n), { force: true });
    await fsp.rm(path.join(dir, 'hardstate.tmp'), { force: true });

    let snapshot: Snapshot | undefined;
    const snaps = (await fsp.readdir(snapDir)).filter((n) => /^[0-9a-f]{16}-[0-9a-f]{16}\.snap$/.test(n)).sort();
    const newest = snaps[snaps.length - 1];
    if (newest !== undefined) {
      const file = path.join(snapDir, newest);
      snapshot = decodeSnapshotFile(file, await fsp.readFile(file));
    }
    if (snapshot === undefined) {
      snapshot = { meta: { index: 0, term: 0, conf: options.conf ?? EMPTY_CONF_STATE }, data: new Uint8Array(0) };
      if (fresh && options.conf !== undefined) {
        await writeFileAtomic(snapDir, snapshotName(0, 0), Buffer.concat(encodeSnapshotFile(snapshot)), options.fsync ?? true);
        await fsyncDir(dir);
      }
    }

    const hsFile = path.join(dir, 'hardstate');
    const hsBuf = await readFileOrUndefined(hsFile);
    let hs = hsBuf === undefined ? EMPTY_HARD_STATE : decodeHardStateFile(hsFile, hsBuf);

    const walOpts = {
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
      ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    };
    const { wal, records, truncatedBytes } = await Wal.open(walDir, walOpts);
    if (fresh) await fsyncDir(dir);

    // Replay. `base` is the index before the first live entry; baseTerm -1 = not yet known.
    let base = 0;
    let baseTerm = 0;
    let started = false;
    let log: Entry[] = [];
    let commit = hs.commit;
    const segMax = new Map<number, number>();
    for (const s of wal.segmentSeqs) segMax.set(s, 0);
    const walFile = (seq: number): string => path.join(walDir, `${seq.toString(16).padStart(16, '0')}.wal`);
    for (const rec of records) {
      const r = new Reader(rec.payload, 'WAL record');
      try {
        switch (rec.type) {
          case RECORD.entries: {
            const ents = readEntries(r, true);
            r.end();
            const first = ents[0];
            if (first === undefined) break;
            const lastIdx = first.index + ents.length - 1;
            segMax.set(rec.seq, Math.max(segMax.get(rec.seq) ?? 0, lastIdx));
            if (!started) {
              started = true;
              base = first.index - 1;
              baseTerm = base === 0 ? 0 : -1;
            }
            if (lastIdx <= base) break;
            const startIdx = Math.max(first.index, base + 1);
            const last = base + log.length;
            if (startIdx > last + 1) {
              throw new CorruptionError(walFile(rec.seq), 0, `WAL gap: entries start at ${startIdx} but the log ends at ${last}`);
            }
            log.length = startIdx - base - 1;
            for (let i = startIdx - first.index; i < ents.length; i++) log.push(ents[i] as Entry);
            break;
          }
          case RECORD.commit: {
            commit = Math.max(commit, r.u64('commit'));
            r.end();
            break;
          }
          case RECORD.snapshot:
          case RECORD.compact: {
            const idx = r.u64('index');
            const term = r.u64('term');
            r.end();
            started = true;
            if (rec.type === RECORD.snapshot || idx >= base + log.length) {
              log = [];
            } else if (idx > base) {
              log = log.slice(idx - base);
            }
            if (rec.type === RECORD.snapshot || idx >= base) {
              base = idx;
              baseTerm = term;
            }
            break;
          }
          default:
            throw new CorruptionError(walFile(rec.seq), 0, `unknown WAL record type ${rec.type}`);
        }
      } catch (e) {
        if (e instanceof RaftError && e.code === 'invalid-message') {
          throw new CorruptionError(walFile(rec.seq), 0, `undecodable WAL record: ${e.message}`, { cause: e });
        }
        throw e;
      }
    }
    // Reconcile with the newest snapshot file.
    const si = snapshot.meta.index;
    if (si > base || (si === base && baseTerm === -1)) {
      const at = si - base - 1;
      const e = at >= 0 ? log[at] : undefined;
      if (e !== undefined && e.term === snapshot.meta.term) log = log.slice(at + 1);
      else log = [];
      base = si;
      baseTerm = snapshot.meta.term;
    }
    if (baseTerm === -1) {
      throw new CorruptionError(walDir, 0, `the WAL starts at index ${base + 1} but no snapshot or compaction record covers index ${base}`);
    }
    const lastIndex = base + log.length;
    commit = Math.max(commit, si);
    if (commit > lastIndex) {
      throw new CorruptionError(walDir, 0, `committed index ${commit} is beyond the recovered last index ${lastIndex}: the log lost committed entries`);
    }
    hs = { term: hs.term, vote: hs.vote, commit };
    const ents = [dummy(base, baseTerm), ...log];
    return new FileStorage(dir, wal, hs, snapshot, ents, segMax, { walRecords: records.length, tornBytes: truncatedBytes, segments: wal.segmentSeqs.length });
  }

  // ---- read side (the core's Storage) ------------------------------------------------------

  #check(): void {
    if (this.#closed) throw new RaftError('closed', 'storage is closed');
    if (this.#failed !== undefined) throw new RaftError('io', `storage failed: ${this.#failed.message}`, { cause: this.#failed });
  }

  #offset(): number {
    return (this.#ents[0] as Entry).index;
  }

  initialState(): InitialState {
    this.#check();
    return { hardState: this.#hs, confState: this.#snapshot.meta.conf };
  }

  get hardState(): HardState {
    return this.#hs;
  }

  firstIndex(): number {
    this.#check();
    return this.#offset() + 1;
  }

  lastIndex(): number {
    this.#check();
    return this.#offset() + this.#ents.length - 1;
  }

  term(index: number): number {
    this.#check();
    const off = this.#offset();
    if (index < off) throw new RaftError('compacted', `term(${index}): compacted (first index ${off + 1})`);
    const e = this.#ents[index - off];
    if (e === undefined) throw new RaftError('unavailable', `term(${index}): beyond last index ${this.lastIndex()}`);
    return e.term;
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    this.#check();
    const off = this.#offset();
    if (lo <= off) throw new RaftError('compacted', `entries(${lo}): compacted (first index ${off + 1})`);
    if (hi > this.lastIndex() + 1) throw new RaftError('unavailable', `entries(${lo}, ${hi}): beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    const out = this.#ents.slice(lo - off, hi - off);
    return maxBytes === undefined ? out : limitSize(out, maxBytes);
  }

  snapshot(): Snapshot {
    this.#check();
    return this.#snapshot;
  }

  // ---- write side --------------------------------------------------------------------------

  save(update: StorageUpdate, options: SaveOptions = {}): Promise<void> {
    try {
      this.#check();
      const records: Buffer[] = [];
      let pre: (() => Promise<void>) | undefined;
      let post: ((seq: number) => Promise<void>) | undefined;
      let maxIndex = 0;
      let commit: number | undefined;
      const snap = update.snapshot;
      if (snap !== undefined) {
        if (snap.meta.index < this.#snapshot.meta.index) {
          throw new RaftError('snapshot-out-of-date', `applySnapshot: ${snap.meta.index} < ${this.#snapshot.meta.index}`);
        }
        this.#snapshot = snap;
        this.#ents = [dummy(snap.meta.index, snap.meta.term)];
        pre = () => this.#writeSnapshotFile(snap);
        records.push(encodeRecord(RECORD.snapshot, new Writer(16).u64(snap.meta.index).u64(snap.meta.term).finish()));
        post = async (seq) => {
          // Everything before the segment holding the snapshot marker is obsolete.
          await this.#wal.removeSegmentsBefore(seq);
          for (const s of [...this.#segMax.keys()]) if (s < seq) this.#segMax.delete(s);
        };
      }
      const entries = update.entries;
      if (entries !== undefined && entries.length > 0) {
        const first = (entries[0] as Entry).index;
        const off = this.#offset();
        const lastIdx = first + entries.length - 1;
        if (lastIdx > off) {
          const start = Math.max(first, off + 1);
          if (start > this.lastIndex() + 1) {
            throw new RaftError('invalid-argument', `append: gap (first ${first}, last index ${this.lastIndex()})`);
          }
          let hint = 16;
          for (const e of entries) hint += 24 + e.data.byteLength;
          const w = new Writer(hint);
          writeEntries(w, start === first ? entries : entries.slice(start - first));
          records.push(encodeRecord(RECORD.entries, w.finish()));
          this.#ents.length = start - off;
          for (let i = start - first; i < entries.length; i++) this.#ents.push(entries[i] as Entry);
          maxIndex = lastIdx;
        }
      }
      const hs = update.hardState;
      if (hs !== undefined) {
        const termVoteChanged = hs.term !== this.#fileHs.term || hs.vote !== this.#fileHs.vote;
        if (hs.commit !== this.#hs.commit || hs.commit > this.#durableCommit) {
          commit = hs.commit;
          records.push(encodeRecord(RECORD.commit, new Writer(8).u64(hs.commit).finish()));
        }
        this.#hs = hs;
        if (termVoteChanged) {
          this.#fileHs = hs;
          const prevPre = pre;
          // The file's commit is the last commit already durable in the WAL, never one whose
          // entries are still in flight in this batch.
          pre = async () => {
            if (prevPre !== undefined) await prevPre();
            await writeFileAtomic(this.dir, 'hardstate', encodeHardStateFile({ term: hs.term, vote: hs.vote, commit: Math.min(hs.commit, this.#durableCommit) }), true);
          };
        }
      }
      if (records.length === 0 && pre === undefined) return this.#barrier();
      // Only a commit-index change may skip the fsync: entries, term, vote and snapshots never do.
      const lazy = options.sync === false && pre === undefined && post === undefined && maxIndex === 0;
      return this.#enqueue(records, maxIndex, pre, post, commit, !lazy);
    } catch (e) {
      return Promise.reject(toError(e));
    }
  }

  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries });
  }

  setHardState(hs: HardState): Promise<void> {
    return this.save({ hardState: hs });
  }

  applySnapshot(snap: Snapshot): Promise<void> {
    return this.save({ snapshot: snap });
  }

  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    try {
      this.#check();
      if (index <= this.#snapshot.meta.index) {
        throw new RaftError('snapshot-out-of-date', `createSnapshot: ${index} <= ${this.#snapshot.meta.index}`);
      }
      if (index > this.lastIndex()) throw new RaftError('unavailable', `createSnapshot: ${index} > last index ${this.lastIndex()}`);
      const snap: Snapshot = { meta: { index, term: this.term(index), conf }, data };
      this.#snapshot = snap;
      return this.#enqueue([], 0, () => this.#writeSnapshotFile(snap)).then(() => snap);
    } catch (e) {
      return Promise.reject(toError(e));
    }
  }

  compact(index: number): Promise<void> {
    try {
      this.#check();
      const off = this.#offset();
      if (index <= off) return this.#barrier();
      if (index > this.lastIndex()) throw new RaftError('unavailable', `compact: ${index} > last index ${this.lastIndex()}`);
      const term = this.term(index);
      this.#ents = [dummy(index, term), ...this.#ents.slice(index - off + 1)];
      const rec = encodeRecord(RECORD.compact, new Writer(16).u64(index).u64(term).finish());
      return this.#enqueue([rec], 0, undefined, async (seq) => {
        // Delete the oldest sealed segments whose entries are all compacted. The compaction
        // marker just made durable lives in segment `seq`, which is never deleted here.
        let upTo = 0;
        for (const [s, max] of [...this.#segMax.entries()].sort((a, b) => a[0] - b[0])) {
          if (s >= seq || max > index) break;
          upTo = s + 1;
        }
        if (upTo > 0) {
          await this.#wal.removeSegmentsBefore(upTo);
          for (const s of [...this.#segMax.keys()]) if (s < upTo) this.#segMax.delete(s);
        }
      });
    } catch (e) {
      return Promise.reject(toError(e));
    }
  }

  /** Resolves once every write issued so far is durable. */
  #barrier(): Promise<void> {
    if (!this.#flushing && this.#queue.length === 0) return Promise.resolve();
    return this.#enqueue([], 0);
  }

  async #writeSnapshotFile(snap: Snapshot): Promise<void> {
    const name = snapshotName(snap.meta.index, snap.meta.term);
    const tmp = path.join(this.#snapDir, `${name}.tmp`);
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writev(encodeSnapshotFile(snap));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path.join(this.#snapDir, name));
    await fsyncDir(this.#snapDir);
    const names = (await fsp.readdir(this.#snapDir)).filter((n) => n.endsWith('.snap')).sort();
    for (const n of names.slice(0, Math.max(0, names.length - SNAPSHOTS_KEPT))) await fsp.rm(path.join(this.#snapDir, n), { force: true });
  }

  #enqueue(records: Buffer[], maxIndex: number, pre?: () => Promise<void>, post?: (seq: number) => Promise<void>, commit?: number, sync = true): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({
        records,
        maxIndex,
        sync,
        ...(pre === undefined ? {} : { pre }),
        ...(post === undefined ? {} : { post }),
        ...(commit === undefined ? {} : { commit }),
        resolve,
        reject,
      });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const jobs = this.#queue;
        this.#queue = [];
        try {
          if (this.#failed !== undefined) throw new RaftError('io', `storage failed: ${this.#failed.message}`, { cause: this.#failed });
          let pending: Buffer[] = [];
          let pendingMax = 0;
          let pendingCommit = -1;
          const flushPending = async (sync: boolean): Promise<number> => {
            const seq = await this.#wal.write(pending);
            if (sync) {
              await this.#wal.sync();
              if (this.#lazyCommit >= 0) this.#durableCommit = Math.max(this.#durableCommit, this.#lazyCommit);
              this.#lazyCommit = -1;
            }
            if (pendingMax > 0) this.#segMax.set(seq, Math.max(this.#segMax.get(seq) ?? 0, pendingMax));
            if (pendingCommit >= 0) {
              if (sync) this.#durableCommit = Math.max(this.#durableCommit, pendingCommit);
              else this.#lazyCommit = Math.max(this.#lazyCommit, pendingCommit);
            }
            pending = [];
            pendingMax = 0;
            pendingCommit = -1;
            return seq;
          };
          const needSync = jobs.some((j) => j.sync);
          for (const job of jobs) {
            if (job.pre !== undefined) {
              if (pending.length > 0) await flushPending(true);
              await job.pre();
            }
            for (const r of job.records) pending.push(r);
            pendingMax = Math.max(pendingMax, job.maxIndex);
            if (job.commit !== undefined) pendingCommit = Math.max(pendingCommit, job.commit);
            if (job.post !== undefined) {
              const seq = await flushPending(true);
              await job.post(seq);
            }
          }
          await flushPending(needSync);
          for (const job of jobs) job.resolve();
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          if (this.#failed === undefined && !(e instanceof RaftError && e.code === 'closed')) this.#failed = err;
          for (const job of jobs) job.reject(e instanceof RaftError ? e : new RaftError('io', `storage write failed: ${err.message}`, { cause: err }));
        }
      }
    } finally {
      this.#flushing = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  /** Waits for in-flight writes, then closes the WAL. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#flushing) await new Promise<void>((r) => this.#idle.push(r));
      this.#closed = true;
      // Lazily written commit records become durable on a clean close.
      if (this.#failed === undefined) await this.#wal.sync().catch(() => undefined);
      await this.#wal.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
