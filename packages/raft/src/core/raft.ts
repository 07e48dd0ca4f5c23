import { InvalidMessageError, NotLeaderError, RaftError } from '../errors.js';
import type { RaftConfig, ResolvedConfig } from './config.js';
import { resolveConfig } from './config.js';
import { applyConfChange, decodeConfChange, encodeConfChange, isJoint, members } from './confchange.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type { ProgressState } from './progress.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';
import type { Storage } from './storage.js';
import { entrySize } from './storage.js';
import type {
  AppendMessage,
  AppendResponseMessage,
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  HeartbeatMessage,
  Message,
  NodeId,
  ReadState,
  Role,
  Snapshot,
  SnapshotMessage,
  SoftState,
  VoteMessage,
} from './types.js';
import { validateMessage } from './validate.js';

const EMPTY = new Uint8Array(0);
const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
const NO_MESSAGES: readonly Message[] = Object.freeze([]);
const NO_READS: readonly ReadState[] = Object.freeze([]);

/**
 * The output of the core between two `advance()` calls, with ordered obligations:
 *
 * 1. Send `messages` at any time (they are the leader's replication traffic; the leader writes
 *    its own log in parallel with its followers, thesis §10.2.1).
 * 2. Persist `snapshot` (if any), then `entries` (appending and truncating any overlapping
 *    suffix), then `hardState` (atomically). Sync to disk when `mustSync`.
 * 3. Only then send `persistedMessages` (votes, append acknowledgements, …: they promise
 *    durability).
 * 4. Restore `snapshot` into the state machine, then apply `committedEntries` in order.
 *    `readStates` are ReadIndex results: serve each once `applied >= index`.
 * 5. Call `advance(ready)`. Readys must be handled one after another (persist ready N before
 *    sending ready N+1's `persistedMessages`).
 */
export interface Ready {
  /** Role/leader changes since the last Ready, or null. */
  readonly softState: SoftState | null;
  /** Hard state to persist, or null when unchanged. */
  readonly hardState: HardState | null;
  /** Entries to append to storage (before sending `persistedMessages`). */
  readonly entries: readonly Entry[];
  /** Snapshot to persist and restore (before applying `committedEntries`). */
  readonly snapshot: Snapshot | null;
  /** Committed, durable entries to apply in order. */
  readonly committedEntries: readonly Entry[];
  /** Messages that may be sent immediately. */
  readonly messages: readonly Message[];
  /** Messages to send only after `entries`, `hardState` and `snapshot` are durable. */
  readonly persistedMessages: readonly Message[];
  /** Completed ReadIndex requests. */
  readonly readStates: readonly ReadState[];
  /** True when the write must be fsynced (new entries, term or vote). */
  readonly mustSync: boolean;
}

/** Progress of one peer as seen by the leader. */
export interface PeerStatus {
  readonly id: NodeId;
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflight: number;
}

/** A point-in-time view of the core (for metrics and tests). */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  /** Per-peer progress (leader only; empty otherwise). */
  readonly progress: readonly PeerStatus[];
  readonly leadTransferee: NodeId | null;
  readonly uncommittedSize: number;
}

interface PendingRead {
  readonly key: string;
  readonly context: string;
  readonly from: NodeId;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

interface IncomingSnapshot {
  readonly from: NodeId;
  readonly term: number;
  readonly snap: SnapshotMessage['meta'];
  readonly total: number;
  readonly buf: Uint8Array;
  received: number;
}

/**
 * The pure Raft core ("RawNode" in etcd): a deterministic state machine with no clock, timers,
 * I/O or randomness of its own. Drive it with `tick()`, `step(message)`, `propose(data)` and
 * the `ready()` / `advance()` loop (see `Ready` for the obligations).
 *
 * Not thread-safe and not re-entrant; one driver owns it. Between `ready()` and `advance()`
 * the driver may keep calling `step`, `tick` and `propose`.
 */
export class RawNode {
  readonly id: NodeId;
  readonly #c: ResolvedConfig;
  readonly #random: () => number;
  readonly #log: RaftLog;

  #term = 0;
  #vote: NodeId | null = null;
  #role: Role = 'follower';
  #lead: NodeId | null = null;

  #conf: ConfState;
  readonly #prs = new Map<NodeId, Progress>();
  #removed = new Set<NodeId>();
  readonly #votes = new Map<NodeId, boolean>();

  #electionElapsed = 0;
  #ticks = 0;
  /** Ticks since we last heard from a leader (or were one); starts at 0 (restart = quiet period). */
  #ticksSinceLeader = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  #leadTransferee: NodeId | null = null;
  #pendingConfIndex = 0;
  #uncommittedSize = 0;

  #msgs: Message[] = [];
  #msgsAfter: Message[] = [];
  #readStates: ReadState[] = [];
  #reads: PendingRead[] = [];
  #readSeq = 0;
  #readsBeforeCommit: { from: NodeId; context: string }[] = [];
  #incoming: IncomingSnapshot | null = null;

  #prevSoft: SoftState;
  #prevHard: HardState;
  #readyPending = false;

