import type { TransportError } from './errors.js';

/** Options of every wait: an AbortSignal that cancels it. */
export interface AbortOptions {
  readonly signal?: AbortSignal;
}

/**
 * Time source and timers. Real transports use {@link realClock}; the simulated network passes its
 * virtual clock so deadlines, keep-alives and delays run in virtual time.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The lowest seam: a reliable, ordered, bidirectional byte stream (a TCP socket, a Unix socket, an
 * in-memory pipe, or a stream that a wrapper has encrypted). Framing runs on top of any ByteStream
 * through {@link openConnection}. Every `write` call carries whole frames, so a stream that
 * preserves write boundaries (the simulated network) may drop, duplicate or reorder writes
 * without desynchronising the decoder.
 */
export interface ByteStream {
  /** Writes chunks in order (one vectored write). Returns false when the caller should wait for drain. */
  write(chunks: readonly Uint8Array[]): boolean;
  /**
   * Called for every received chunk, in order. One listener (the framing layer). A delivered
   * chunk must not be modified afterwards: payloads are handed to handlers as views of it.
   */
  onData(listener: (chunk: Uint8Array) => void): Disposable;
  /** Called when a write that returned false has been flushed. */
  onDrain(listener: () => void): Disposable;
  /** Called once when the stream ends (`error` undefined for a clean end). */
  onClose(listener: (error?: Error) => void): Disposable;
  /** Ends the stream gracefully after pending writes. */
  end(): void;
  /** Closes the stream at once. */
  destroy(error?: Error): void;
  /** Stops delivering data (receive-side back-pressure); optional. */
  pause?(): void;
  /** Resumes delivering data; optional. */
  resume?(): void;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /**
   * Bytes accepted by {@link write} that the stream still references (queued, or in a write the
   * OS has not completed); optional. Lets a writer recycle its buffers: once the total it has
   * written minus this count has passed a buffer's last byte, the stream no longer reads it.
   */
  readonly writableLength?: number;
  /**
   * The peer's identity as authenticated by the layer that produced this stream (e.g. a
   * secure-channel upgrade); absent on raw streams. When set, the framed connection's
   * {@link Connection.remoteIdentity} is this value whatever the peer's hello says, and a hello
   * whose `id` is a different string fails connection setup with `PROTOCOL_ERROR` (a peer that
   * announces an identity other than the one it authenticated as is misconfigured or lying).
   */
  readonly remoteIdentity?: string;
}

/** A raw network: dials and accepts {@link ByteStream}s. TCP and the memory network implement it. */
export interface StreamNetwork {
  /** Listens on `address` and hands every accepted stream to `onStream`. */
  listen(address: string, onStream: (stream: ByteStream) => void, options?: AbortOptions): Promise<StreamListener>;
  /** Connects to `address`. */
  dial(address: string, options?: DialOptions): Promise<ByteStream>;
  /** The clock this network runs on. */
  readonly clock: Clock;
}

