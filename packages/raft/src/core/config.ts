import { RaftError } from '../errors.js';
import type { Storage } from './storage.js';
import type { NodeId } from './types.js';

/** Milliseconds per tick assumed by the defaults (the driver calls `tick()` this often). */
export const DEFAULT_TICK_MS = 10;

/** Configuration of a Raft core. Times are in ticks; sizes in bytes (see `entrySize`). */
export interface RaftConfig {
  /** This node's id (non-empty, unique for all time). */
  readonly id: NodeId;
  readonly storage: Storage;
  /**
   * Source of randomness in [0, 1) for election timeouts. Inject a seeded generator
   * (`seededRandom(seed)`) so runs are reproducible.
   */
  readonly random: () => number;
  /**
   * Voters of a brand-new cluster, used only when storage is empty (no snapshot membership, no
   * entries, term 0). All initial members must be given the same list. Nodes added later start
   * with no `bootstrap` and learn membership from the leader.
   */
  readonly bootstrap?: readonly NodeId[];
  /** Election timeout base; the actual timeout is uniform in [electionTick, 2·electionTick). @default 15 (150–300 ms at 10 ms ticks) */
  readonly electionTick?: number;
  /** Leader heartbeat interval. @default 5 (50 ms) */
  readonly heartbeatTick?: number;
  /** Pre-vote (thesis §9.6). @default true */
  readonly preVote?: boolean;
  /** Leader steps down without contact from a quorum within an election timeout; followers ignore votes while they hear a leader. @default true */
  readonly checkQuorum?: boolean;
  /** `'safe'`: ReadIndex confirms leadership with a quorum round. `'lease-based'`: trusts the leader lease (requires checkQuorum). @default 'safe' */
  readonly readOnly?: 'safe' | 'lease-based';
  /** Max bytes of entries in one append message (at least one entry is always sent). @default 1 MiB */
  readonly maxSizePerMsg?: number;
  /** Max append messages in flight per follower (pipelining depth). @default 256 */
  readonly maxInflightMsgs?: number;
  /** Max bytes in flight per follower (0 = unlimited). @default 32 MiB */
  readonly maxInflightBytes?: number;
  /** Proposals are refused (`uncommitted-limit`) beyond this many uncommitted bytes on the leader. @default 64 MiB */
  readonly maxUncommittedEntriesSize?: number;
  /** Max bytes of committed entries handed out in one Ready. @default 16 MiB */
  readonly maxCommittedSizePerReady?: number;
  /** Max bytes of one InstallSnapshot chunk (sent, and accepted). @default 1 MiB */
  readonly maxSnapshotChunkBytes?: number;
  /** Max total size of a snapshot accepted from a leader. @default 1 GiB */
  readonly maxSnapshotBytes?: number;
  /** InstallSnapshot chunks in flight per follower. @default 4 */
  readonly snapshotChunkWindow?: number;
  /** Max ReadIndex requests waiting for confirmation. @default 4096 */
  readonly maxPendingReads?: number;
  /** Followers refuse to forward proposals (propose() throws `not-leader`). @default false */
  readonly disableProposalForwarding?: boolean;
  /** The index the state machine has applied (on restart). @default the snapshot index */
  readonly applied?: number;
  /** A learner is caught up (may be promoted) when it replicates and its match is within this many entries of the commit index. @default 16 */
  readonly promotionLag?: number;
}

export interface ResolvedConfig {
  readonly id: NodeId;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnly: 'safe' | 'lease-based';
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedEntriesSize: number;
  readonly maxCommittedSizePerReady: number;
  readonly maxSnapshotChunkBytes: number;
  readonly maxSnapshotBytes: number;
  readonly snapshotChunkWindow: number;
  readonly maxPendingReads: number;
  readonly disableProposalForwarding: boolean;
  readonly promotionLag: number;
}

function posInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min) throw new RaftError('invalid-config', `${name} must be an integer >= ${min} (got ${String(v)})`);
  return x;
}

/** Validate a config and fill in defaults. Throws `invalid-config` naming the field. */
export function resolveConfig(c: RaftConfig): ResolvedConfig {
  if (typeof c.id !== 'string' || c.id.length === 0) throw new RaftError('invalid-config', 'id must be a non-empty string');
  const electionTick = posInt('electionTick', c.electionTick, 15);
  const heartbeatTick = posInt('heartbeatTick', c.heartbeatTick, 5);
  if (heartbeatTick >= electionTick) throw new RaftError('invalid-config', 'heartbeatTick must be smaller than electionTick');
  const checkQuorum = c.checkQuorum ?? true;
  const readOnly = (c.readOnly as string | undefined) ?? 'safe';
  if (readOnly !== 'safe' && readOnly !== 'lease-based') throw new RaftError('invalid-config', `readOnly must be 'safe' or 'lease-based'`);
  if (readOnly === 'lease-based' && !checkQuorum) {
    throw new RaftError('invalid-config', `readOnly 'lease-based' requires checkQuorum (a lease without check-quorum serves stale reads)`);
  }
  return {
    id: c.id,
    electionTick,
    heartbeatTick,
    preVote: c.preVote ?? true,
    checkQuorum,
    readOnly,
    maxSizePerMsg: posInt('maxSizePerMsg', c.maxSizePerMsg, 1 << 20),
    maxInflightMsgs: posInt('maxInflightMsgs', c.maxInflightMsgs, 256),
    maxInflightBytes: posInt('maxInflightBytes', c.maxInflightBytes, 32 << 20, 0),
    maxUncommittedEntriesSize: posInt('maxUncommittedEntriesSize', c.maxUncommittedEntriesSize, 64 << 20),
    maxCommittedSizePerReady: posInt('maxCommittedSizePerReady', c.maxCommittedSizePerReady, 16 << 20),
    maxSnapshotChunkBytes: posInt('maxSnapshotChunkBytes', c.maxSnapshotChunkBytes, 1 << 20),
    maxSnapshotBytes: posInt('maxSnapshotBytes', c.maxSnapshotBytes, 1 << 30),
    snapshotChunkWindow: posInt('snapshotChunkWindow', c.snapshotChunkWindow, 4),
    maxPendingReads: posInt('maxPendingReads', c.maxPendingReads, 4096),
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    promotionLag: posInt('promotionLag', c.promotionLag, 16, 0),
  };
}

/** A small seeded PRNG (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
