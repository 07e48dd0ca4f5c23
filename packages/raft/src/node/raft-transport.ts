import type { Connection, Transport } from '@abi/transport';
import type { Message, NodeId } from '../core/types.js';
import { RaftError } from '../errors.js';
import type { RaftNetwork } from './raft-node.js';
import type { DecodeLimits } from './wire.js';
import { decodeBatch, encodeBatch } from './wire.js';

/** The @abi/transport method carrying Raft message batches (PROTOCOL.md §Transport). */
export const RAFT_METHOD = 'abi.raft/1';

/** What the transport delivers inbound messages to (a `RaftNode`). */
export interface RaftReceiver {
  stepAll(messages: readonly Message[]): void;
  reportUnreachable(id: NodeId): void;
}

export interface RaftTransportOptions {
  readonly id: NodeId;
  /** A transport of this process (e.g. `new TcpTransport({ identity: id })`); not closed by us. */
  readonly transport: Transport;
  /** Address of every peer, as `transport.dial` accepts it. */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Messages queued per peer; when full, new messages to that peer are dropped (Raft retransmits). Default 8192. */
  readonly maxQueuedMessages?: number;
  /** Bytes queued per peer (encoded); same overflow policy. Default 64 MiB. */
  readonly maxQueuedBytes?: number;
  /** Target size of one batch frame. A single larger message (a snapshot chunk) goes alone. Default 1 MiB. */
  readonly maxBatchBytes?: number;
  /** Reconnect backoff: first delay, doubling up to `maxMs`, with ±50 % jitter. Default 20 ms … 1 000 ms. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Dial timeout. Default 2 000 ms. */
  readonly dialTimeoutMs?: number;
  /** Limits applied when decoding inbound batches. */
  readonly decodeLimits?: DecodeLimits;
  /** Called with inbound bytes that failed to decode (the batch is dropped). */
  readonly onInvalid?: (error: RaftError, from: string) => void;
}

export interface PeerTransportStats {
  readonly id: NodeId;
  readonly connected: boolean;
  readonly queued: number;
  readonly sent: number;
  readonly dropped: number;
  readonly reconnects: number;
}

interface Peer {
  readonly id: NodeId;
  address: string;
  queue: Message[];
  queuedBytes: number;
  conn: Connection | undefined;
  wake: (() => void) | undefined;
  running: boolean;
  sent: number;
  dropped: number;
  reconnects: number;
  connectedBefore: boolean;
}

/** Rough encoded size of a message (for the byte bound and batching). */
function approxSize(m: Message): number {
  switch (m.type) {
    case 'app':
    case 'prop': {
      let n = 64;
      for (const e of m.entries) n += 21 + e.data.byteLength;
      return n;
    }
    case 'snap':
      return 128 + m.data.byteLength + m.meta.conf.voters.length * 16;
    default:
      return 64;
  }
}

/**
 * Raft messages over @abi/transport: one outbound connection per peer, fed by a bounded
 * per-peer queue (overflow: drop the newest message and count it; Raft retransmits), drained
 * into batch frames of up to `maxBatchBytes`. Lost connections are re-dialled with capped,
 * jittered exponential backoff and reported to the node (`reportUnreachable`), which stops
 * optimistic pipelining to that peer. Snapshots travel as the core's InstallSnapshot chunks
 * (`maxSnapshotChunkBytes`, a window of chunks in flight, resumable by offset), each chunk a
 * message in this stream, so a large snapshot never needs one giant frame.
 */
export class RaftTransport implements RaftNetwork, AsyncDisposable {
  readonly id: NodeId;
  readonly #t: Transport;
  readonly #opts: RaftTransportOptions;
  readonly #peers = new Map<NodeId, Peer>();
  #receiver: RaftReceiver | undefined;
  readonly #handler: Disposable;
  readonly #closed = new AbortController();
  #invalid = 0;
  #received = 0;

