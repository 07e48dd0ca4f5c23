import { MemoryStorage } from '../../core/storage.js';
import type { Storage } from '../../core/storage.js';
import type { ConfState, Entry, HardState, InitialState, Snapshot } from '../../core/types.js';
import { RaftError } from '../../errors.js';

/** Options of `save`. */
export interface SaveOptions {
  /**
   * `false`: the write need not be durable when the promise resolves; it becomes durable with the
   * next synced save (or `close`). The driver uses it for readies with `mustSync === false`
   * (only the commit index changed). Default `true`.
   */
  readonly sync?: boolean;
}

/** What one `ready()` asks the driver to make durable, applied in this order. */
export interface StorageUpdate {
  readonly snapshot?: Snapshot;
  readonly entries?: readonly Entry[];
  readonly hardState?: HardState;
}

/**
 * The durable side of Raft storage: the core's synchronous read interface (`Storage`) plus
 * asynchronous writes. Contract (checked by `storageConformance`):
 *
 * - Reads reflect a write as soon as the write method is called (before its promise settles),
 *   so the core can read what it just handed over. The promise resolves only when the write is
 *   durable (for files: written and fdatasync'ed); the driver sends no message and acknowledges
 *   nothing that depends on a write before that.
 * - `save` applies snapshot, then entries, then hard state, and makes all of them durable together
 *   (unless `{ sync: false }`, which lets a commit-index-only update ride on the next synced write).
 * - `append` truncates any existing suffix that the new entries overlap (conflicting suffix).
 * - `term`/`vote` of the hard state are replaced together, atomically.
 * - A failed durable write poisons the storage: every later call rejects with code `io`
 *   (an fsync error is never retried; the page cache state is unknown after it).
 * - After `close()` every call throws code `closed`.
 */
export interface RaftStorage extends Storage {
  save(update: StorageUpdate, options?: SaveOptions): Promise<void>;
  append(entries: readonly Entry[]): Promise<void>;
  setHardState(hs: HardState): Promise<void>;
  /** Replaces the whole log with the snapshot (log restarts after `snap.meta.index`). */
  applySnapshot(snap: Snapshot): Promise<void>;
  /** Records a state-machine snapshot as of `index` (≤ applied). Does not compact. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot>;
  /** Discards entries up to and including `index`. */
  compact(index: number): Promise<void>;
  /** The hard state last written. */
  readonly hardState: HardState;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * In-memory `RaftStorage` (wraps the core's `MemoryStorage`). Writes resolve immediately;
 * nothing survives the process. For tests, simulations and single-process benchmarks.
 */
export class MemoryRaftStorage implements RaftStorage {
  readonly #mem: MemoryStorage;
  #closed = false;

  constructor(conf?: ConfState) {
    this.#mem = conf === undefined ? new MemoryStorage() : MemoryStorage.withConf(conf);
  }

  #check(): void {
    if (this.#closed) throw new RaftError('closed', 'storage is closed');
  }

  initialState(): InitialState {
    this.#check();
    return this.#mem.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    this.#check();
    return this.#mem.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    this.#check();
    return this.#mem.term(index);
  }
  firstIndex(): number {
    this.#check();
    return this.#mem.firstIndex();
  }
  lastIndex(): number {
    this.#check();
    return this.#mem.lastIndex();
  }
  snapshot(): Snapshot {
    this.#check();
    return this.#mem.snapshot();
  }
  get hardState(): HardState {
    return this.#mem.hardState;
  }

  save(update: StorageUpdate, _options?: SaveOptions): Promise<void> {
    try {
      this.#check();
      if (update.snapshot !== undefined) this.#mem.applySnapshot(update.snapshot);
      if (update.entries !== undefined) this.#mem.append(update.entries);
      if (update.hardState !== undefined) this.#mem.setHardState(update.hardState);
      return Promise.resolve();
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
      return Promise.resolve(this.#mem.createSnapshot(index, conf, data));
    } catch (e) {
      return Promise.reject(toError(e));
    }
  }
  compact(index: number): Promise<void> {
    try {
      this.#check();
      this.#mem.compact(index);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(toError(e));
    }
  }
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
