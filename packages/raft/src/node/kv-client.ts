import { TcpTransport } from '@abi/transport';
import type { Connection } from '@abi/transport';
import type { NodeId } from '../core/types.js';
import type { KvReply } from './kv-server.js';

export interface KvClientOptions {
  /** Address of every server: id → host:port. */
  readonly servers: Readonly<Record<NodeId, string>>;
  /** Per-attempt deadline. Default 3 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Attempts on definite, retryable failures (`not-leader`, connection refused). Default 20. */
  readonly attempts?: number;
  /** A transport to share between clients; one is created (and closed) otherwise. */
  readonly transport?: TcpTransport;
}

/**
 * A client of `startKvServer` nodes that routes to the leader: it follows `leader` hints, and
 * retries only failures that are definite (the write did not happen): `not-leader` replies and
 * connections that could not be opened. Anything else is returned as is (`definite: false` means
 * the outcome is unknown).
 */
export class KvClient implements AsyncDisposable {
  readonly #servers: Readonly<Record<NodeId, string>>;
  readonly #t: TcpTransport;
  readonly #ownsTransport: boolean;
  readonly #conns = new Map<NodeId, Promise<Connection>>();
  readonly #timeout: number;
  readonly #attempts: number;
  #target: NodeId;

  constructor(options: KvClientOptions) {
    this.#servers = options.servers;
    this.#t = options.transport ?? new TcpTransport({ keepAliveMs: 1000, keepAliveTimeoutMs: 2000 });
    this.#ownsTransport = options.transport === undefined;
    this.#timeout = options.requestTimeoutMs ?? 3000;
    this.#attempts = options.attempts ?? 20;
    const ids = Object.keys(options.servers);
    this.#target = ids[Math.floor(Math.random() * ids.length)] ?? '';
  }

  #conn(id: NodeId): Promise<Connection> {
    let c = this.#conns.get(id);
    if (c === undefined) {
      const addr = this.#servers[id] ?? '';
      c = this.#t.dial(addr, { timeoutMs: 1000 });
      this.#conns.set(id, c);
      c.then(
        (conn) => {
          conn.onClose(() => {
            if (this.#conns.get(id) === c) this.#conns.delete(id);
          });
        },
        () => {
          if (this.#conns.get(id) === c) this.#conns.delete(id);
        },
      );
    }
    return c;
  }

  #next(hint: string | null | undefined): void {
    if (hint !== undefined && hint !== null && hint in this.#servers && hint !== this.#target) {
      this.#target = hint;
      return;
    }
    const ids = Object.keys(this.#servers);
    this.#target = ids[(ids.indexOf(this.#target) + 1) % ids.length] ?? this.#target;
  }

  /** Sends `method` to the leader (as far as known). */
  async call(method: 'kv.get' | 'kv.put' | 'kv.cas', payload: Record<string, unknown>): Promise<KvReply> {
    let last: KvReply = { ok: false, error: 'unavailable', definite: true };
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      let conn: Connection;
      try {
        conn = await this.#conn(this.#target);
      } catch {
        last = { ok: false, error: 'unavailable', definite: true };
        this.#next(undefined);
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      let reply: KvReply;
      try {
        reply = await conn.request<KvReply>(method, payload, { deadlineMs: this.#timeout });
      } catch {
        // The request may have reached the server: the outcome is unknown.
        this.#next(undefined);
        return { ok: false, error: 'timeout', definite: false };
      }
      if (reply.ok || reply.error !== 'not-leader') return reply;
      last = reply;
      this.#next(reply.leader);
      if (reply.leader === null || reply.leader === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    return last;
  }

  get(key: string): Promise<KvReply> {
    return this.call('kv.get', { key });
  }
  put(key: string, value: unknown): Promise<KvReply> {
    return this.call('kv.put', { key, value });
  }
  cas(key: string, from: unknown, to: unknown): Promise<KvReply> {
    return this.call('kv.cas', { key, from, to });
  }

  async close(): Promise<void> {
    const conns = await Promise.allSettled([...this.#conns.values()]);
    this.#conns.clear();
    for (const c of conns) if (c.status === 'fulfilled') c.value.abort();
    if (this.#ownsTransport) await this.#t.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
