import type { RaftConfig } from '../core/config.js';
import { RawNode } from '../core/raft.js';
import type { Ready } from '../core/raft.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Role, Snapshot } from '../core/types.js';
import { NotLeaderError, RaftError, isRaftError } from '../errors.js';
import type { RaftStorage } from './storage/raft-storage.js';

/**
 * The application's replicated state machine. `apply` is called once per committed `normal`
 * entry, in log order, on every node; its return value (or resolved value) is what the
 * proposer's `propose()` resolves with. It must be deterministic.
 */
export interface StateMachine {
  apply(entry: Entry): unknown;
  /** A serialized copy of the state as of the last applied entry. */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with a snapshot (on start, or when the leader sends one). */
  restore(snapshot: Snapshot): void | Promise<void>;
}

/** Where the driver hands outbound messages. `send` must not block; it queues (bounded) or drops. */
export interface RaftNetwork {
  send(messages: readonly Message[]): void;
}

/** Core options the driver passes through (see `RaftConfig`). */
export type CoreOptions = Omit<RaftConfig, 'id' | 'storage' | 'random' | 'bootstrap' | 'applied'>;

export interface RaftNodeOptions {
  readonly id: NodeId;
  /** Durable (or in-memory) storage. The node takes ownership and closes it on `close()`. */
  readonly storage: RaftStorage;
  readonly stateMachine: StateMachine;
  /** Outbound messages. Can also be set later with `connect()`. */
  readonly network?: RaftNetwork;
  /** Voters of a brand-new cluster (used only when storage is empty). */
  readonly bootstrap?: readonly NodeId[];
  /** Milliseconds per core tick. Default 10 (so the core's default 15-tick election timeout is 150–300 ms). */
  readonly tickMs?: number;
  /**
   * Monotonic clock in milliseconds that ticks are derived from. Default `performance.now`.
   * Must never go backwards (not `Date.now`: wall-clock steps would break lease reads).
   */
  readonly clock?: () => number;
  /** Randomness for election timeouts. Default Math.random. */
  readonly random?: () => number;
  readonly core?: CoreOptions;
  /** Take a snapshot and compact when this many entries were applied since the last one. 0 disables. Default 10 000. */
  readonly snapshotEvery?: number;
  /** Entries kept in the log behind a snapshot so slow followers catch up without one. Default 1 000. */
  readonly snapshotTrailing?: number;
  /** Bound on proposals waiting for their outcome; beyond it `propose` fails with `proposal-dropped`. Default 65 536. */
  readonly maxPendingProposals?: number;
  /** Bound on reads waiting for their read index; beyond it `read` fails with `proposal-dropped`. Default 65 536. */
  readonly maxPendingReads?: number;
  /** Called for inbound messages the core rejected (malformed, unknown or removed peer). */
  readonly onInvalidMessage?: (error: RaftError, message: Message) => void;
}

export interface PeerMetrics {
  readonly id: NodeId;
  readonly match: number;
  /** Entries the peer is behind the leader's last index. */
  readonly lag: number;
  readonly state: string;
}

export interface RaftNodeMetrics {
  readonly id: NodeId;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /** Per-peer replication progress (on the leader; empty elsewhere). */
  readonly peers: readonly PeerMetrics[];
  readonly pendingProposals: number;
  readonly pendingReads: number;
  readonly readies: number;
  readonly invalidMessages: number;
}

export interface Disposable {
  [Symbol.dispose](): void;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
}

interface PendingProposal {
  readonly term: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly cleanup: () => void;
}

interface PendingRead {
  index: number;
  /** Tick at which the ReadIndex request was (re)issued. */
  issuedAt: number;
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  readonly cleanup: () => void;
}

const noop = (): void => undefined;

function disposable(fn: () => void): Disposable {
  return { [Symbol.dispose]: fn };
}

/**
 * Drives one Raft core: timers become ticks, and each `ready()` is handled in order:
 * send `messages` (leader replication, in parallel with its own disk write) → start persisting
 * snapshot/entries/hard state → apply the committed entries that earlier readies already made
 * durable (overlapping the fdatasync) → await the write when `mustSync` → send
 * `persistedMessages` (votes and append acknowledgements: never before what they promise is
 * durable) → restore a snapshot into the state machine → apply the remaining committed entries
 * → serve reads → `advance()`.
 *
 * Proposal outcomes: `propose()` resolves with the state machine's result once the entry is
 * applied. Definite failures (the entry is not and will not be in the log): `not-leader`,
 * `proposal-dropped`, `uncommitted-limit`, and `proposal-dropped` when another leader's entry
 * replaced it. Indeterminate ones (it may still commit): `aborted` (the caller's signal or a
 * snapshot that covered it) and `closed`.
 */
