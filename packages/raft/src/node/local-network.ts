import type { Message, NodeId } from '../core/types.js';
import type { RaftNetwork } from './raft-node.js';

export interface LocalNetworkOptions {
  /** Messages queued per destination before new ones are dropped (Raft retransmits). Default 100 000. */
  readonly maxQueued?: number;
}

/**
 * An in-process network for nodes of one process (tests, examples, the in-memory benchmark).
 * Delivery is asynchronous (batched per macrotask), ordered per link, and each link can be cut
 * to simulate partitions. Overflow policy: drop the newest message.
 */
export class LocalNetwork {
  readonly #handlers = new Map<NodeId, (ms: readonly Message[]) => void>();
  readonly #queues = new Map<NodeId, Message[]>();
  readonly #cut = new Set<string>();
  readonly #max: number;
  #scheduled = false;
  dropped = 0;
  delivered = 0;

  constructor(options: LocalNetworkOptions = {}) {
    this.#max = options.maxQueued ?? 100_000;
  }

  /** Registers the receiver for `id` and returns the `RaftNetwork` its node sends through. */
  attach(id: NodeId, deliver: (ms: readonly Message[]) => void): RaftNetwork {
    this.#handlers.set(id, deliver);
    return { send: (ms) => { this.#send(id, ms); } };
  }

  detach(id: NodeId): void {
    this.#handlers.delete(id);
    this.#queues.delete(id);
  }

  /** Cuts (or restores) both directions between `a` and `b`. */
  partition(a: NodeId, b: NodeId, cut = true): void {
    for (const k of [`${a}>${b}`, `${b}>${a}`]) {
      if (cut) this.#cut.add(k);
      else this.#cut.delete(k);
    }
  }

  /** Isolates `id` from everyone (or heals it). */
  isolate(id: NodeId, cut = true): void {
    for (const other of this.#handlers.keys()) if (other !== id) this.partition(id, other, cut);
  }

  heal(): void {
    this.#cut.clear();
  }

  #send(from: NodeId, ms: readonly Message[]): void {
    for (const m of ms) {
      if (this.#cut.has(`${from}>${m.to}`) || !this.#handlers.has(m.to)) {
        this.dropped++;
        continue;
      }
      let q = this.#queues.get(m.to);
      if (q === undefined) {
        q = [];
        this.#queues.set(m.to, q);
      }
      if (q.length >= this.#max) {
        this.dropped++;
        continue;
      }
      q.push(m);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => { this.#flush(); });
    }
  }

  #flush(): void {
    this.#scheduled = false;
    for (const [to, q] of this.#queues) {
      if (q.length === 0) continue;
      this.#queues.set(to, []);
      const h = this.#handlers.get(to);
      if (h === undefined) continue;
      this.delivered += q.length;
      h(q);
    }
  }
}