export interface StreamListener {
  /** The bound address, in a form `dial` accepts (with the real port for port 0). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Turns a raw stream into another one before framing starts (for example a secure channel after a
 * handshake). Runs on both the dialing and the accepting side. An upgrade that authenticates the
 * peer sets {@link ByteStream.remoteIdentity} on the stream it returns; the connection then reports
 * that identity as `remoteIdentity` and rejects a hello announcing another one.
 */
export type StreamUpgrade = (stream: ByteStream, context: { readonly initiator: boolean; readonly signal: AbortSignal }) => Promise<ByteStream>;

export interface DialOptions extends AbortOptions {
  /** Fail with CONNECT_TIMEOUT if the connection (including hello) is not up in this time. */
  readonly timeoutMs?: number;
}

export type ListenOptions = AbortOptions;

/** A listening endpoint of a {@link Transport}. */
export interface Listener extends AsyncDisposable {
  /** The bound address, in a form `dial` accepts. */
  readonly address: string;
  /** Stops accepting; existing connections stay open. Idempotent. */
  close(): Promise<void>;
}

/** What a handler learns about the call it serves. */
export interface CallContext {
  readonly method: string;
  /** `message` (one-way), `unary`, `server-stream` or `client-stream`. */
  readonly kind: CallKind;
  readonly connection: Connection;
  /** Fires on the caller's cancel, its deadline, or the connection closing. */
  readonly signal: AbortSignal;
  /** The deadline the caller sent, as an absolute time on the transport's clock; undefined if none. */
  readonly deadline: number | undefined;
}

export type CallKind = 'message' | 'unary' | 'server-stream' | 'client-stream';

/**
 * Serves calls to one method. `payload` is the decoded CBOR value or a `Uint8Array` for raw
 * payloads; for client streams it is an `AsyncIterable` of such values. The return value is the
 * response (unary), an `Iterable`/`AsyncIterable` of responses (server streams) or ignored
 * (messages). Throw an `RpcError` to pick the status the caller sees.
 */
export type Handler = (payload: unknown, context: CallContext) => unknown;

export type SendOptions = AbortOptions;

export interface RequestOptions extends AbortOptions {
  /** Time the call may take; sent to the handler as its deadline. */
  readonly deadlineMs?: number;
}

/** A server stream being received: iterate it; breaking out cancels the call. */
export interface ResponseStream<T = unknown> extends AsyncIterable<T>, AsyncDisposable {
  /** Cancels the call (sends a cancel frame) if still running. */
  cancel(): void;
}

export type ConnectionState = 'open' | 'closing' | 'closed';

/** A framed connection between two transports. */
export interface Connection extends AsyncDisposable {
  /** Unique id within the process (for logs). */
  readonly id: string;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /**
   * The peer's identity: the stream's authenticated {@link ByteStream.remoteIdentity} when the
   * (upgraded) stream has one, else the `id` the peer announced in its hello (unauthenticated).
   */
  readonly remoteIdentity: string | undefined;
  /** True on the dialing side. */
  readonly initiator: boolean;
  readonly state: ConnectionState;
  /** Resolves when the connection is closed: undefined for a clean close, else the typed reason. Never rejects. */
  readonly closed: Promise<TransportError | undefined>;

  /** One-way message to the peer's handler for `method`. Resolves once queued (waits while the send queue is full). */
  send(method: string, payload?: unknown, options?: SendOptions): Promise<void>;
  /** Unary call. Rejects with a typed error: REMOTE_ERROR (RpcError), DEADLINE_EXCEEDED, ABORTED, CONNECTION_LOST, … */
  request<T = unknown>(method: string, payload?: unknown, options?: RequestOptions): Promise<T>;
  /** Server streaming call: the handler returns an (async) iterable; responses arrive under credit-based flow control. */
  stream<T = unknown>(method: string, payload?: unknown, options?: RequestOptions): ResponseStream<T>;
  /** Client streaming call: `source` is sent under the handler's credit; resolves with the handler's result. */
  clientStream<T = unknown>(method: string, source: AsyncIterable<unknown> | Iterable<unknown>, options?: RequestOptions): Promise<T>;

  /** Called once when the connection closes, with the reason (undefined for a clean close). */
  onClose(listener: (reason: TransportError | undefined) => void): Disposable;

  /** Graceful close: sends goaway, refuses new work, lets in-flight calls finish, then ends. */
  close(options?: AbortOptions): Promise<void>;
  /** Immediate close: pending calls fail with CONNECTION_CLOSED. */
  abort(reason?: TransportError): void;
}

/** The contract every transport implements (TCP, memory, secure). */
export interface Transport extends AsyncDisposable {
  /** Starts listening; the returned listener knows its bound address. */
  listen(address: string, options?: ListenOptions): Promise<Listener>;
  /** Opens a connection (hello exchanged) to `address`. */
  dial(address: string, options?: DialOptions): Promise<Connection>;
  /** Registers the handler of `method` for every connection of this transport (both directions). */
  handle(method: string, handler: Handler): Disposable;
  /** Called for every inbound connection once its hello completed. */
  onConnection(listener: (connection: Connection) => void): Disposable;
  /** Connections currently open (inbound and outbound). */
  readonly connections: ReadonlySet<Connection>;
  /** Stops listeners and closes every connection gracefully. Idempotent. */
  close(options?: AbortOptions): Promise<void>;
}