export class RaftNode implements AsyncDisposable {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly #raw: RawNode;
  readonly #sm: StateMachine;
  #network: RaftNetwork | undefined;
  readonly #opts: RaftNodeOptions;
  readonly #proposals = new Map<number, PendingProposal>();
  readonly #reads = new Map<string, PendingRead>();
  #readSeq = 0;
  #applied: number;
  #snapIndex: number;
  #role: Role;
  #leader: NodeId | null;
  readonly #roleListeners = new Set<(role: Role, term: number) => void>();
  readonly #leaderListeners = new Set<(leader: NodeId | null, term: number) => void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #failure: Error | undefined;
  #readies = 0;
  #invalid = 0;
  #afterAdvance: (() => void)[] = [];
  #ticks = 0;
  /** Clock time up to which ticks were delivered to the core. */
  #tickedUntil = 0;
  #tickMs = 10;
  #maxCatchUp = 30;
  #clock: () => number = () => performance.now();

  private constructor(opts: RaftNodeOptions, raw: RawNode) {
    this.id = opts.id;
    this.storage = opts.storage;
    this.#sm = opts.stateMachine;
    this.#network = opts.network;
    this.#opts = opts;
    this.#raw = raw;
    this.#applied = raw.appliedIndex;
    this.#snapIndex = opts.storage.snapshot().meta.index;
    this.#role = raw.role;
    this.#leader = raw.leader;
  }

