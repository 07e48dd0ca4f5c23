import type { NodeId } from '../core/types.js';
import { RaftError } from '../errors.js';
import { LocalNetwork } from './local-network.js';
import { RaftNode } from './raft-node.js';
import type { CoreOptions, RaftNodeOptions, StateMachine } from './raft-node.js';
import { MemoryRaftStorage } from './storage/raft-storage.js';
import type { RaftStorage } from './storage/raft-storage.js';

export interface RaftClusterConfig {
  /** Voter ids of the new cluster. */
  readonly ids: readonly NodeId[];
  /** State machine of each node. */
  readonly stateMachine: (id: NodeId) => StateMachine;
  /** Storage of each node. Default: `MemoryRaftStorage`. */
  readonly storage?: (id: NodeId) => RaftStorage | Promise<RaftStorage>;
  readonly tickMs?: number;
  readonly core?: CoreOptions;
  readonly snapshotEvery?: number;
  readonly snapshotTrailing?: number;
  readonly random?: () => number;
}

/** Nodes of one process wired through a `LocalNetwork`. */
export class RaftCluster implements AsyncDisposable {
  readonly #nodes: Map<NodeId, RaftNode>;
  readonly network: LocalNetwork;

  constructor(nodes: Map<NodeId, RaftNode>, network: LocalNetwork) {
    this.#nodes = nodes;
    this.network = network;
  }

  get nodes(): ReadonlyMap<NodeId, RaftNode> {
    return this.#nodes;
  }

  /**
   * Starts a node that is not (yet) a member, attached to this cluster's network; add it with
   * `leader.addLearner(id)` and `leader.addVoter(id)`. Never reuse the id of a removed node.
   */
  async startNode(id: NodeId, options: { stateMachine: StateMachine; storage?: RaftStorage; tickMs?: number; core?: CoreOptions }): Promise<RaftNode> {
    if (this.#nodes.has(id)) throw new RaftError('invalid-argument', `node ${id} already exists`);
    const node = await RaftNode.start({
      id,
      storage: options.storage ?? new MemoryRaftStorage(),
      stateMachine: options.stateMachine,
      ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
      ...(options.core === undefined ? {} : { core: options.core }),
    });
    node.connect(this.network.attach(id, (ms) => {
      node.stepAll(ms);
    }));
    this.#nodes.set(id, node);
    return node;
  }

  /** Stops node `id` and detaches it from the network. */
  async stopNode(id: NodeId): Promise<void> {
    const n = this.#nodes.get(id);
    if (n === undefined) return;
    this.#nodes.delete(id);
    this.network.detach(id);
    await n.close();
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new RaftError('invalid-argument', `no node ${id}`);
    return n;
  }

  /** The node that currently believes it leads (highest term wins), if any. */
  leader(): RaftNode | undefined {
    let best: RaftNode | undefined;
    for (const n of this.nodes.values()) if (n.isLeader && (best === undefined || n.term > best.term)) best = n;
    return best;
  }

  /** Resolves with the leader once one node leads. */
  async waitForLeader(options: { signal?: AbortSignal } = {}): Promise<RaftNode> {
    const { signal } = options;
    signal?.throwIfAborted();
    for (;;) {
      const l = this.leader();
      if (l !== undefined) return l;
      await new Promise<void>((resolve, reject) => {
        const subs = [...this.nodes.values()].map((n) => n.onRoleChange(() => { done(); }));
        const onAbort = (): void => {
          cleanup();
          reject(new RaftError('aborted', 'waitForLeader aborted', { cause: signal?.reason }));
        };
        const cleanup = (): void => {
          for (const s of subs) s[Symbol.dispose]();
          signal?.removeEventListener('abort', onAbort);
        };
        const done = (): void => {
          cleanup();
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.close()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Bootstraps a new cluster of `config.ids` in this process (in-memory network). */
export async function createRaftCluster(config: RaftClusterConfig): Promise<RaftCluster> {
  if (config.ids.length === 0) throw new RaftError('invalid-config', 'ids must list at least one node');
  if (new Set(config.ids).size !== config.ids.length) throw new RaftError('invalid-config', 'ids must be unique');
  const network = new LocalNetwork();
  const nodes = new Map<NodeId, RaftNode>();
  for (const id of config.ids) {
    const storage = config.storage === undefined ? new MemoryRaftStorage() : await config.storage(id);
    const opts: RaftNodeOptions = {
      id,
      storage,
      stateMachine: config.stateMachine(id),
      bootstrap: config.ids,
      ...(config.tickMs === undefined ? {} : { tickMs: config.tickMs }),
      ...(config.core === undefined ? {} : { core: config.core }),
      ...(config.snapshotEvery === undefined ? {} : { snapshotEvery: config.snapshotEvery }),
      ...(config.snapshotTrailing === undefined ? {} : { snapshotTrailing: config.snapshotTrailing }),
      ...(config.random === undefined ? {} : { random: config.random }),
    };
    const node = await RaftNode.start(opts);
    node.connect(network.attach(id, (ms) => { node.stepAll(ms); }));
    nodes.set(id, node);
  }
  return new RaftCluster(nodes, network);
}