  constructor(config: RaftConfig) {
    this.#c = resolveConfig(config);
    this.id = this.#c.id;
    this.#random = config.random;
    const storage: Storage = config.storage;
    const { hardState } = storage.initialState();
    const snap = storage.snapshot();
    let conf = snap.meta.conf;
    const applied = config.applied ?? snap.meta.index;
    if (!Number.isSafeInteger(applied) || applied < snap.meta.index || applied > storage.lastIndex()) {
      throw new RaftError('invalid-config', `applied ${applied} out of range [${snap.meta.index}, ${storage.lastIndex()}]`);
    }
    this.#log = new RaftLog(storage, applied);
    if (hardState.commit > storage.lastIndex()) {
      throw new RaftError(
        'commit-regression',
        `hard state commit ${hardState.commit} is beyond the last index ${storage.lastIndex()}: was the raft log corrupted, truncated, or lost?`,
      );
    }
    this.#log.commitTo(Math.max(hardState.commit, applied));
    this.#term = hardState.term;
    this.#vote = hardState.vote;
    let bootstrapEntry: Entry | null = null;
    if (
      config.bootstrap !== undefined &&
      conf.voters.length === 0 &&
      conf.learners.length === 0 &&
      storage.lastIndex() === 0 &&
      hardState.term === 0
    ) {
      // Bootstrap a new cluster: the initial membership is entry 1 (term 1), committed on every
      // initial member, so it is persisted, replicated to later members and survives restarts.
      if (config.bootstrap.length === 0) throw new RaftError('invalid-config', 'bootstrap must list at least one voter');
      const cc: ConfChange = { changes: config.bootstrap.map((id) => ({ type: 'add-voter' as const, id })) };
      conf = applyConfChange(conf, cc);
      bootstrapEntry = { term: 1, index: 1, type: 'conf-change', data: encodeConfChange(cc) };
      this.#term = 1;
    }
    // Membership takes effect on apply: replay the conf changes the state machine has applied.
    if (applied > snap.meta.index) {
      const ents = this.#log.slice(snap.meta.index + 1, applied + 1, Number.MAX_SAFE_INTEGER) ?? [];
      for (const e of ents) {
        if (e.type === 'conf-change') conf = tryApply(conf, e.data);
      }
    }
    this.#conf = conf;
    if (bootstrapEntry !== null) {
      this.#log.append([bootstrapEntry]);
      this.#log.commitTo(1);
    }
    this.#setConf(conf);
    this.#becomeFollower(this.#term, null);
    this.#prevSoft = { role: this.#role, leader: this.#lead };
    this.#prevHard = hardState;
  }

  // ---------------------------------------------------------------- accessors

  get term(): number {
    return this.#term;
  }
  get role(): Role {
    return this.#role;
  }
  get leader(): NodeId | null {
    return this.#lead;
  }
  get commitIndex(): number {
    return this.#log.committed;
  }
  get appliedIndex(): number {
    return this.#log.applied;
  }
  get lastIndex(): number {
    return this.#log.lastIndex();
  }
  /** Membership as of the applied index (what a snapshot at `appliedIndex` must record). */
  get confState(): ConfState {
    return this.#conf;
  }

  status(): RaftStatus {
    const progress: PeerStatus[] = [];
    if (this.#role === 'leader') {
      for (const [id, pr] of this.#prs) {
        progress.push({
          id,
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          inflight: pr.inflights.count,
        });
      }
    }
    return {
      id: this.id,
      term: this.#term,
      vote: this.#vote,
      role: this.#role,
      leader: this.#lead,
      commit: this.#log.committed,
      applied: this.#log.applied,
      firstIndex: this.#log.firstIndex(),
      lastIndex: this.#log.lastIndex(),
      conf: this.#conf,
      progress,
      leadTransferee: this.#leadTransferee,
      uncommittedSize: this.#uncommittedSize,
    };
  }

