/**
 * The one errors module of `@abi/raft`. Every error thrown by the package is a `RaftError`
 * with a `code` from `RaftErrorCode`; match on `code` (or use `isRaftError`), never on message
 * text. The brand makes `isRaftError` work across duplicate installs of the package.
 */

const BRAND = Symbol.for('@abi/raft/error');

export type RaftErrorCode =
  // storage read contract
  | 'compacted' // requested index is below the first available index (compacted away)
  | 'unavailable' // requested index is above the last index
  | 'snapshot-unavailable' // snapshot temporarily unavailable (being created)
  | 'snapshot-out-of-date' // snapshot older than what storage already holds
  // proposals
  | 'not-leader' // proposal / read / transfer needs a leader and none is known (or forwarding disabled)
  | 'proposal-dropped' // dropped (leader transferring, removed node, ...)
  | 'uncommitted-limit' // back-pressure: too many uncommitted bytes on the leader
  | 'conf-change-pending' // a membership change is already pending / no current-term entry committed yet
  | 'invalid-conf-change' // the change is not allowed (removed id, would leave no voters, ...)
  | 'transfer-in-progress'
  | 'invalid-transfer' // unknown target / learner target
  // messages
  | 'invalid-message' // malformed or out-of-range message (names the field)
  | 'unknown-peer' // message from/to a node not in the configuration
  | 'removed-peer' // message from a removed node id
  | 'snapshot-chunk-too-large'
  | 'commit-regression' // storage lost committed data (log corrupted, truncated or lost?)
  // API misuse / configuration
  | 'invalid-config'
  | 'invalid-argument'
  | 'ready-pending' // ready() called again before advance()
  // drivers and durable storage (used by ./node)
  | 'corrupt' // durable data failed its checksum in a place that is not a torn tail
  | 'io'
  | 'closed'
  | 'aborted'
  | 'timeout'
  | 'transport';

export interface RaftErrorOptions {
  readonly cause?: unknown;
}

/** Base class of every error thrown by `@abi/raft`. */
export class RaftError extends Error {
  readonly code: RaftErrorCode;
  readonly [BRAND] = true;

  constructor(code: RaftErrorCode, message: string, options?: RaftErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'RaftError';
  }
}

/** True for any `RaftError`, including ones from another copy of the package. */
export function isRaftError(e: unknown): e is RaftError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** This node is not the leader. `leader` is the known leader (a hint), or null. */
export class NotLeaderError extends RaftError {
  readonly leader: string | null;
  constructor(leader: string | null, message = 'not the leader') {
    super('not-leader', leader === null ? `${message} (leader unknown)` : `${message} (leader: ${leader})`);
    this.name = 'NotLeaderError';
    this.leader = leader;
  }
}

/** A message failed validation. `field` names what was wrong; state is unchanged. */
export class InvalidMessageError extends RaftError {
  readonly field: string;
  constructor(
    code: 'invalid-message' | 'unknown-peer' | 'removed-peer' | 'snapshot-chunk-too-large' | 'commit-regression',
    field: string,
    message: string,
  ) {
    super(code, `${message} [${field}]`);
    this.name = 'InvalidMessageError';
    this.field = field;
  }
}

/** Durable data is corrupt (not a torn tail). `offset` is the byte offset in `file`. */
export class CorruptionError extends RaftError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, message: string, options?: RaftErrorOptions) {
    super('corrupt', `${message} (${file} @ ${offset})`, options);
    this.name = 'CorruptionError';
    this.file = file;
    this.offset = offset;
  }
}
