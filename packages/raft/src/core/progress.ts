import type { Snapshot } from './types.js';

/** Ring buffer of in-flight append messages (last index + bytes of each). */
export class Inflights {
  readonly #maxMsgs: number;
  readonly #maxBytes: number;
  #idx: number[] = [];
  #bytes: number[] = [];
  #start = 0;
  #count = 0;
  #totalBytes = 0;

  constructor(maxMsgs: number, maxBytes: number) {
    this.#maxMsgs = maxMsgs;
    this.#maxBytes = maxBytes;
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#totalBytes;
  }

  full(): boolean {
    return this.#count >= this.#maxMsgs || (this.#maxBytes > 0 && this.#totalBytes >= this.#maxBytes);
  }

  add(index: number, bytes: number): void {
    const size = this.#maxMsgs;
    let pos = this.#start + this.#count;
    if (pos >= size) pos -= size;
    this.#idx[pos] = index;
    this.#bytes[pos] = bytes;
    this.#count++;
    this.#totalBytes += bytes;
  }

  /** Free every in-flight message whose last index is `<= to`. */
  freeLE(to: number): void {
    const size = this.#maxMsgs;
    while (this.#count > 0) {
      const i = this.#idx[this.#start] as number;
      if (i > to) break;
      this.#totalBytes -= this.#bytes[this.#start] as number;
      this.#count--;
      this.#start++;
      if (this.#start >= size) this.#start = 0;
    }
    if (this.#count === 0) {
      this.#start = 0;
      this.#totalBytes = 0;
    }
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#totalBytes = 0;
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * The leader's view of one follower (etcd's tracker.Progress).
 * Invariant: `match < next`.
 */
export class Progress {
  match = 0;
  next = 1;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding, wait for a response or heartbeat. */
  probeSent = false;
  /** Snapshot index being sent (snapshot state). */
  pendingSnapshot = 0;
  /** The snapshot being streamed, the next offset to send and the offset acknowledged. */
  snap: Snapshot | null = null;
  snapOffset = 0;
  snapAcked = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner = false;
  /** Highest tick (leader clock) of a heartbeat this follower acknowledged (leader lease). */
  leaseAck = -1;
  /** `match` at the previous heartbeat response (stall detection). */
  matchAtHeartbeat = -1;
  /** Highest commit index sent to this follower. */
  sentCommit = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
    this.isLearner = isLearner;
  }

  #reset(state: ProgressState): void {
    this.probeSent = false;
    this.matchAtHeartbeat = -1;
    this.pendingSnapshot = 0;
    this.snap = null;
    this.snapOffset = 0;
    this.snapAcked = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const ps = this.pendingSnapshot;
      this.#reset('probe');
      this.next = Math.max(this.match + 1, ps + 1);
    } else {
      this.#reset('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snap: Snapshot): void {
    this.#reset('snapshot');
    this.pendingSnapshot = snap.meta.index;
    this.snap = snap;
  }

  /** A successful append response for `n`. Returns false if it is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /**
   * A rejection of the append at `rejected`; `matchHint` is where to probe next. Returns false
   * if the rejection is stale (out of order).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** May the leader send more appends? */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Record that entries up to `last` (`bytes` large) were sent. */
  sentEntries(last: number, count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}