  constructor(options: RaftTransportOptions) {
    this.id = options.id;
    this.#t = options.transport;
    this.#opts = options;
    for (const [id, address] of Object.entries(options.peers)) if (id !== options.id) this.setPeer(id, address);
    this.#handler = this.#t.handle(RAFT_METHOD, (payload, ctx) => {
      this.#onBatch(payload, ctx.connection.remoteIdentity ?? ctx.connection.remoteAddress);
    });
  }

  /** Where inbound messages go. */
  bind(receiver: RaftReceiver): void {
    this.#receiver = receiver;
  }

  /** Adds a peer or changes its address. */
  setPeer(id: NodeId, address: string): void {
    const p = this.#peers.get(id);
    if (p !== undefined) {
      p.address = address;
      p.conn?.abort();
      return;
    }
    this.#peers.set(id, { id, address, queue: [], queuedBytes: 0, conn: undefined, wake: undefined, running: false, sent: 0, dropped: 0, reconnects: 0, connectedBefore: false });
  }

  removePeer(id: NodeId): void {
    const p = this.#peers.get(id);
    if (p === undefined) return;
    this.#peers.delete(id);
    p.queue = [];
    p.conn?.abort();
    p.wake?.();
  }

  get invalidBatches(): number {
    return this.#invalid;
  }

  get receivedMessages(): number {
    return this.#received;
  }

  stats(): PeerTransportStats[] {
    return [...this.#peers.values()].map((p) => ({ id: p.id, connected: p.conn?.state === 'open', queued: p.queue.length, sent: p.sent, dropped: p.dropped, reconnects: p.reconnects }));
  }

  send(messages: readonly Message[]): void {
    if (this.#closed.signal.aborted) return;
    const maxMsgs = this.#opts.maxQueuedMessages ?? 8192;
    const maxBytes = this.#opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    for (const m of messages) {
      const p = this.#peers.get(m.to);
      if (p === undefined) continue; // unknown peer: nowhere to send
      const size = approxSize(m);
      if (p.queue.length >= maxMsgs || p.queuedBytes + size > maxBytes) {
        p.dropped++;
        continue;
      }
      p.queue.push(m);
      p.queuedBytes += size;
      if (!p.running) {
        p.running = true;
        void this.#pump(p);
      } else if (p.wake !== undefined) {
        const w = p.wake;
        p.wake = undefined;
        w();
      }
    }
  }

  #onBatch(payload: unknown, from: string): void {
    if (!(payload instanceof Uint8Array)) {
      this.#invalid++;
      this.#opts.onInvalid?.(new RaftError('invalid-message', `raft batch from ${from} is not a raw payload`), from);
      return;
    }
    let ms: Message[];
    try {
      ms = decodeBatch(payload, this.#opts.decodeLimits);
    } catch (e) {
      this.#invalid++;
      if (e instanceof RaftError) this.#opts.onInvalid?.(e, from);
      return;
    }
    // Messages addressed to another node are bad input too; the core rejects them typed.
    this.#received += ms.length;
    this.#receiver?.stepAll(ms);
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#closed.signal;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #connect(p: Peer): Promise<Connection | undefined> {
    const initial = this.#opts.backoff?.initialMs ?? 20;
    const max = this.#opts.backoff?.maxMs ?? 1000;
    let delay = initial;
    for (let attempt = 0; !this.#closed.signal.aborted && this.#peers.get(p.id) === p; attempt++) {
      try {
        const conn = await this.#t.dial(p.address, { signal: this.#closed.signal, timeoutMs: this.#opts.dialTimeoutMs ?? 2000 });
        if (p.connectedBefore) p.reconnects++;
        p.connectedBefore = true;
        return conn;
      } catch {
        this.#receiver?.reportUnreachable(p.id);
        // Drop what queued up while the peer is unreachable; Raft resends what still matters.
        p.dropped += p.queue.length;
        p.queue = [];
        p.queuedBytes = 0;
        await this.#sleep(delay * (0.5 + Math.random()));
        delay = Math.min(max, delay * 2);
      }
    }
    return undefined;
  }

  async #pump(p: Peer): Promise<void> {
    const maxBatch = this.#opts.maxBatchBytes ?? 1024 * 1024;
    try {
      while (!this.#closed.signal.aborted && this.#peers.get(p.id) === p) {
        if (p.queue.length === 0) {
          await new Promise<void>((r) => (p.wake = r));
          continue;
        }
        if (p.conn === undefined || p.conn.state !== 'open') {
          p.conn = await this.#connect(p);
          if (p.conn === undefined) return;
          continue;
        }
        let n = 0;
        let bytes = 0;
        while (n < p.queue.length) {
          const s = approxSize(p.queue[n] as Message);
          if (n > 0 && bytes + s > maxBatch) break;
          bytes += s;
          n++;
        }
        const batch = p.queue.splice(0, n);
        p.queuedBytes = Math.max(0, p.queuedBytes - bytes);
        const conn = p.conn;
        try {
          await conn.send(RAFT_METHOD, encodeBatch(batch), { signal: this.#closed.signal });
          p.sent += batch.length;
        } catch {
          p.dropped += batch.length;
          conn.abort();
          p.conn = undefined;
          this.#receiver?.reportUnreachable(p.id);
        }
      }
    } finally {
      p.running = false;
    }
  }

  /** Stops sending, drops queues and closes outbound connections. Does not close the transport. */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    this.#handler[Symbol.dispose]();
    const conns: Connection[] = [];
    for (const p of this.#peers.values()) {
      p.queue = [];
      if (p.conn !== undefined) conns.push(p.conn);
      p.wake?.();
    }
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
