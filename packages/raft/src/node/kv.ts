import type { Entry, Snapshot } from '../core/types.js';
import { RaftError } from '../errors.js';
import type { StateMachine } from './raft-node.js';

/** A command of the replicated key-value example (JSON-encoded in entries). */
export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: unknown }
  | { readonly op: 'cas'; readonly key: string; readonly from: unknown; readonly to: unknown }
  | { readonly op: 'delete'; readonly key: string };

/** What applying a command returns. `cas` fails with `missing` (no key) or `mismatch`. */
export type KvResult = { readonly ok: true } | { readonly ok: false; readonly error: 'missing' | 'mismatch'; readonly current?: unknown };

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The replicated key-value example's state machine: `put`, `cas` and `delete` on JSON values.
 * Reads are local (`get`) after a `RaftNode.read()` barrier, which makes them linearizable.
 */
export class KvStateMachine implements StateMachine {
  readonly #map = new Map<string, unknown>();
  applied = 0;

  get(key: string): unknown {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  get size(): number {
    return this.#map.size;
  }

  apply(entry: Entry): KvResult {
    this.applied = entry.index;
    let c: KvCommand;
    try {
      c = JSON.parse(dec.decode(entry.data)) as KvCommand;
    } catch (e) {
      throw new RaftError('invalid-argument', `entry ${entry.index} is not a KV command`, { cause: e });
    }
    switch (c.op) {
      case 'put':
        this.#map.set(c.key, c.value);
        return { ok: true };
      case 'delete':
        this.#map.delete(c.key);
        return { ok: true };
      case 'cas': {
        if (!this.#map.has(c.key)) return { ok: false, error: 'missing' };
        const cur = this.#map.get(c.key);
        if (!same(cur, c.from)) return { ok: false, error: 'mismatch', current: cur };
        this.#map.set(c.key, c.to);
        return { ok: true };
      }
    }
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.#map]));
  }

  restore(snapshot: Snapshot): void {
    this.#map.clear();
    if (snapshot.data.length > 0) {
      for (const [k, v] of JSON.parse(dec.decode(snapshot.data)) as [string, unknown][]) this.#map.set(k, v);
    }
    this.applied = snapshot.meta.index;
  }
}

/** What `KvNode` needs from a node: proposals and a linearizable read barrier (`RaftNode` has both). */
export interface KvBackend {
  propose(data: Uint8Array, options?: { signal?: AbortSignal }): Promise<unknown>;
  read(options?: { signal?: AbortSignal }): Promise<number>;
}

/** A client view of a KV node: `get` (linearizable), `put`, `cas`. */
export class KvNode {
  readonly sm: KvStateMachine;
  readonly #node: KvBackend;

  constructor(node: KvBackend, sm: KvStateMachine) {
    this.#node = node;
    this.sm = sm;
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    await this.#node.read(options);
    return this.sm.get(key);
  }

  async put(key: string, value: unknown, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#node.propose(encodeKvCommand({ op: 'put', key, value }), options);
  }

  /** Compare-and-set; resolves with the result (`ok: false` with `missing` or `mismatch` when refused). */
  async cas(key: string, from: unknown, to: unknown, options: { signal?: AbortSignal } = {}): Promise<KvResult> {
    return (await this.#node.propose(encodeKvCommand({ op: 'cas', key, from, to }), options)) as KvResult;
  }
}