  /**
   * Restores the state machine from the storage's snapshot, builds the core and starts the
   * timers and the ready loop.
   */
  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const snap = opts.storage.snapshot();
    if (snap.meta.index > 0) await opts.stateMachine.restore(snap);
    const tickMs = opts.tickMs ?? 10;
    if (!Number.isFinite(tickMs) || tickMs <= 0) throw new RaftError('invalid-config', `tickMs must be > 0 (got ${tickMs})`);
    const raw = new RawNode({
      ...opts.core,
      id: opts.id,
      storage: opts.storage,
      random: opts.random ?? Math.random,
      ...(opts.bootstrap === undefined ? {} : { bootstrap: opts.bootstrap }),
    });
    const node = new RaftNode(opts, raw);
    if (opts.clock !== undefined) node.#clock = opts.clock;
    node.#tickMs = tickMs;
    node.#maxCatchUp = 2 * (opts.core?.electionTick ?? 15);
    node.#tickedUntil = node.#clock();
    node.#timer = setInterval(() => {
      node.#catchUpTicks();
    }, tickMs);
    node.#loop = node.#run();
    return node;
  }

  /** Sets (or replaces) where outbound messages go. */
  connect(network: RaftNetwork): void {
    this.#network = network;
  }

  get role(): Role {
    return this.#role;
  }
  get leader(): NodeId | null {
    return this.#leader;
  }
  get term(): number {
    return this.#raw.term;
  }
  get appliedIndex(): number {
    return this.#applied;
  }
  get isLeader(): boolean {
    return this.#role === 'leader';
  }
  /** The error that stopped the node (a storage failure), if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Ticks are derived from the monotonic clock, not counted from timer fires: each fire delivers
   * every tick period that elapsed since the last delivered one, so ticks missed while the event
   * loop stalled (GC, a long synchronous apply or snapshot, a slow disk callback) are replayed —
   * at most `2 × electionTick` of them at once, which already covers a whole election timeout and
   * expires any lease. The same catch-up runs before each inbound message is stepped, so the
   * core sees the time that passed before it sees input that arrived during a stall; lease reads
   * depend on this (see the core's `readOnly: 'lease-based'`).
   */
  #catchUpTicks(): void {
    if (this.#closed) return;
    const now = this.#clock();
    let due = Math.floor((now - this.#tickedUntil) / this.#tickMs);
    if (due <= 0) return;
    if (due > this.#maxCatchUp) {
      due = this.#maxCatchUp;
      this.#tickedUntil = now; // the rest of a long stall is dropped, not owed
    } else this.#tickedUntil += due * this.#tickMs;
    for (let i = 0; i < due; i++) {
      this.#raw.tick();
      this.#ticks++;
      if (this.#reads.size > 0 && this.#ticks % 10 === 0) this.#retryReads(false);
    }
    this.#kick();
  }

  /** Ticks delivered to the core so far (derived from the monotonic clock). */
  get ticks(): number {
    return this.#ticks;
  }

  /** Feeds an inbound message. Invalid ones are counted and reported, never thrown. */
  step(m: Message): void {
    if (this.#closed) return;
    this.#catchUpTicks();
    try {
      this.#raw.step(m);
    } catch (e) {
      if (!isRaftError(e)) throw e;
      this.#invalid++;
      this.#opts.onInvalidMessage?.(e, m);
      return;
    }
    this.#kick();
  }

  /** Feeds several inbound messages. */
  stepAll(ms: readonly Message[]): void {
    for (const m of ms) this.step(m);
  }

  /**
   * Proposes `data` (leader only). Resolves with the state machine's `apply` result once
   * committed and applied here. See the class comment for the failure codes.
   */
  propose(data: Uint8Array, options: WaitOptions = {}): Promise<unknown> {
    return this.#submit(() => this.#raw.propose(data), options);
  }

  /**
   * Proposes a membership change (leader only; one at a time, after the leader committed an
   * entry of its term — see the core's `proposeConfChange`). Resolves once the change is applied
   * here, which is when it takes effect. Same failure codes as `propose`, plus
   * `conf-change-pending` and `invalid-conf-change` (definite).
   */
  changeMembership(cc: ConfChange, options: WaitOptions = {}): Promise<unknown> {
    return this.#submit(() => this.#raw.proposeConfChange(cc), options);
  }

  /** Adds `id` as a learner (it replicates but does not vote); resolves when applied. */
  addLearner(id: NodeId, options: WaitOptions = {}): Promise<unknown> {
    return this.#submit(() => this.#raw.addLearner(id), options);
  }

  /** Promotes the caught-up learner `id` to voter; resolves when applied. */
  addVoter(id: NodeId, options: WaitOptions = {}): Promise<unknown> {
    return this.#submit(() => this.#raw.addVoter(id), options);
  }

  /** Removes `id` (the leader itself included: it steps down once applied); resolves when applied. */
  removeNode(id: NodeId, options: WaitOptions = {}): Promise<unknown> {
    return this.#submit(() => this.#raw.removeNode(id), options);
  }

  /** Membership as of the applied index. */
  get membership(): ConfState {
    return this.#raw.confState;
  }

  #submit(append: () => number, options: WaitOptions): Promise<unknown> {
    const { signal } = options;
    let index: number;
    try {
      signal?.throwIfAborted();
      this.#check();
      if (this.#raw.role !== 'leader') throw new NotLeaderError(this.#raw.leader);
      if (this.#proposals.size >= (this.#opts.maxPendingProposals ?? 65_536)) {
        throw new RaftError('proposal-dropped', `too many pending proposals (${this.#proposals.size})`);
      }
      index = append();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const term = this.#raw.term;
    this.#kick();
    return new Promise<unknown>((resolve, reject) => {
      if (signal === undefined) {
        this.#proposals.set(index, { term, resolve, reject, cleanup: noop });
        return;
      }
      const onAbort = (): void => {
        this.#proposals.delete(index);
        reject(new RaftError('aborted', `proposal at index ${index} abandoned (outcome unknown)`, { cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#proposals.set(index, {
        term,
        resolve,
        reject,
        cleanup: () => {
          signal.removeEventListener('abort', onAbort);
        },
      });
    });
  }

  /**
   * Linearizable read barrier (ReadIndex): resolves with a read index once this node has
   * applied at least up to it, so reading the local state machine afterwards is linearizable.
   * Works on followers (the request is forwarded to the leader); while no leader is known it
   * waits for one (bound the wait with `signal`).
   */
  read(options: WaitOptions = {}): Promise<number> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      this.#check();
      if (this.#reads.size >= (this.#opts.maxPendingReads ?? 65_536)) {
        throw new RaftError('proposal-dropped', `too many pending reads (${this.#reads.size})`);
      }
      const ctx = `${this.id}/${++this.#readSeq}`;
      let issuedAt = this.#ticks;
      try {
        this.#raw.readIndex(ctx);
      } catch (e) {
        // No leader known yet (an election is running): wait for one, bounded by the signal.
        if (!(isRaftError(e) && e.code === 'not-leader')) throw e;
        issuedAt = -Infinity;
      }
      this.#kick();
      return new Promise<number>((resolve, reject) => {
        let key = ctx;
        const onAbort = (): void => {
          for (const [k, r] of this.#reads) if (r === entry) key = k;
          this.#reads.delete(key);
          reject(new RaftError('aborted', 'read abandoned', { cause: signal?.reason }));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const entry: PendingRead = { index: -1, issuedAt, resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
        this.#reads.set(ctx, entry);
      });
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Starts an election now. */
  campaign(): void {
    this.#check();
    this.#raw.campaign();
    this.#kick();
  }

  /** Transfers leadership to `target`. */
  transferLeadership(target: NodeId): void {
    this.#check();
    this.#raw.transferLeader(target);
    this.#kick();
  }

  /** The transport could not reach `id`. */
  reportUnreachable(id: NodeId): void {
    if (this.#closed) return;
    this.#raw.reportUnreachable(id);
    this.#kick();
  }

  /** Resolves when some leader is known (this node or another). */
  async waitForLeader(options: WaitOptions = {}): Promise<NodeId> {
    const { signal } = options;
    signal?.throwIfAborted();
    const l = this.#leader;
    if (l !== null) return l;
    return new Promise<NodeId>((resolve, reject) => {
      const onAbort = (): void => {
        sub[Symbol.dispose]();
        reject(new RaftError('aborted', 'waitForLeader aborted', { cause: signal?.reason }));
      };
      const sub = this.onLeaderChange((leader) => {
        if (leader === null) return;
        sub[Symbol.dispose]();
        signal?.removeEventListener('abort', onAbort);
        resolve(leader);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  onRoleChange(listener: (role: Role, term: number) => void): Disposable {
    this.#roleListeners.add(listener);
    return disposable(() => this.#roleListeners.delete(listener));
  }

  onLeaderChange(listener: (leader: NodeId | null, term: number) => void): Disposable {
    this.#leaderListeners.add(listener);
    return disposable(() => this.#leaderListeners.delete(listener));
  }

  metrics(): RaftNodeMetrics {
    const st = this.#raw.status();
    return {
      id: this.id,
      role: st.role,
      leader: st.leader,
      term: st.term,
      commit: st.commit,
      applied: this.#applied,
      lastIndex: st.lastIndex,
      peers: st.progress.filter((p) => p.id !== this.id).map((p) => ({ id: p.id, match: p.match, lag: Math.max(0, st.lastIndex - p.match), state: p.state })),
      pendingProposals: this.#proposals.size,
      pendingReads: this.#reads.size,
      readies: this.#readies,
      invalidMessages: this.#invalid,
    };
  }

  /**
   * ReadIndex requests can be lost (a dropped message, a leader that stepped down before
   * confirming). Unanswered ones are re-issued under a fresh context after a leader change, or
   * when they waited two election timeouts.
   */
  #retryReads(leaderChanged: boolean): void {
    const stale = this.#ticks - 2 * (this.#opts.core?.electionTick ?? 15);
    for (const [ctx, r] of [...this.#reads]) {
      if (r.index >= 0 || (!leaderChanged && r.issuedAt > stale)) continue;
      const next = `${this.id}/${++this.#readSeq}`;
      try {
        this.#raw.readIndex(next);
      } catch {
        continue; // no leader yet: try again later
      }
      this.#reads.delete(ctx);
      r.issuedAt = this.#ticks;
      this.#reads.set(next, r);
    }
  }

  // ---------------------------------------------------------------- the loop

  #check(): void {
    if (this.#failure !== undefined) throw new RaftError('io', `node stopped: ${this.#failure.message}`, { cause: this.#failure });
    if (this.#closed) throw new RaftError('closed', 'node is closed');
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  #kick(): void {
    const w = this.#wake;
    if (w !== undefined) {
      this.#wake = undefined;
      w();
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      if (!this.#raw.hasReady()) {
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      const rd = this.#raw.ready();
      this.#readies++;
      try {
        await this.#handle(rd);
        if (this.#isClosed()) return; // closed while persisting/applying: never advance
        this.#raw.advance(rd);
        if (this.#afterAdvance.length > 0) {
          const fns = this.#afterAdvance;
          this.#afterAdvance = [];
          for (const f of fns) f();
        }
        await this.#maybeSnapshot();
      } catch (e) {
        this.#fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
    }
  }

  #send(ms: readonly Message[]): void {
    if (ms.length === 0) return;
    this.#network?.send(ms);
  }

  async #handle(rd: Ready): Promise<void> {
    if (rd.softState !== null) {
      const { role, leader } = rd.softState;
      const term = this.#raw.term;
      if (role !== this.#role) {
        this.#role = role;
        for (const l of [...this.#roleListeners]) l(role, term);
      }
      if (leader !== this.#leader) {
        this.#leader = leader;
        for (const l of [...this.#leaderListeners]) l(leader, term);
        if (leader !== null && this.#reads.size > 0) this.#retryReads(true);
      }
    }
    // 1. The leader's replication traffic goes out while it writes its own log (§10.2.1).
    this.#send(rd.messages);
    // 2. Persist. Only a commit-index change needs no fsync before going on.
    let write: Promise<void> | undefined;
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
      write = this.storage.save(
        {
          ...(rd.snapshot === null ? {} : { snapshot: rd.snapshot }),
          ...(rd.entries.length === 0 ? {} : { entries: rd.entries }),
          ...(rd.hardState === null ? {} : { hardState: rd.hardState }),
        },
        { sync: rd.mustSync },
      );
      if (!rd.mustSync) {
        write.catch((e: unknown) => {
          this.#fail(e instanceof Error ? e : new Error(String(e)));
        });
        write = undefined;
      }
    }
    // Committed entries below this ready's first new entry were made durable by earlier
    // readies (and committed entries are never truncated): apply them while the write is in
    // flight. The rest (a follower's entries committed in the same ready) wait for the write.
    const ce = rd.committedEntries;
    let split = 0;
    if (rd.snapshot === null) {
      const firstNew = rd.entries.length > 0 ? (rd.entries[0] as Entry).index : Infinity;
      while (split < ce.length && (ce[split] as Entry).index < firstNew) split++;
    }
    if (split > 0) await this.#apply(ce, 0, split);
    if (write !== undefined) await write;
    // 3. Messages that promise durability (votes, append acks) only now.
    this.#send(rd.persistedMessages);
    // 4. Snapshot, then the remaining committed entries.
    if (rd.snapshot !== null) {
      await this.#sm.restore(rd.snapshot);
      this.#applied = rd.snapshot.meta.index;
      this.#snapIndex = rd.snapshot.meta.index;
      for (const [index, p] of this.#proposals) {
        if (index <= this.#applied) {
          this.#proposals.delete(index);
          p.cleanup();
          p.reject(new RaftError('aborted', `proposal at index ${index} was covered by a snapshot (outcome unknown)`));
        }
      }
    }
    if (split < ce.length) await this.#apply(ce, split, ce.length);
    // 5. Reads.
    for (const rs of rd.readStates) {
      const r = this.#reads.get(rs.context);
      if (r !== undefined) r.index = rs.index;
    }
    if (this.#reads.size > 0) {
      for (const [ctx, r] of this.#reads) {
        if (r.index >= 0 && r.index <= this.#applied) {
          this.#reads.delete(ctx);
          r.cleanup();
          r.resolve(r.index);
        }
      }
    }
  }

  async #apply(ce: readonly Entry[], from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) {
      const e = ce[i] as Entry;
      let result: unknown = undefined;
      if (e.type === 'normal') {
        result = this.#sm.apply(e);
        if (result instanceof Promise) result = await result;
      }
      this.#applied = e.index;
      const p = this.#proposals.get(e.index);
      if (p !== undefined) {
        this.#proposals.delete(e.index);
        p.cleanup();
        if (p.term !== e.term) p.reject(new RaftError('proposal-dropped', `entry ${e.index} was replaced by a leader of term ${e.term}`));
        // A membership change takes effect in the core's advance(): resolve after it.
        else if (e.type === 'conf-change') this.#afterAdvance.push(() => { p.resolve(result); });
        else p.resolve(result);
      }
    }
  }

  async #maybeSnapshot(): Promise<void> {
    const every = this.#opts.snapshotEvery ?? 10_000;
    if (every <= 0 || this.#applied - this.#snapIndex < every) return;
    const index = this.#applied;
    const data = await this.#sm.snapshot();
    await this.storage.createSnapshot(index, this.#raw.confState, data);
    this.#snapIndex = index;
    const keep = this.#opts.snapshotTrailing ?? 1_000;
    const compactTo = index - keep;
    if (compactTo >= this.storage.firstIndex()) await this.storage.compact(compactTo);
  }

  #fail(e: Error): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#failure = e;
    const err = new RaftError('io', `node stopped: ${e.message}`, { cause: e });
    void this.#shutdown(err);
  }

  #rejectAll(err: Error): void {
    for (const p of this.#proposals.values()) {
      p.cleanup();
      p.reject(err);
    }
    this.#proposals.clear();
    for (const r of this.#reads.values()) {
      r.cleanup();
      r.reject(err);
    }
    this.#reads.clear();
  }

  async #shutdown(err: Error): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#kick();
    this.#rejectAll(err);
    await this.#loop?.catch(() => undefined);
    await this.storage.close().catch(() => undefined);
  }

  /** Stops timers and the loop, fails pending calls with `closed`, closes the storage. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(new RaftError('closed', 'node closed (outcome of pending proposals unknown)'));
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