  /** True when the learner (or voter) `id` is replicating and within `promotionLag` entries of the commit index. */
  isCaughtUp(id: NodeId): boolean {
    if (this.#role !== 'leader') return false;
    const pr = this.#prs.get(id);
    if (pr === undefined) return false;
    return pr.state === 'replicate' && pr.match + this.#c.promotionLag >= this.#log.committed;
  }

  // ---------------------------------------------------------------- inputs

  /** Advance logical time by one tick. */
  tick(): void {
    this.#ticks++;
    this.#ticksSinceLeader++;
    if (this.#role === 'leader') this.#tickHeartbeat();
    else this.#tickElection();
  }

  /** Start an election now (pre-vote first when enabled). */
  campaign(): void {
    this.#hup(false);
  }

  /**
   * Propose an application command. On the leader returns the entry's index; on a follower
   * with a known leader forwards it (unless forwarding is disabled) and returns 0.
   * Throws `not-leader`, `proposal-dropped` (transfer in progress) or `uncommitted-limit`.
   */
  propose(data: Uint8Array): number {
    if (this.#role === 'leader') return this.#proposeLocal('normal', data);
    if (this.#lead !== null && !this.#c.disableProposalForwarding && this.#role === 'follower') {
      this.#send({ type: 'prop', from: this.id, to: this.#lead, term: this.#term, entries: [{ term: 0, index: 0, type: 'normal', data }] });
      return 0;
    }
    throw new NotLeaderError(this.#lead);
  }

  /**
   * Propose a membership change (leader only). Refused with `conf-change-pending` while
   * another change is not yet applied or before the leader committed an entry of its term,
   * and with `invalid-conf-change` when not allowed. Returns the entry's index.
   */
  proposeConfChange(cc: ConfChange): number {
    if (this.#role !== 'leader') throw new NotLeaderError(this.#lead);
    if (this.#leadTransferee !== null) throw new RaftError('proposal-dropped', 'leadership transfer in progress');
    if (this.#log.term(this.#log.committed) !== this.#term) {
      throw new RaftError('conf-change-pending', 'the leader has not yet committed an entry of its term');
    }
    if (this.#pendingConfIndex > this.#log.applied) {
      throw new RaftError('conf-change-pending', `a membership change (index ${this.#pendingConfIndex}) is not applied yet`);
    }
    applyConfChange(this.#conf, cc); // validation only; it takes effect when applied
    const idx = this.#proposeLocal('conf-change', encodeConfChange(cc));
    this.#pendingConfIndex = idx;
    return idx;
  }

  /** Add `id` as a learner (single-server change). */
  addLearner(id: NodeId): number {
    return this.proposeConfChange({ changes: [{ type: 'add-learner', id }] });
  }

  /**
   * Promote the learner `id` to voter. Refused (`invalid-conf-change`) unless it is a learner
   * that has caught up with the leader's log.
   */
  addVoter(id: NodeId): number {
    if (this.#role !== 'leader') throw new NotLeaderError(this.#lead);
    if (!this.#conf.learners.includes(id)) {
      throw new RaftError('invalid-conf-change', `${id} is not a learner: add it as a learner first so it catches up`);
    }
    if (!this.isCaughtUp(id)) throw new RaftError('invalid-conf-change', `learner ${id} has not caught up yet`);
    return this.proposeConfChange({ changes: [{ type: 'add-voter', id }] });
  }

  /** Remove `id` (single-server change). Removing the leader itself works: it steps down once applied. */
  removeNode(id: NodeId): number {
    return this.proposeConfChange({ changes: [{ type: 'remove', id }] });
  }

  /**
   * Request a linearizable read. The result arrives as a `ReadState` with the same `context`:
   * read locally once `applied >= index`. On followers the request is forwarded to the leader.
   * `context` must be unique among outstanding requests of this node.
   */
  readIndex(context: string): void {
    if (this.#role === 'leader') {
      this.#leaderReadIndex(this.id, context, true);
      return;
    }
    if (this.#lead !== null && this.#role === 'follower') {
      this.#send({ type: 'read-index', from: this.id, to: this.#lead, term: this.#term, context });
      return;
    }
    throw new NotLeaderError(this.#lead);
  }

  /** Transfer leadership to `target` (forwarded to the leader on followers). */
  transferLeader(target: NodeId): void {
    if (this.#role === 'leader') {
      this.#leaderTransfer(target, true);
      return;
    }
    if (this.#lead !== null) {
      this.#send({ type: 'transfer-leader', from: this.id, to: this.#lead, term: this.#term, target });
      return;
    }
    throw new NotLeaderError(null);
  }

  /** The transport could not reach `id`: stop optimistic pipelining to it. */
  reportUnreachable(id: NodeId): void {
    const pr = this.#prs.get(id);
    if (this.#role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** Result of streaming a snapshot to `id` outside the core (a failure restarts it later). */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.#prs.get(id);
    if (this.#role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for a heartbeat response before probing again
  }

  /**
   * Feed a message from another node. Malformed or out-of-range messages throw a typed
   * `RaftError` (`invalid-message`, `unknown-peer`, `removed-peer`, `snapshot-chunk-too-large`,
   * `commit-regression`) and leave the state unchanged.
   */
  step(m: Message): void {
    validateMessage(m, this.#c);
    if (m.to !== this.id) throw new InvalidMessageError('invalid-message', 'to', `message for ${m.to} delivered to ${this.id}`);
    if (m.from === this.id) throw new InvalidMessageError('invalid-message', 'from', 'message from self');
    if (this.#removed.has(m.from)) throw new InvalidMessageError('removed-peer', 'from', `${m.from} was removed from the cluster`);

    switch (m.type) {
      case 'prop':
      case 'read-index':
      case 'transfer-leader':
        this.#stepLocalish(m);
        return;
      default:
        break;
    }

    if (m.term > this.#term) {
      if (m.type === 'vote' || m.type === 'prevote') {
        const inLease =
          this.#c.checkQuorum &&
          ((this.#lead !== null && this.#electionElapsed < this.#c.electionTick) ||
            // Lease reads: also honour a lease we may have lost track of (restart, term change).
            (this.#c.readOnly === 'lease-based' && this.#ticksSinceLeader < this.#c.electionTick));
        if (inLease && !m.transfer) return; // a leader is alive: ignore disruptive candidates
      }
      if (m.type === 'prevote') {
        // never change term for a pre-vote
      } else if (m.type === 'prevote-resp' && !m.reject) {
        // a granted pre-vote carries the future term
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.#becomeFollower(m.term, m.from);
      } else {
        this.#becomeFollower(m.term, null);
      }
    } else if (m.term < this.#term) {
      if ((this.#c.checkQuorum || this.#c.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // Tell a stale leader (e.g. one back from a partition) about the newer term.
        this.#send({ type: 'app-resp', from: this.id, to: m.from, term: this.#term, reject: true, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'prevote') {
        this.#send({ type: 'prevote-resp', from: this.id, to: m.from, term: this.#term, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'prevote') {
      this.#handleVote(m);
      return;
    }
    switch (this.#role) {
      case 'leader':
        this.#stepLeader(m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.#stepCandidate(m);
        return;
      case 'follower':
        this.#stepFollower(m);
        return;
    }
  }

  // ---------------------------------------------------------------- ready / advance

  /** Is there anything in a Ready? */
  hasReady(): boolean {
    this.#flush();
    const log = this.#log;
    if (this.#msgs.length > 0 || this.#msgsAfter.length > 0 || this.#readStates.length > 0) return true;
    if (log.hasNextUnstable() || log.hasNextCommitted()) return true;
    if (log.snapshot !== null && !log.snapshotInProgress) return true;
    const hs = this.#prevHard;
    if (hs.term !== this.#term || hs.vote !== this.#vote || hs.commit !== log.committed) return true;
    const ss = this.#prevSoft;
    return ss.role !== this.#role || ss.leader !== this.#lead;
  }

  /** Collect everything the driver must do; see `Ready`. Call `advance(ready)` afterwards. */
  ready(): Ready {
    if (this.#readyPending) throw new RaftError('ready-pending', 'ready() called again before advance()');
    this.#flush();
    const log = this.#log;
    let softState: SoftState | null = null;
    if (this.#prevSoft.role !== this.#role || this.#prevSoft.leader !== this.#lead) {
      softState = { role: this.#role, leader: this.#lead };
      this.#prevSoft = softState;
    }
    let hardState: HardState | null = null;
    let mustSync = false;
    const ph = this.#prevHard;
    if (ph.term !== this.#term || ph.vote !== this.#vote || ph.commit !== log.committed) {
      hardState = this.#hardState();
      mustSync = ph.term !== this.#term || ph.vote !== this.#vote;
      this.#prevHard = hardState;
    }
    let snapshot: Snapshot | null = null;
    if (log.snapshot !== null && !log.snapshotInProgress) {
      snapshot = log.snapshot;
      log.snapshotInProgress = true;
      mustSync = true;
    }
    let entries: readonly Entry[] = NO_ENTRIES;
    if (log.hasNextUnstable()) {
      entries = log.nextUnstable();
      log.inProgress = log.lastIndex();
      mustSync = true;
    }
    let committedEntries: readonly Entry[] = NO_ENTRIES;
    if (log.hasNextCommitted()) {
      const ce = log.nextCommitted(this.#c.maxCommittedSizePerReady);
      if (ce.length > 0) {
        committedEntries = ce;
        log.applying = (ce[ce.length - 1] as Entry).index;
      }
    }
    const messages = this.#msgs.length > 0 ? this.#msgs : NO_MESSAGES;
    const persistedMessages = this.#msgsAfter.length > 0 ? this.#msgsAfter : NO_MESSAGES;
    const readStates = this.#readStates.length > 0 ? this.#readStates : NO_READS;
    if (this.#msgs.length > 0) this.#msgs = [];
    if (this.#msgsAfter.length > 0) this.#msgsAfter = [];
    if (this.#readStates.length > 0) this.#readStates = [];
    this.#readyPending = true;
    return { softState, hardState, entries, snapshot, committedEntries, messages, persistedMessages, readStates, mustSync };
  }

  /** The driver finished the obligations of `rd` (persisted, sent, applied). */
  advance(rd: Ready): void {
    if (!this.#readyPending) throw new RaftError('invalid-argument', 'advance() without a pending ready()');
    this.#readyPending = false;
    const log = this.#log;
    if (rd.snapshot !== null) {
      log.stableSnapTo(rd.snapshot.meta.index);
      log.appliedTo(rd.snapshot.meta.index);
    }
    const n = rd.entries.length;
    if (n > 0) {
      const last = rd.entries[n - 1] as Entry;
      log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      const leader = this.#role === 'leader';
      for (const e of rd.committedEntries) {
        if (e.type === 'conf-change') this.#applyConfEntry(e);
        else if (leader && e.type === 'normal' && e.term === this.#term) {
          this.#uncommittedSize = Math.max(0, this.#uncommittedSize - entrySize(e));
        }
      }
      log.appliedTo((rd.committedEntries[rd.committedEntries.length - 1] as Entry).index);
    }
    if (this.#role === 'leader') {
      const self = this.#prs.get(this.id);
      if (self !== undefined && self.maybeUpdate(log.persistedLast())) this.#maybeCommit();
      if (isJoint(this.#conf) && this.#conf.autoLeave && this.#pendingConfIndex <= log.applied) {
        // Leave the joint configuration automatically.
        const idx = this.#proposeLocal('conf-change', encodeConfChange({ changes: [] }), true);
        this.#pendingConfIndex = idx;
      }
    }
  }

  // ---------------------------------------------------------------- internals: roles

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }

  #isVoter(id: NodeId): boolean {
    return this.#conf.voters.includes(id) || this.#conf.votersOutgoing.includes(id);
  }

  #promotable(): boolean {
    return this.#isVoter(this.id) && this.#log.snapshot === null;
  }

  #resetRandomizedElectionTimeout(): void {
    const e = this.#c.electionTick;
    this.#randomizedElectionTimeout = e + Math.floor(this.#random() * e);
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#lead = null;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#leadTransferee = null;
    this.#votes.clear();
    const next = this.#log.lastIndex() + 1;
    for (const [id, pr] of this.#prs) {
      pr.match = 0;
      pr.next = next;
      pr.recentActive = false;
      pr.sentCommit = 0;
      pr.leaseAck = -1;
      pr.becomeProbe();
      pr.next = next;
      if (id === this.id) {
        pr.match = this.#log.persistedLast();
        pr.recentActive = true;
      }
    }
    this.#pendingConfIndex = 0;
    this.#uncommittedSize = 0;
    this.#reads = [];
    this.#readsBeforeCommit = [];
  }

  #becomeFollower(term: number, lead: NodeId | null): void {
    this.#reset(term);
    this.#lead = lead;
    if (lead !== null) this.#ticksSinceLeader = 0;
    this.#role = 'follower';
  }

  #becomePreCandidate(): void {
    // Pre-vote changes neither term nor vote.
    this.#role = 'pre-candidate';
    this.#votes.clear();
    this.#resetRandomizedElectionTimeout();
    this.#lead = null;
  }

  #becomeCandidate(): void {
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = 'candidate';
  }

  #becomeLeader(): void {
    this.#reset(this.#term);
    this.#role = 'leader';
    this.#lead = this.id;
    const self = this.#prs.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Conservative: no membership change until everything before the no-op is applied.
    this.#pendingConfIndex = this.#log.lastIndex();
    // The no-op of this term: commits everything before it (Raft §5.4.2, §8).
    this.#appendEntry('noop', EMPTY);
  }

  #hasUnappliedConfChanges(): boolean {
    const log = this.#log;
    if (log.committed <= log.applied) return false;
    const ents = log.slice(log.applied + 1, log.committed + 1, Number.MAX_SAFE_INTEGER);
    if (ents === null) return false;
    for (const e of ents) if (e.type === 'conf-change') return true;
    return false;
  }

  #hup(transfer: boolean): void {
    if (this.#role === 'leader') return;
    if (!this.#promotable()) return;
    // A committed but unapplied membership change may make us a non-voter: do not campaign.
    if (this.#hasUnappliedConfChanges()) return;
    if (this.#c.preVote && !transfer) this.#campaign('prevote', false);
    else this.#campaign('vote', transfer);
  }

  #campaign(kind: 'prevote' | 'vote', transfer: boolean): void {
    let term: number;
    if (kind === 'prevote') {
      this.#becomePreCandidate();
      term = this.#term + 1;
    } else {
      this.#becomeCandidate();
      term = this.#term;
    }
    if (this.#poll(this.id, true) === 'won') {
      if (kind === 'prevote') this.#campaign('vote', transfer);
      else this.#becomeLeader();
      return;
    }
    const lastLogIndex = this.#log.lastIndex();
    const lastLogTerm = this.#log.lastTerm();
    const seen = new Set<NodeId>();
    for (const id of [...this.#conf.voters, ...this.#conf.votersOutgoing]) {
      if (id === this.id || seen.has(id)) continue;
      seen.add(id);
      const msg: VoteMessage = { type: kind, from: this.id, to: id, term, lastLogIndex, lastLogTerm, transfer };
      this.#send(msg);
    }
  }

  #poll(id: NodeId, granted: boolean) {
    if (!this.#votes.has(id)) this.#votes.set(id, granted);
    return voteResult(this.#conf.voters, this.#conf.votersOutgoing, this.#votes);
  }

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.#promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.#hup(false);
    }
  }

  #tickHeartbeat(): void {
    this.#ticksSinceLeader = 0;
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#c.electionTick) {
      this.#electionElapsed = 0;
      if (this.#c.checkQuorum) {
        const active = hasQuorum(this.#conf.voters, this.#conf.votersOutgoing, (id) => {
          if (id === this.id) return true;
          return this.#prs.get(id)?.recentActive === true;
        });
        for (const [id, pr] of this.#prs) if (id !== this.id) pr.recentActive = false;
        if (!active) {
          this.#becomeFollower(this.#term, null); // lost contact with a quorum: step down
          return;
        }
      }
      this.#leadTransferee = null; // a transfer must finish within an election timeout
    }
    if (this.#heartbeatElapsed >= this.#c.heartbeatTick) {
      this.#heartbeatElapsed = 0;
      const last = this.#reads[this.#reads.length - 1];
      this.#bcastHeartbeat(last === undefined ? '' : last.key);
    }
  }

  // ---------------------------------------------------------------- internals: messages

  #send(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
      case 'timeout-now':
      case 'read-index-resp':
        if (this.#role === 'leader') {
          this.#msgs.push(m);
          return;
        }
        break;
      case 'prop':
      case 'read-index':
      case 'transfer-leader':
        this.#msgs.push(m);
        return;
      default:
        break;
    }
    this.#msgsAfter.push(m);
  }

  #handleVote(m: VoteMessage): void {
    const canVote =
      this.#vote === m.from ||
      (this.#vote === null && this.#lead === null) ||
      (m.type === 'prevote' && m.term > this.#term);
    const respType = m.type === 'vote' ? 'vote-resp' : 'prevote-resp';
    if (canVote && this.#log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      this.#send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        // Only a real vote resets the timer (granting a pre-vote must not delay our own election).
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.#send({ type: respType, from: this.id, to: m.from, term: this.#term, reject: true });
    }
  }

  #stepLocalish(m: Extract<Message, { type: 'prop' | 'read-index' | 'transfer-leader' }>): void {
    if (this.#role === 'leader') {
      if (!this.#prs.has(m.from)) throw new InvalidMessageError('unknown-peer', 'from', `${m.from} is not a member`);
      switch (m.type) {
        case 'prop':
          if (this.#leadTransferee !== null) return;
          for (const e of m.entries) {
            if (e.type === 'conf-change') continue; // membership changes are not forwarded
            try {
              this.#proposeLocal(e.type === 'noop' ? 'normal' : e.type, e.data);
            } catch {
              return; // dropped (back-pressure); the client retries
            }
          }
          return;
        case 'read-index':
          this.#leaderReadIndex(m.from, m.context, false);
          return;
        case 'transfer-leader':
          this.#leaderTransfer(m.target, false);
          return;
      }
    }
    if (this.#role !== 'follower' || this.#lead === null) {
      if (m.type === 'read-index') {
        this.#send({ type: 'read-index-resp', from: this.id, to: m.from, term: this.#term, context: m.context, index: 0, reject: true });
      }
      return;
    }
    if (m.type === 'read-index') {
      // Only the requester can receive the answer: tell it to ask the leader itself.
      this.#send({ type: 'read-index-resp', from: this.id, to: m.from, term: this.#term, context: m.context, index: 0, reject: true });
      return;
    }
    if (m.type === 'prop' && this.#c.disableProposalForwarding) return;
    if (m.from === this.#lead) return; // never bounce back to the leader
    this.#send({ ...m, from: this.id, to: this.#lead, term: this.#term });
  }

  #stepLeader(m: Message): void {
    const pr = this.#prs.get(m.from);
    switch (m.type) {
      case 'app-resp':
        if (pr === undefined) throw new InvalidMessageError('unknown-peer', 'from', `${m.from} is not a member`);
        this.#handleAppendResponse(m, pr);
        return;
      case 'heartbeat-resp':
        if (pr === undefined) throw new InvalidMessageError('unknown-peer', 'from', `${m.from} is not a member`);
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'snapshot') pr.snapOffset = pr.snapAcked; // resend what was not acknowledged
        if (pr.state === 'replicate') {
          // No progress for a whole heartbeat round while behind: an append was lost. Fall
          // back to probing from the match (pipelining resumes on the next success).
          if (pr.match < this.#log.lastIndex() && pr.match === pr.matchAtHeartbeat) pr.becomeProbe();
          pr.matchAtHeartbeat = pr.match;
        }
        if (m.context !== '') {
          const at = m.context.lastIndexOf('@');
          const sent = at < 0 ? NaN : Number(m.context.slice(at + 1));
          if (Number.isSafeInteger(sent) && sent > pr.leaseAck && sent <= this.#ticks) pr.leaseAck = sent;
          const key = at < 0 ? m.context : m.context.slice(0, at);
          if (key !== '') this.#ackRead(key, m.from);
        }
        return;
      case 'snap-resp':
        if (pr === undefined) throw new InvalidMessageError('unknown-peer', 'from', `${m.from} is not a member`);
        pr.recentActive = true;
        if (pr.state === 'snapshot' && pr.snap !== null && m.index === pr.pendingSnapshot) {
          if (m.nextOffset > pr.snap.data.byteLength) throw new InvalidMessageError('invalid-message', 'nextOffset', 'beyond the snapshot size');
          if (m.reject) {
            pr.snapAcked = m.nextOffset;
            pr.snapOffset = m.nextOffset;
          } else if (m.nextOffset > pr.snapAcked) {
            pr.snapAcked = m.nextOffset;
          }
        }
        return;
      case 'vote-resp':
      case 'prevote-resp':
      case 'timeout-now':
      case 'read-index-resp':
      case 'app':
      case 'heartbeat':
      case 'snap':
        return; // stale or impossible at this term: ignore
      default:
        return;
    }
  }

  #stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
        this.#becomeFollower(m.term, m.from); // same term: keeps the vote
        this.#handleAppend(m);
        return;
      case 'heartbeat':
        this.#becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case 'snap':
        this.#becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case 'vote-resp':
      case 'prevote-resp': {
        const expected = this.#role === 'pre-candidate' ? 'prevote-resp' : 'vote-resp';
        if (m.type !== expected) return; // pre-vote answers never count as votes
        if (!this.#isVoter(m.from)) throw new InvalidMessageError('unknown-peer', 'from', `${m.from} is not a voter`);
        const res = this.#poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.#role === 'pre-candidate') this.#campaign('vote', false);
          else this.#becomeLeader();
        } else if (res === 'lost') {
          this.#becomeFollower(this.#term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.#electionElapsed = 0;
        this.#ticksSinceLeader = 0;
        this.#lead = m.from;
        this.#handleAppend(m);
        return;
      case 'heartbeat':
        this.#electionElapsed = 0;
        this.#ticksSinceLeader = 0;
        this.#lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case 'snap':
        this.#electionElapsed = 0;
        this.#ticksSinceLeader = 0;
        this.#lead = m.from;
        this.#handleSnapshot(m);
        return;
      case 'timeout-now':
        this.#hup(true); // leadership transfer: skip pre-vote and leases
        return;
      case 'read-index-resp':
        if (!m.reject) this.#readStates.push({ context: m.context, index: m.index });
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- internals: replication

  #handleAppend(m: AppendMessage): void {
    const log = this.#log;
    if (m.prevIndex < log.committed) {
      this.#send({ type: 'app-resp', from: this.id, to: m.from, term: this.#term, reject: false, index: log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const lastNew = log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew >= 0) {
      this.#send({ type: 'app-resp', from: this.id, to: m.from, term: this.#term, reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 });
      return;
    }
    let hintIndex = Math.min(m.prevIndex, log.lastIndex());
    hintIndex = log.findConflictByTerm(hintIndex, m.prevTerm);
    const hintTerm = Math.max(0, log.term(hintIndex));
    this.#send({ type: 'app-resp', from: this.id, to: m.from, term: this.#term, reject: true, index: m.prevIndex, hintIndex, hintTerm });
  }

  #handleHeartbeat(m: HeartbeatMessage): void {
    const log = this.#log;
    // The leader sends min(match, commit): above our last index means we lost acknowledged data.
    if (m.commit > log.lastIndex()) {
      throw new InvalidMessageError(
        'commit-regression',
        'commit',
        `leader commit ${m.commit} is beyond our last index ${log.lastIndex()}: was the raft log corrupted, truncated, or lost?`,
      );
    }
    log.commitTo(m.commit);
    this.#send({ type: 'heartbeat-resp', from: this.id, to: m.from, term: this.#term, context: m.context });
  }

  #handleAppendResponse(m: AppendResponseMessage, pr: Progress): void {
    const log = this.#log;
    if (m.index > log.lastIndex()) {
      throw new InvalidMessageError('invalid-message', 'index', `index ${m.index} beyond the leader's last index ${log.lastIndex()}`);
    }
    pr.recentActive = true;
    if (m.reject) {
      let next = m.hintIndex;
      if (m.hintTerm > 0) next = log.findConflictByTerm(m.hintIndex, m.hintTerm);
      if (pr.maybeDecrTo(m.index, next) && pr.state === 'replicate') pr.becomeProbe();
      return;
    }
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
      this.#maybeCommit();
      if (m.from === this.#leadTransferee && pr.match === log.lastIndex()) {
        this.#send({ type: 'timeout-now', from: this.id, to: m.from, term: this.#term });
      }
    }
  }

  /** Commit by counting replicas only for an entry of the current term (Raft §5.4.2). */
  #maybeCommit(): boolean {
    const log = this.#log;
    const mci = committedIndex(this.#conf.voters, this.#conf.votersOutgoing, (id) => this.#prs.get(id)?.match ?? 0);
    if (mci <= log.committed || mci === Number.MAX_SAFE_INTEGER) return false;
    if (log.term(mci) !== this.#term) return false;
    const hadTermCommit = log.term(log.committed) === this.#term;
    log.commitTo(mci);
    if (!hadTermCommit) this.#releaseReadsBeforeCommit();
    return true;
  }

  #proposeLocal(type: EntryType, data: Uint8Array, internal = false): number {
    if (!internal && this.#leadTransferee !== null) throw new RaftError('proposal-dropped', 'leadership transfer in progress');
    if (!this.#prs.has(this.id)) throw new RaftError('proposal-dropped', 'this node is not a member');
    const size = data.byteLength + 24;
    if (!internal && this.#uncommittedSize > 0 && this.#uncommittedSize + size > this.#c.maxUncommittedEntriesSize) {
      throw new RaftError('uncommitted-limit', `uncommitted entries exceed ${this.#c.maxUncommittedEntriesSize} bytes`);
    }
    if (type === 'normal') this.#uncommittedSize += size;
    return this.#appendEntry(type, data);
  }

  #appendEntry(type: EntryType, data: Uint8Array): number {
    const index = this.#log.lastIndex() + 1;
    this.#log.appendNext({ term: this.#term, index, type, data });
    return index;
  }

  /** Leader: send whatever each follower can take (batched per Ready). */
  #flush(): void {
    if (this.#role !== 'leader') return;
    const committed = this.#log.committed;
    for (const [id, pr] of this.#prs) {
      if (id === this.id) continue;
      if (pr.state === 'snapshot') {
        this.#sendSnapshotChunks(id, pr);
        continue;
      }
      while (this.#sendAppend(id, pr, false)) {
        /* keep pipelining */
      }
      if (pr.sentCommit < committed) this.#sendAppend(id, pr, true);
    }
  }

  #sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const log = this.#log;
    const last = log.lastIndex();
    if (!sendIfEmpty && pr.next > last) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm < 0) {
      this.#startSnapshot(to, pr);
      return false;
    }
    let ents: Entry[] = [];
    if (pr.next <= last) {
      const s = log.slice(pr.next, last + 1, this.#c.maxSizePerMsg);
      if (s === null) {
        this.#startSnapshot(to, pr);
        return false;
      }
      ents = s;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    const commit = log.committed;
    this.#msgs.push({ type: 'app', from: this.id, to, term: this.#term, prevIndex, prevTerm, entries: ents, commit });
    pr.sentCommit = commit;
    pr.sentEntries(prevIndex + ents.length, ents.length, bytes);
    return ents.length > 0;
  }

  #startSnapshot(_to: NodeId, pr: Progress): void {
    if (!pr.recentActive) return;
    let snap: Snapshot;
    try {
      snap = this.#log.storage.snapshot();
    } catch {
      return; // temporarily unavailable: retry on a later Ready
    }
    if (snap.meta.index === 0) return;
    pr.becomeSnapshot(snap);
  }

  #sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const snap = pr.snap;
    if (snap === null) return;
    const total = snap.data.byteLength;
    const chunk = this.#c.maxSnapshotChunkBytes;
    const window = chunk * this.#c.snapshotChunkWindow;
    // `snapOffset > total` means "everything sent, waiting for the answer".
    while (pr.snapOffset <= total && pr.snapOffset - pr.snapAcked < window) {
      const off = pr.snapOffset;
      const end = Math.min(off + chunk, total);
      const done = end === total;
      this.#msgs.push({
        type: 'snap',
        from: this.id,
        to,
        term: this.#term,
        meta: snap.meta,
        offset: off,
        totalBytes: total,
        data: snap.data.subarray(off, end),
        done,
      });
      pr.snapOffset = done ? total + 1 : end;
      if (done) break;
    }
  }

  #handleSnapshot(m: SnapshotMessage): void {
    const log = this.#log;
    if (m.meta.index <= log.committed) {
      // Already have it (or newer): never go backwards; tell the leader where we are.
      if (this.#incoming !== null && this.#incoming.snap.index <= log.committed) this.#incoming = null;
      this.#send({ type: 'app-resp', from: this.id, to: m.from, term: this.#term, reject: false, index: log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    let s = this.#incoming;
    const same =
      s !== null && s.from === m.from && s.term === m.term && s.snap.index === m.meta.index && s.snap.term === m.meta.term && s.total === m.totalBytes;
    if (!same) {
      if (m.offset !== 0) {
        // A chunk in the middle never starts a session.
        this.#snapResp(m, 0, true);
        return;
      }
      s = { from: m.from, term: m.term, snap: m.meta, total: m.totalBytes, buf: new Uint8Array(m.totalBytes), received: 0 };
      this.#incoming = s;
    }
    if (s === null) return;
    const end = m.offset + m.data.byteLength;
    if (m.offset > s.received) {
      this.#snapResp(m, s.received, true); // gap: resume from what we have
      return;
    }
    if (end > s.received) {
      s.buf.set(m.data.subarray(s.received - m.offset), s.received);
      s.received = end;
    }
    if (s.received < s.total) {
      this.#snapResp(m, s.received, false);
      return;
    }
    // Complete: adopt it (only now; a partial snapshot is never installed).
    this.#incoming = null;
    this.#restore({ meta: s.snap, data: s.buf }, m.from);
  }

  #snapResp(m: SnapshotMessage, nextOffset: number, reject: boolean): void {
    this.#send({ type: 'snap-resp', from: this.id, to: m.from, term: this.#term, index: m.meta.index, nextOffset, done: false, reject });
  }

  #restore(snap: Snapshot, from: NodeId): void {
    const log = this.#log;
    const ack = (index: number): void => {
      this.#send({ type: 'app-resp', from: this.id, to: from, term: this.#term, reject: false, index, hintIndex: 0, hintTerm: 0 });
    };
    if (snap.meta.index <= log.committed) {
      ack(log.committed);
      return;
    }
    if (log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already have the entries: just fast-forward the commit index.
      log.commitTo(snap.meta.index);
      ack(log.committed);
      return;
    }
    // Note: a new member may receive a snapshot older than its own addition; it is installed
    // anyway and the node learns its membership from the entries that follow.
    log.restore(snap);
    this.#conf = snap.meta.conf;
    this.#setConf(snap.meta.conf);
    ack(log.lastIndex());
  }

  #bcastHeartbeat(readKey: string): void {
    const committed = this.#log.committed;
    // The context names the read round (if any) and the tick it was sent at (for the lease).
    const context = `${readKey}@${this.#ticks}`;
    for (const [id, pr] of this.#prs) {
      if (id === this.id) continue;
      this.#msgs.push({ type: 'heartbeat', from: this.id, to: id, term: this.#term, commit: Math.min(pr.match, committed), context });
    }
  }

  // ---------------------------------------------------------------- internals: reads, transfer

  #singleVoter(): boolean {
    const c = this.#conf;
    return c.votersOutgoing.length === 0 && c.voters.length === 1 && c.voters[0] === this.id;
  }

  #readResp(from: NodeId, context: string, index: number): void {
    if (from === this.id) this.#readStates.push({ context, index });
    else this.#send({ type: 'read-index-resp', from: this.id, to: from, term: this.#term, context, index, reject: false });
  }

  #leaderReadIndex(from: NodeId, context: string, local: boolean): void {
    const log = this.#log;
    if (this.#reads.length + this.#readsBeforeCommit.length >= this.#c.maxPendingReads) {
      if (local) throw new RaftError('proposal-dropped', `more than ${this.#c.maxPendingReads} pending reads`);
      this.#send({ type: 'read-index-resp', from: this.id, to: from, term: this.#term, context, index: 0, reject: true });
      return;
    }
    if (log.term(log.committed) !== this.#term) {
      // The read index is only meaningful once an entry of this term committed.
      this.#readsBeforeCommit.push({ from, context });
      return;
    }
    if (this.#singleVoter() || (this.#c.readOnly === 'lease-based' && this.#leaseValid())) {
      this.#readResp(from, context, log.committed);
      return;
    }
    const key = `${this.#term}.${++this.#readSeq}`;
    this.#reads.push({ key, context, from, index: log.committed, acks: new Set([this.id]) });
    this.#bcastHeartbeat(key); // confirm leadership after capturing the index
  }

  /**
   * The leader lease holds while a quorum acknowledged heartbeats sent less than
   * `electionTick - 1` ticks ago: those voters refuse other candidates for `electionTick` ticks
   * after receiving them (one tick of margin for clock drift).
   */
  #leaseValid(): boolean {
    if (this.#leadTransferee !== null) return false;
    const horizon = this.#ticks - (this.#c.electionTick - 1);
    return hasQuorum(this.#conf.voters, this.#conf.votersOutgoing, (id) => {
      if (id === this.id) return true;
      const pr = this.#prs.get(id);
      return pr !== undefined && pr.leaseAck > horizon;
    });
  }

  #releaseReadsBeforeCommit(): void {
    const pending = this.#readsBeforeCommit;
    this.#readsBeforeCommit = [];
    for (const r of pending) this.#leaderReadIndex(r.from, r.context, false);
  }

  #ackRead(key: string, from: NodeId): void {
    const reads = this.#reads;
    let i = -1;
    for (let j = 0; j < reads.length; j++) {
      if ((reads[j] as PendingRead).key === key) {
        i = j;
        break;
      }
    }
    if (i < 0) return;
    const r = reads[i] as PendingRead;
    r.acks.add(from);
    if (!hasQuorum(this.#conf.voters, this.#conf.votersOutgoing, (id) => r.acks.has(id))) return;
    // A quorum confirmed leadership after every earlier request was captured: release them all.
    this.#reads = reads.slice(i + 1);
    for (let j = 0; j <= i; j++) {
      const x = reads[j] as PendingRead;
      this.#readResp(x.from, x.context, x.index);
    }
  }

  #leaderTransfer(target: NodeId, local: boolean): void {
    const pr = this.#prs.get(target);
    if (pr === undefined || pr.isLearner) {
      if (local) throw new RaftError('invalid-transfer', `${target} is not a voter`);
      return;
    }
    if (target === this.id) return;
    if (this.#leadTransferee === target) return;
    this.#leadTransferee = target;
    this.#electionElapsed = 0;
    if (pr.match === this.#log.lastIndex()) {
      this.#send({ type: 'timeout-now', from: this.id, to: target, term: this.#term });
    } else if (pr.state === 'replicate') {
      pr.becomeProbe(); // (re)send from its match right away so it catches up quickly
    }
  }

  // ---------------------------------------------------------------- internals: membership

  #setConf(conf: ConfState): void {
    const all = members(conf);
    const learners = new Set([...conf.learners, ...conf.learnersNext]);
    for (const id of [...this.#prs.keys()]) if (!all.has(id)) this.#prs.delete(id);
    const next = this.#log.lastIndex() + 1;
    for (const id of all) {
      let pr = this.#prs.get(id);
      if (pr === undefined) {
        pr = new Progress(next, this.#c.maxInflightMsgs, this.#c.maxInflightBytes, false);
        if (id === this.id) {
          pr.match = this.#log.persistedLast();
          pr.recentActive = true;
        } else {
          pr.recentActive = true; // new members get a grace period before check-quorum counts them
        }
        this.#prs.set(id, pr);
      }
      pr.isLearner = learners.has(id) && !conf.voters.includes(id) && !conf.votersOutgoing.includes(id);
    }
    this.#removed = new Set(conf.removed);
  }

  #applyConfEntry(e: Entry): void {
    let cc: ConfChange;
    let next: ConfState;
    try {
      cc = decodeConfChange(e.data);
      next = applyConfChange(this.#conf, cc);
    } catch {
      return; // deterministic on every node: an invalid change is skipped everywhere
    }
    this.#conf = next;
    this.#setConf(next);
    if (this.#role !== 'leader') return;
    if (!this.#isVoter(this.id)) {
      // Removed (or demoted) leader: step down; the others elect a new leader.
      this.#becomeFollower(this.#term, null);
      return;
    }
    if (this.#leadTransferee !== null && !this.#isVoter(this.#leadTransferee)) this.#leadTransferee = null;
    this.#maybeCommit();
  }
}

function tryApply(conf: ConfState, data: Uint8Array): ConfState {
  try {
    return applyConfChange(conf, decodeConfChange(data));
  } catch {
    return conf;
  }
}
