import type { RaftConfig } from '../core/config.js';
import { seededRandom } from '../core/config.js';
import type { Ready } from '../core/raft.js';
import { RawNode } from '../core/raft.js';
import { MemoryStorage } from '../core/storage.js';
import type { ConfState, Entry, Message, NodeId, ReadState, Snapshot } from '../core/types.js';

/** A user state machine driven by a `MemoryNode`. */
export interface TestStateMachine {
  apply(entry: Entry): void;
  snapshot(): Uint8Array;
  restore(snap: Snapshot): void;
}

/** Where a crash interrupts the handling of a Ready (for crash-point testing). */
export interface CrashPoint {
  /** Entries (a prefix of `ready.entries`) that reached the disk: a torn tail. */
  readonly keepEntries: number;
  /** Whether the hard state write reached the disk. */
  readonly keepHardState: boolean;
}

export interface MemoryNodeOptions {
  readonly id: NodeId;
  readonly config?: Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;
  readonly seed?: number;
  /** Initial voters (bootstrap) for a fresh node. */
  readonly bootstrap?: readonly NodeId[];
  /** The "disk": survives `crash()`. A fresh one is created when omitted. */
  readonly disk?: MemoryStorage;
  readonly stateMachine?: TestStateMachine;
}

/**
 * A synchronous driver around `RawNode` with a `MemoryStorage` as its disk, following the Ready
 * obligations exactly: immediate messages, then persist (entries, hard state), then persisted
 * messages, then apply, then advance. Used by the tests and the simulator.
 */
export class MemoryNode {
  readonly id: NodeId;
  readonly disk: MemoryStorage;
  raw: RawNode;
  readonly sm: TestStateMachine | undefined;
  readonly #opts: MemoryNodeOptions;
  #seq: number;
  /** Every entry applied, in order (for safety checks). */
  readonly applied: Entry[] = [];
  readonly readStates: ReadState[] = [];
  /** Entries applied since the last snapshot restore (or start). */
  onApply: ((e: Entry) => void) | undefined;
  onReadState: ((r: ReadState) => void) | undefined;
  onSnapshot: ((s: Snapshot) => void) | undefined;
  /**
   * Deliberately broken driver for testing the checkers: send `persistedMessages` before the
   * write (a crash then loses data that was acknowledged).
   */
  unsafeAckBeforePersist = false;

  constructor(opts: MemoryNodeOptions) {
    this.id = opts.id;
    this.#opts = opts;
    this.disk = opts.disk ?? new MemoryStorage();
    this.sm = opts.stateMachine;
    this.#seq = opts.seed ?? hash(opts.id);
    this.raw = this.#create(undefined);
  }

  #create(applied: number | undefined): RawNode {
    const cfg: RaftConfig = {
      ...this.#opts.config,
      id: this.id,
      storage: this.disk,
      random: seededRandom(this.#seq++),
      ...(this.#opts.bootstrap === undefined ? {} : { bootstrap: this.#opts.bootstrap }),
      ...(applied === undefined ? {} : { applied }),
    };
    return new RawNode(cfg);
  }

  /**
   * Lose everything volatile; restart from the disk. The state machine restarts from the disk
   * snapshot (it is not durable by itself), so `applied` = the snapshot index.
   */
  restart(): void {
    const snap = this.disk.snapshot();
    if (this.sm !== undefined) this.sm.restore(snap);
    this.raw = this.#create(undefined);
  }

  /**
   * Handle every pending Ready. `send` receives outgoing messages. With `crash`, the first
   * Ready is handled only up to the crash point (immediate messages sent, part of the write
   * reaching the disk) and the method returns false: the caller must `restart()` the node.
   */
  process(send: (m: Message) => void, crash?: CrashPoint): boolean {
    let guard = 0;
    while (this.raw.hasReady()) {
      if (++guard > 10_000) throw new Error(`${this.id}: ready loop does not converge`);
      const rd = this.raw.ready();
      for (const m of rd.messages) send(m);
      if (this.unsafeAckBeforePersist) for (const m of rd.persistedMessages) send(m);
      if (crash !== undefined) {
        if (rd.snapshot !== null) return false; // snapshot write lost entirely
        this.disk.append(rd.entries.slice(0, crash.keepEntries));
        if (crash.keepHardState && rd.hardState !== null && crash.keepEntries >= rd.entries.length) {
          this.disk.setHardState(rd.hardState);
        }
        return false;
      }
      this.#persist(rd);
      if (!this.unsafeAckBeforePersist) for (const m of rd.persistedMessages) send(m);
      this.#apply(rd);
      this.raw.advance(rd);
    }
    return true;
  }

  #persist(rd: Ready): void {
    if (rd.snapshot !== null) this.disk.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.disk.append(rd.entries);
    if (rd.hardState !== null) this.disk.setHardState(rd.hardState);
  }

  #apply(rd: Ready): void {
    if (rd.snapshot !== null) {
      this.sm?.restore(rd.snapshot);
      this.onSnapshot?.(rd.snapshot);
    }
    for (const e of rd.committedEntries) {
      this.applied.push(e);
      this.sm?.apply(e);
      this.onApply?.(e);
    }
    for (const r of rd.readStates) {
      this.readStates.push(r);
      this.onReadState?.(r);
    }
  }

  /** Snapshot the state machine at the applied index and compact, keeping `keep` entries. */
  compact(keep: number): void {
    if (this.sm === undefined) return;
    const applied = this.raw.appliedIndex;
    if (applied <= this.disk.snapshot().meta.index) return;
    if (applied > this.disk.lastIndex()) return;
    this.disk.createSnapshot(applied, this.raw.confState, this.sm.snapshot());
    const upTo = applied - keep;
    if (upTo >= this.disk.firstIndex()) this.disk.compact(upTo);
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export type { ConfState };
