import { openConnection, refuseStream } from './connection.js';
import type { ConnectionOptions } from './connection.js';
import { abortError, isTransportError, TransportError } from './errors.js';
import type {
  AbortOptions,
  ByteStream,
  Connection,
  DialOptions,
  Handler,
  ListenOptions,
  Listener,
  StreamListener,
  StreamNetwork,
  StreamUpgrade,
  Transport,
} from './types.js';

/** Brand of every transport of this package (works across duplicate installs). */
export const transportSymbol = Symbol.for('@abi/transport');

/** True for objects that implement the {@link Transport} contract of this package. */
export function isTransport(x: unknown): x is Transport {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[transportSymbol] === true;
}

export interface StreamTransportInit extends ConnectionOptions {
  /** Inbound connections held at once; more are refused with TOO_MANY_CONNECTIONS. @default 10000 */
  readonly maxConnections?: number;
  /** Default dial timeout (connect + upgrade + hello). @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Transforms raw streams before framing (e.g. a secure channel). Runs on both sides. */
  readonly upgrade?: StreamUpgrade;
}

const noop = (): void => undefined;

/**
 * A {@link Transport} over any {@link StreamNetwork}: it dials and accepts raw byte streams,
 * optionally upgrades them, and runs the framing protocol over them. `TcpTransport` and
 * `MemoryTransport` are this class over TCP and over the simulated network.
 */
export class StreamTransport implements Transport {
  readonly [transportSymbol] = true;
  readonly #network: StreamNetwork;
  readonly #init: StreamTransportInit;
  readonly #handlers = new Map<string, Handler>();
  readonly #connectionListeners = new Set<(c: Connection) => void>();
  readonly #connections = new Set<Connection>();
  readonly #listeners = new Set<StreamListener>();
  readonly #pending = new Set<ByteStream>();
  readonly #shutdown = new AbortController();
  #inbound = 0;
  #closed = false;
  readonly #lookup = (method: string): Handler | undefined => this.#handlers.get(method);

  constructor(network: StreamNetwork, init: StreamTransportInit = {}) {
    this.#network = network;
    this.#init = init;
    const max = init.maxConnections;
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw new TransportError('INVALID_ARGUMENT', `maxConnections must be a non-negative integer, got ${max}`);
  }

  get [Symbol.toStringTag](): string {
    return '@abi/transport';
  }

  get connections(): ReadonlySet<Connection> {
    return this.#connections;
  }

  handle(method: string, handler: Handler): Disposable {
    if (this.#handlers.has(method)) throw new TransportError('INVALID_ARGUMENT', `a handler for ${method} is already registered`);
    this.#handlers.set(method, handler);
    return {
      [Symbol.dispose]: () => {
        if (this.#handlers.get(method) === handler) this.#handlers.delete(method);
      },
    };
  }

  onConnection(listener: (connection: Connection) => void): Disposable {
    this.#connectionListeners.add(listener);
    return {
      [Symbol.dispose]: () => {
        this.#connectionListeners.delete(listener);
      },
    };
  }

  #checkOpen(): void {
    if (this.#closed) throw new TransportError('TRANSPORT_CLOSED', 'transport is closed');
  }

  async listen(address: string, options?: ListenOptions): Promise<Listener> {
    options?.signal?.throwIfAborted();
    this.#checkOpen();
    const raw = await this.#network.listen(address, (stream) => {
      this.#accept(stream);
    }, options);
    this.#listeners.add(raw);
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      this.#listeners.delete(raw);
      await raw.close();
    };
    return { address: raw.address, close, [Symbol.asyncDispose]: close };
  }

  #accept(stream: ByteStream): void {
    const max = this.#init.maxConnections ?? 10_000;
    if (this.#closed) {
      refuseStream(stream, 'GOING_AWAY', 'transport is closing');
      return;
    }
    if (this.#inbound >= max) {
      refuseStream(stream, 'TOO_MANY_CONNECTIONS', `server holds its maximum of ${max} connections`);
      return;
    }
    this.#inbound++;
    this.#pending.add(stream);
    // The accept side bounds the whole setup (upgrade + hello) like a dial: a peer that stalls
    // its handshake cannot hold a slot for longer than connectTimeoutMs.
    const clock = this.#network.clock;
    const timeoutMs = this.#init.connectTimeoutMs ?? 10_000;
    const timeout = new AbortController();
    const timer = clock.setTimeout(() => {
      timeout.abort(new TransportError('CONNECT_TIMEOUT', `inbound connection setup did not complete within ${timeoutMs} ms`));
      stream.destroy();
    }, timeoutMs);
    const signal = AbortSignal.any([this.#shutdown.signal, timeout.signal]);
    const release = (): void => {
      this.#inbound--;
    };
    void this.#setup(stream, false, signal).then(
      (conn) => {
        clock.clearTimeout(timer);
        this.#pending.delete(stream);
        void conn.closed.then(release);
        for (const l of this.#connectionListeners) {
          try {
            l(conn);
          } catch {
            // a listener's failure does not affect the connection
          }
        }
      },
      () => {
        clock.clearTimeout(timer);
        this.#pending.delete(stream);
        release();
      },
    );
  }

  async #setup(raw: ByteStream, initiator: boolean, signal: AbortSignal): Promise<Connection> {
    let stream = raw;
    try {
      if (this.#init.upgrade !== undefined) stream = await this.#init.upgrade(raw, { initiator, signal });
    } catch (e) {
      raw.destroy();
      throw isTransportError(e) ? e : new TransportError('PROTOCOL_ERROR', 'stream upgrade failed', { cause: e });
    }
    // An upgrade that authenticated the peer says so on the stream it returns (stream.remoteIdentity);
    // openConnection then reports that identity and refuses a hello that contradicts it.
    const conn = await openConnection(stream, { ...this.#init, initiator, handlers: this.#lookup, clock: this.#network.clock, signal });
    this.#connections.add(conn);
    void conn.closed.then(() => {
      this.#connections.delete(conn);
    });
    return conn;
  }

  async dial(address: string, options?: DialOptions): Promise<Connection> {
    options?.signal?.throwIfAborted();
    this.#checkOpen();
    const timeoutMs = options?.timeoutMs ?? this.#init.connectTimeoutMs ?? 10_000;
    const clock = this.#network.clock;
    const timeout = new AbortController();
    const timer = clock.setTimeout(() => {
      timeout.abort(new TransportError('CONNECT_TIMEOUT', `dial ${address} did not complete within ${timeoutMs} ms`));
    }, timeoutMs);
    const signals = [timeout.signal, this.#shutdown.signal];
    if (options?.signal !== undefined) signals.push(options.signal);
    const signal = AbortSignal.any(signals);
    try {
      const raw = await this.#network.dial(address, { signal, timeoutMs });
      signal.throwIfAborted();
      return await this.#setup(raw, true, signal);
    } catch (e) {
      if (signal.aborted) throw abortError(signal, `dial ${address}`);
      throw e;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const s of this.#pending) s.destroy();
    this.#shutdown.abort(new TransportError('TRANSPORT_CLOSED', 'transport closed'));
    await Promise.all([...listeners.map((l) => l.close().catch(noop)), ...[...this.#connections].map((c) => c.close(options))]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
