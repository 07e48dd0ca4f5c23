/**
 * Data types shared by the pure Raft core, storage implementations and drivers.
 *
 * Stability: these shapes are a contract between the core (`@abi/raft`), storage
 * implementations (`MemoryStorage`, `FileStorage`) and drivers (`RaftNode`, the transport).
 * Fields are only ever added, never removed or retyped.
 *
 * Conventions: indexes and terms are non-negative safe integers; index 0 / term 0 mean
 * "nothing" (the log starts at index 1). Node ids are non-empty strings, unique for all time:
 * an id that was removed from the cluster is never accepted again.
 */

/** A node id. Unique for all time (never reuse the id of a removed node). */
export type NodeId = string;

/**
 * `normal`: an application command (`data` is opaque to Raft).
 * `conf-change`: a membership change; `data` is `encodeConfChange(ConfChange)`.
 * `noop`: the empty entry a new leader appends in its term (never reaches the state machine as
 * a command, but it is delivered in `committedEntries` so `applied` can advance).
 */
export type EntryType = 'normal' | 'conf-change' | 'noop';

/** One log entry. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * The state that must be durable before any message that depends on it is sent.
 * Invariant: `term` and `vote` are replaced together, atomically.
 */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or null. */
  readonly vote: NodeId | null;
  /** Highest index known committed. Persisting it is an optimisation; it may lag. */
  readonly commit: number;
}

/**
 * Cluster membership. Outside a joint configuration `votersOutgoing` is empty.
 * In a joint configuration decisions need a majority of `voters` AND of `votersOutgoing`.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Voters of the outgoing configuration while joint; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  /** Nodes that become learners when the joint configuration is left (demoted voters). */
  readonly learnersNext: readonly NodeId[];
  /** Leave the joint configuration automatically once it is applied (leader proposes it). */
  readonly autoLeave: boolean;
  /** Ids removed from the cluster. They are never accepted again. */
  readonly removed: readonly NodeId[];
}

/** Describes the state a snapshot captures. */
export interface SnapshotMeta {
  /** Index of the last entry the snapshot includes. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** Membership as of `index` (membership survives compaction). */
  readonly conf: ConfState;
}

/** A state-machine snapshot. `data` is opaque to Raft. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** One step of a membership change. */
export type ConfChangeType = 'add-voter' | 'add-learner' | 'remove';

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly id: NodeId;
}

/**
 * A membership change, carried in `conf-change` entries.
 *
 * - `changes` with a single voter change (or only learner changes) is applied directly
 *   ("single-server change").
 * - any other non-empty `changes` enters a joint configuration (`transition` decides whether it is
 *   left automatically, default `'auto'`).
 * - empty `changes` leaves the joint configuration.
 */
export interface ConfChange {
  readonly changes: readonly ConfChangeSingle[];
  /** `'auto'` (default): leave joint automatically; `'joint'`: force joint, leave explicitly. */
  readonly transition?: 'auto' | 'joint';
}

/** Role of a node. */
export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term (for pre-vote requests: the term it would campaign in). */
  readonly term: number;
}

/** RequestVote (`vote`) and pre-vote (`prevote`) request. */
export interface VoteMessage extends MessageBase {
  readonly type: 'vote' | 'prevote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Campaign caused by a leadership transfer: voters ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends MessageBase {
  readonly type: 'vote-resp' | 'prevote-resp';
  readonly reject: boolean;
}

/** AppendEntries. `prevIndex`/`prevTerm` identify the entry preceding `entries`. */
export interface AppendMessage extends MessageBase {
  readonly type: 'app';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * AppendEntries response. On success `index` is the last index now matching the leader.
 * On rejection `index` echoes the rejected `prevIndex`, and `hintIndex`/`hintTerm` describe the
 * follower's log for fast backtracking: the largest index `<= prevIndex` whose term is
 * `<= prevTerm` (`hintTerm` is its term).
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: 'app-resp';
  readonly reject: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Heartbeat; `context` is a ReadIndex round being confirmed (empty string when none). */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly context: string;
}

export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: 'heartbeat-resp';
  readonly context: string;
}

/**
 * One chunk of an InstallSnapshot stream. A follower adopts the snapshot only when it has all
 * `[0, totalBytes)` bytes (the chunk with `done`), never a partial one.
 */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snap';
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` inside the snapshot. */
  readonly offset: number;
  readonly totalBytes: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

/**
 * InstallSnapshot chunk acknowledgement: `nextOffset` is the next byte the follower expects for
 * snapshot `index` (the resume point); `reject` when the chunk did not fit (gap, or no transfer
 * in progress) and the leader must resume from `nextOffset`. Adopting the complete snapshot is
 * acknowledged with an `app-resp` for the snapshot index instead. `done` is reserved (false).
 */
export interface SnapshotResponseMessage extends MessageBase {
  readonly type: 'snap-resp';
  readonly index: number;
  readonly nextOffset: number;
  readonly done: boolean;
  readonly reject: boolean;
}

/** Leadership transfer: the target campaigns at once, bypassing pre-vote and leases. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeout-now';
}

/** A follower forwards a ReadIndex request to the leader. */
export interface ReadIndexMessage extends MessageBase {
  readonly type: 'read-index';
  readonly context: string;
}

/** The leader's answer: read at `index` once applied >= index. `reject` when not leader. */
export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: 'read-index-resp';
  readonly context: string;
  readonly index: number;
  readonly reject: boolean;
}

/** A follower forwards proposals to the leader. */
export interface ProposeMessage extends MessageBase {
  readonly type: 'prop';
  readonly entries: readonly Entry[];
}

/** A follower forwards a leadership transfer request to the leader. */
export interface TransferLeaderMessage extends MessageBase {
  readonly type: 'transfer-leader';
  readonly target: NodeId;
}

/** Every message exchanged between Raft nodes. */
export type Message =
  | VoteMessage
  | VoteResponseMessage
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | SnapshotResponseMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | ProposeMessage
  | TransferLeaderMessage;

export type MessageType = Message['type'];

/** All message types, in a stable order (useful for codecs). */
export const MESSAGE_TYPES: readonly MessageType[] = [
  'vote',
  'vote-resp',
  'prevote',
  'prevote-resp',
  'app',
  'app-resp',
  'heartbeat',
  'heartbeat-resp',
  'snap',
  'snap-resp',
  'timeout-now',
  'read-index',
  'read-index-resp',
  'prop',
  'transfer-leader',
] as const;

/** A completed ReadIndex request: read locally once `applied >= index`. */
export interface ReadState {
  readonly context: string;
  readonly index: number;
}

/** Volatile state reported when it changes. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
}

/** Initial state read from storage on start. */
export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/** An empty membership. */
export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
  removed: [],
});

/** The empty hard state of a fresh node. */
export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });
