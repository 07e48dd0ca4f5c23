import type { RaftConfig } from '../core/config.js';
import type { RawNode } from '../core/raft.js';
import type { MemoryStorage } from '../core/storage.js';
import type { Message, NodeId } from '../core/types.js';
import type { MemoryNodeOptions, TestStateMachine } from './memory-node.js';
import { MemoryNode } from './memory-node.js';

export interface ClusterOptions {
  /** Ids of the initial voters. */
  readonly voters: readonly NodeId[];
  readonly config?: Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;
  readonly seed?: number;
  readonly stateMachine?: (id: NodeId) => TestStateMachine;
  /** Pre-built disks (e.g. with a prepared log); such nodes are not bootstrapped. */
  readonly disks?: Readonly<Record<NodeId, MemoryStorage>>;
}

/**
 * A synchronous in-process cluster for scenario tests: messages go into one FIFO queue and are
 * delivered by `deliver()` / `stabilize()`. Links can be cut, nodes isolated or crashed, and any
 * message can be intercepted with a filter. Fully deterministic.
 */
export class Cluster {
  readonly nodes = new Map<NodeId, MemoryNode>();
  readonly queue: Message[] = [];
  /** Messages that were dropped (for assertions). */
  readonly dropped: Message[] = [];
  readonly #cut = new Set<string>();
  readonly #down = new Set<NodeId>();
  readonly #opts: ClusterOptions;
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;
  /** Every `step` error (typed RaftError) raised while delivering. */
  readonly errors: unknown[] = [];

  constructor(opts: ClusterOptions) {
    this.#opts = opts;
    let seed = opts.seed ?? 1;
    for (const id of opts.voters) {
      const disk = opts.disks?.[id];
      const o: MemoryNodeOptions = {
        id,
        ...(disk === undefined ? { bootstrap: opts.voters } : { disk }),
        seed: seed++,
        ...(opts.config === undefined ? {} : { config: opts.config }),
        ...(opts.stateMachine === undefined ? {} : { stateMachine: opts.stateMachine(id) }),
      };
      this.nodes.set(id, new MemoryNode(o));
    }
    this.process(); // persist and apply the bootstrap entry
  }

  /** Add a fresh (empty, non-bootstrapped) node that will learn membership from the leader. */
  addNode(id: NodeId): MemoryNode {
    const o: MemoryNodeOptions = {
      id,
      seed: this.nodes.size + 100,
      ...(this.#opts.config === undefined ? {} : { config: this.#opts.config }),
      ...(this.#opts.stateMachine === undefined ? {} : { stateMachine: this.#opts.stateMachine(id) }),
    };
    const n = new MemoryNode(o);
    this.nodes.set(id, n);
    return n;
  }

  node(id: NodeId): MemoryNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  /** The unique leader among live nodes with the highest term, or null. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let term = -1;
    for (const [id, n] of this.nodes) {
      if (this.#down.has(id)) continue;
      if (n.raw.role === 'leader' && n.raw.term > term) {
        best = id;
        term = n.raw.term;
      }
    }
    return best;
  }

  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}\u0000${b}`);
    this.#cut.add(`${b}\u0000${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.#cut.clear();
  }

  /** Crash a node: volatile state is lost, messages to it are dropped until `restart`. */
  crash(id: NodeId): void {
    this.#down.add(id);
  }

  restart(id: NodeId): void {
    this.#down.delete(id);
    this.node(id).restart();
  }

  isDown(id: NodeId): boolean {
    return this.#down.has(id);
  }

  #send = (m: Message): void => {
    this.queue.push(m);
  };

  /** Run every node's Ready loop, queueing outgoing messages. */
  process(): void {
    for (const [id, n] of this.nodes) if (!this.#down.has(id)) n.process(this.#send);
  }

  tick(id: NodeId, n = 1): void {
    const node = this.node(id);
    for (let i = 0; i < n; i++) {
      node.raw.tick();
      node.process(this.#send);
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) {
        if (this.#down.has(id)) continue;
        node.raw.tick();
      }
      this.process();
    }
  }

  #deliverable(m: Message): boolean {
    if (this.#down.has(m.to) || this.#down.has(m.from)) return false;
    if (this.#cut.has(`${m.from}\u0000${m.to}`)) return false;
    if (!this.nodes.has(m.to)) return false;
    if (this.filter !== undefined && !this.filter(m)) return false;
    return true;
  }

  /** Deliver the messages queued now (not the ones they cause). Returns how many. */
  deliver(): number {
    this.process();
    const batch = this.queue.splice(0);
    for (const m of batch) {
      if (!this.#deliverable(m)) {
        this.dropped.push(m);
        continue;
      }
      const n = this.node(m.to);
      try {
        n.raw.step(m);
      } catch (e) {
        this.errors.push(e);
      }
      n.process(this.#send);
    }
    return batch.length;
  }

  /** Deliver until no message is in flight. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      this.process();
      if (this.queue.length === 0) return;
      this.deliver();
    }
    throw new Error('cluster did not stabilize');
  }

  /** Campaign `id` and stabilize; returns the leader afterwards. */
  elect(id: NodeId): NodeId | null {
    this.raw(id).campaign();
    this.stabilize();
    return this.leader();
  }

  /** Tick all nodes until a leader exists (or `maxTicks`). */
  waitLeader(maxTicks = 500): NodeId | null {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader();
      if (l !== null && this.raw(l).commitIndex > 0) return l;
      this.tickAll();
      this.stabilize();
    }
    return this.leader();
  }
}
