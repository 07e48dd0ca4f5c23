// @abi/raft — the pure consensus core (no timers, I/O or randomness inside).
export { RaftError, NotLeaderError, InvalidMessageError, CorruptionError, isRaftError } from './errors.js';
export type { RaftErrorCode, RaftErrorOptions } from './errors.js';

export { MESSAGE_TYPES, EMPTY_CONF_STATE, EMPTY_HARD_STATE } from './core/types.js';
export type {
  NodeId,
  EntryType,
  Entry,
  HardState,
  ConfState,
  SnapshotMeta,
  Snapshot,
  ConfChangeType,
  ConfChangeSingle,
  ConfChange,
  Role,
  VoteMessage,
  VoteResponseMessage,
  AppendMessage,
  AppendResponseMessage,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  SnapshotMessage,
  SnapshotResponseMessage,
  TimeoutNowMessage,
  ReadIndexMessage,
  ReadIndexResponseMessage,
  ProposeMessage,
  TransferLeaderMessage,
  Message,
  MessageType,
  ReadState,
  SoftState,
  InitialState,
} from './core/types.js';

export { MemoryStorage, entrySize, entriesSize, limitSize } from './core/storage.js';
export type { Storage } from './core/storage.js';

export { RawNode } from './core/raft.js';
export type { Ready, RaftStatus, PeerStatus } from './core/raft.js';
export { DEFAULT_TICK_MS, resolveConfig, seededRandom } from './core/config.js';
export type { RaftConfig, ResolvedConfig } from './core/config.js';
export { encodeConfChange, decodeConfChange, applyConfChange } from './core/confchange.js';
export { validateMessage } from './core/validate.js';
export type { ProgressState } from './core/progress.js';
