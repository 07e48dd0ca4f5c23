import { FrameDecoder, FrameEncoder, FrameFlags, FrameType, DEFAULT_MAX_FRAME_SIZE, PROTOCOL_VERSION } from './frame.js';
import type { Frame } from './frame.js';
import { abortError, isTransportError, RpcError, RpcStatus, rpcStatusName, TransportError } from './errors.js';
import type { RpcStatusName, TransportErrorCode } from './errors.js';
import { decodeCbor, decodeMethodPrefix, encodeCbor, encodeMethodPrefix, DEFAULT_MAX_DEPTH } from './payload.js';
import type { MethodCache } from './payload.js';
import { InboundQueue } from './queue.js';
import type {
  AbortOptions,
  ByteStream,
  CallContext,
  CallKind,
  Clock,
  Connection,
  ConnectionState,
  Handler,
  RequestOptions,
  ResponseStream,
  SendOptions,
} from './types.js';

/** Per-connection limits and timeouts. Every field has a default (see {@link connectionDefaults}). */
export interface ConnectionOptions {
  /** Largest payload this side accepts; announced in hello. @default 16 MiB */
  readonly maxFrameSize?: number;
  /** Incoming calls served at once; more are answered RESOURCE_EXHAUSTED. @default 1024 */
  readonly maxInFlight?: number;
  /** Stream items a receiver lets the sender have outstanding (credit window). @default 32 */
  readonly streamWindow?: number;
  /** Send a ping after this much silence from the peer; 0 disables keep-alive. @default 15000 */
  readonly keepAliveMs?: number;
  /** Declare the peer dead (PEER_TIMEOUT) if nothing arrives this long after a ping. @default 10000 */
  readonly keepAliveTimeoutMs?: number;
  /** Close gracefully (IDLE_TIMEOUT) after this long without calls or messages; 0 disables. @default 0 */
  readonly idleTimeoutMs?: number;
  /** A started frame header must complete within this time (slow-header defence). @default 10000 */
  readonly headerTimeoutMs?: number;
  /** The peer's hello must arrive within this time. @default 10000 */
  readonly helloTimeoutMs?: number;
  /** Bytes the send queue holds before `send`/`request` wait for the stream to drain. @default 4 MiB */
  readonly sendQueueBytes?: number;
  /** A graceful close that takes longer than this aborts. @default 5000 */
  readonly closeTimeoutMs?: number;
  /** Compute CRC-32 checksums on sent frames. @default false */
  readonly checksum?: boolean;
  /** Maximum nesting depth of received CBOR payloads. @default 64 */
  readonly maxDepth?: number;
  /** Identity announced in hello (the peer sees it as `remoteIdentity`). */
  readonly identity?: string;
}

export const connectionDefaults = {
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxInFlight: 1024,
  streamWindow: 32,
  keepAliveMs: 15_000,
  keepAliveTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  headerTimeoutMs: 10_000,
  helloTimeoutMs: 10_000,
  sendQueueBytes: 4 * 1024 * 1024,
  closeTimeoutMs: 5_000,
  checksum: false,
  maxDepth: DEFAULT_MAX_DEPTH,
} as const;

/** What {@link openConnection} needs besides the stream. */
export interface OpenConnectionOptions extends ConnectionOptions, AbortOptions {
  /** True on the dialing side (its calls use odd ids, the acceptor's even ids). */
  readonly initiator: boolean;
  /** Looks up the handler of a method. */
  readonly handlers?: (method: string) => Handler | undefined;
  readonly clock?: Clock;
  /**
   * The peer's identity as already authenticated below the framing (see
   * {@link ByteStream.remoteIdentity}). When set it is the connection's `remoteIdentity`, and a
   * hello whose `id` is a different string fails setup with `PROTOCOL_ERROR`.
   * @default stream.remoteIdentity
   */
  readonly remoteIdentity?: string;
}

/** The system clock. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => {
    clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};

type Resolved = Required<Omit<ConnectionOptions, 'identity'>>;

interface OutCall {
  readonly kind: CallKind;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** Server stream being received. */
  queue?: InboundQueue;
  /** Client stream being sent: credit left and a waiter for more. */
  credit?: number;
  creditWaiter?: (() => void) | undefined;
  cleanup?: (() => void) | undefined;
}

const EMPTY = new Uint8Array(0);
/** Shared empty collections: never mutated (every insertion site swaps in a real one first). */
const NO_CALLS: Map<number, OutCall> = new Map();
const NO_SERVED: Map<number, ServedCall> = new Map();
const NO_LISTENERS: Set<(reason: TransportError | undefined) => void> = new Set();
const noop = (): void => undefined;
let connectionSeq = 0;

/** Body bytes of a payload: raw bytes as they are, `undefined` as nothing, anything else CBOR. */
function encodeBody(payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (payload === undefined) return EMPTY;
  return encodeCbor(payload);
}

/** Flags matching {@link encodeBody}. */
function bodyFlags(payload: unknown): number {
  return payload instanceof Uint8Array ? FrameFlags.RAW : 0;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function toRpcError(e: unknown): RpcError {
  if (e instanceof RpcError) return e;
  if (isTransportError(e)) {
    if (e.code === 'DEADLINE_EXCEEDED') return new RpcError('DEADLINE_EXCEEDED', e.message);
    if (e.code === 'ABORTED') return new RpcError('CANCELLED', e.message);
    if (e.code === 'PAYLOAD_INVALID') return new RpcError('INVALID_ARGUMENT', e.message);
  }
  if (e instanceof Error) return new RpcError('INTERNAL', e.message);
  return new RpcError('UNKNOWN', String(e));
}

/** A call this side is serving; it is the handler's {@link CallContext}. */
class ServedCall implements CallContext {
  readonly id: number;
  readonly method: string;
  readonly kind: CallKind;
  readonly connection: Connection;
  readonly deadline: number | undefined;
  #controller: AbortController | undefined;
  #abortReason: TransportError | undefined;
  done = false;
  timer: unknown;
  /** Server stream: credit the caller granted, and a waiter for more. */
  credit = 0;
  creditWaiter: (() => void) | undefined;
  /** Client stream being received. */
  queue: InboundQueue | undefined;

  constructor(id: number, method: string, kind: CallKind, connection: Connection, deadline: number | undefined) {
    this.id = id;
    this.method = method;
    this.kind = kind;
    this.connection = connection;
    this.deadline = deadline;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  abort(reason: TransportError): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
    const w = this.creditWaiter;
    this.creditWaiter = undefined;
    w?.();
    this.queue?.fail(reason);
  }

  finished(): boolean {
    return this.done;
  }

  get aborted(): TransportError | undefined {
    return this.#abortReason;
  }
}

/**
 * The framing engine: RPC, streams, keep-alive, flow control and graceful close over one
 * {@link ByteStream}. Create it with {@link openConnection}.
 */
class FramedConnection implements Connection {
  readonly id: string;
  readonly initiator: boolean;
  readonly closed: Promise<TransportError | undefined>;
  remoteIdentity: string | undefined;
  readonly #stream: ByteStream;
  readonly #opts: Resolved;
  readonly #identity: string | undefined;
  /** The peer's identity as authenticated below the framing; the hello may not contradict it. */
  readonly #authenticatedIdentity: string | undefined;
  readonly #clock: Clock;
  readonly #handlers: (method: string) => Handler | undefined;
  readonly #decoder: FrameDecoder;
  readonly #encoder: FrameEncoder;
  // Idle connections share empty sentinels; the real collections are made on first use.
  #calls: Map<number, OutCall> = NO_CALLS;
  #served: Map<number, ServedCall> = NO_SERVED;
  #closeListeners: Set<(reason: TransportError | undefined) => void> = NO_LISTENERS;
  readonly #spaceWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  readonly #disposers: Disposable[] = [];
  #nextId: number;
  #state: ConnectionState = 'open';
  #helloDone = false;
  #ready: { resolve: (c: Connection) => void; reject: (e: unknown) => void } | undefined;
  #resolveClosed!: (reason: TransportError | undefined) => void;
  #flushScheduled = false;
  #blocked = false;
  #sentGoaway = false;
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  #peerWindow = 32;
  #peerMaxInFlight = 1024;
  readonly #slotWaiters: (() => void)[] = [];
  readonly #methodCache: MethodCache = { bytes: EMPTY, name: '' };
  #messagesPending = 0;
  #readPaused = false;
  #recvSeen = false;
  #active = false;
  #pingOutstanding = false;
  #keepAliveTimer: unknown;
  #idleTimer: unknown;
  #headerTimer: unknown;
  #helloTimer: unknown;
  #closeTimer: unknown;
  #messageController: AbortController | undefined;
  #closeReason: TransportError | undefined;

  constructor(stream: ByteStream, options: OpenConnectionOptions, ready: { resolve: (c: Connection) => void; reject: (e: unknown) => void }) {
    this.id = `c${++connectionSeq}`;
    this.#stream = stream;
    this.initiator = options.initiator;
    this.#nextId = options.initiator ? 1 : 2;
    this.#clock = options.clock ?? realClock;
    this.#handlers = options.handlers ?? (() => undefined);
    this.#identity = options.identity;
    this.#authenticatedIdentity = options.remoteIdentity ?? stream.remoteIdentity;
    this.remoteIdentity = this.#authenticatedIdentity;
    const o: Record<string, unknown> = { ...connectionDefaults };
    for (const [k, v] of Object.entries(options)) if (v !== undefined && k in connectionDefaults) o[k] = v;
    this.#opts = o as unknown as Resolved;
    for (const k of ['maxFrameSize', 'maxInFlight', 'streamWindow', 'sendQueueBytes'] as const) {
      const v = this.#opts[k];
      if (!Number.isInteger(v) || v < 1) throw new TransportError('INVALID_ARGUMENT', `${k} must be a positive integer, got ${String(v)}`);
    }
    this.#ready = ready;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#decoder = new FrameDecoder((f) => {
      this.#onFrame(f);
    }, { maxFrameSize: this.#opts.maxFrameSize, reuseFrame: true });
    this.#encoder = new FrameEncoder({ checksum: this.#opts.checksum });
    this.#disposers.push(
      stream.onData((chunk) => {
        this.#onData(chunk);
      }),
      stream.onDrain(() => {
        this.#onDrain();
      }),
      stream.onClose((err) => {
        this.#onStreamClose(err);
      }),
    );
    const hello: Record<string, unknown> = {
      v: [PROTOCOL_VERSION],
      maxFrame: this.#opts.maxFrameSize,
      maxInFlight: this.#opts.maxInFlight,
      window: this.#opts.streamWindow,
    };
    if (this.#identity !== undefined) hello.id = this.#identity;
    this.#writeFrame(FrameType.HELLO, 0, 0, encodeCbor(hello));
    this.#helloTimer = this.#clock.setTimeout(() => {
      this.#fail(new TransportError('HEADER_TIMEOUT', `no hello within ${this.#opts.helloTimeoutMs} ms`), true);
    }, this.#opts.helloTimeoutMs);
  }

  get localAddress(): string {
    return this.#stream.localAddress;
  }
  get remoteAddress(): string {
    return this.#stream.remoteAddress;
  }
  get state(): ConnectionState {
    return this.#state;
  }
  /** Calls in flight in both directions (for tests and metrics). */
  get inFlight(): number {
    return this.#calls.size + this.#served.size;
  }

  // ---------------------------------------------------------------- receiving

  #onData(chunk: Uint8Array): void {
    if (this.#state === 'closed') return;
    this.#recvSeen = true;
    try {
      this.#decoder.push(chunk);
    } catch (e) {
      this.#fail(isTransportError(e) ? e : new TransportError('PROTOCOL_ERROR', 'frame handling failed', { cause: e }), true);
      return;
    }
    // Replies produced synchronously while decoding this chunk go out now, in one write, before
    // the promise jobs run (the microtask flush still batches replies of async handlers).
    if (this.#flushScheduled) this.#flush();
    if (this.#opts.headerTimeoutMs > 0) {
      if (this.#decoder.state === 'header') {
        this.#headerTimer ??= this.#clock.setTimeout(() => {
          this.#fail(new TransportError('HEADER_TIMEOUT', `frame header incomplete after ${this.#opts.headerTimeoutMs} ms`), true);
        }, this.#opts.headerTimeoutMs);
      } else if (this.#headerTimer !== undefined) {
        this.#clock.clearTimeout(this.#headerTimer);
        this.#headerTimer = undefined;
      }
    }
  }

  #onFrame(f: Frame): void {
    if (this.#state === 'closed') return;
    if (!this.#helloDone) {
      if (f.type === FrameType.HELLO) this.#onHello(f);
      else if (f.type === FrameType.GOAWAY) this.#onGoaway(f);
      else throw new TransportError('PROTOCOL_ERROR', `frame type 0x${f.type.toString(16)} before hello`);
      return;
    }
    switch (f.type) {
      case FrameType.RESPONSE:
        this.#onResponse(f);
        return;
      case FrameType.REQUEST:
        this.#active = true;
        this.#onRequest(f);
        return;
      case FrameType.MESSAGE:
        this.#active = true;
        this.#onMessage(f);
        return;
      case FrameType.ERROR:
        this.#onError(f);
        return;
      case FrameType.CANCEL: {
        const call = this.#served.get(f.id);
        if (call !== undefined) {
          this.#endServed(call);
          call.abort(new TransportError('ABORTED', 'cancelled by the caller'));
        } else {
          // The handler of a client stream we are sending on stopped listening.
          const mine = this.#calls.get(f.id);
          if (mine !== undefined) {
            this.#finishCall(f.id, mine);
            const w = mine.creditWaiter;
            mine.creditWaiter = undefined;
            w?.();
            mine.reject(new TransportError('ABORTED', 'cancelled by the peer'));
          }
        }
        return;
      }
      case FrameType.STREAM_DATA:
        this.#onStreamData(f);
        return;
      case FrameType.STREAM_END:
        if (this.#isMine(f.id)) this.#calls.get(f.id)?.queue?.end();
        else this.#served.get(f.id)?.queue?.end();
        if (this.#isMine(f.id)) {
          const call = this.#calls.get(f.id);
          if (call?.queue !== undefined) this.#finishCall(f.id, call).resolve(undefined);
        }
        return;
      case FrameType.CREDIT: {
        const n = f.payload.length >= 4 ? new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0, true) : 0;
        const target = this.#isMine(f.id) ? this.#calls.get(f.id) : this.#served.get(f.id);
        if (target !== undefined) {
          target.credit = (target.credit ?? 0) + n;
          const w = target.creditWaiter;
          target.creditWaiter = undefined;
          w?.();
        }
        return;
      }
      case FrameType.PING:
        this.#writeFrame(FrameType.PONG, 0, 0, f.payload.slice(0, 8));
        return;
      case FrameType.PONG:
        return;
      case FrameType.GOAWAY:
        this.#onGoaway(f);
        return;
      case FrameType.HELLO:
        return; // duplicates (simulated networks) are ignored
    }
  }

  #isMine(id: number): boolean {
    return id % 2 === (this.initiator ? 1 : 0);
  }

  #onHello(f: Frame): void {
    const h = decodeCbor(f.payload, 4);
    if (typeof h !== 'object' || h === null) throw new TransportError('PROTOCOL_ERROR', 'hello is not a map');
    const hello = h as Record<string, unknown>;
    const versions = hello.v;
    if (!Array.isArray(versions) || !versions.includes(PROTOCOL_VERSION)) {
      throw new TransportError('PROTOCOL_ERROR', `no common protocol version (peer offers ${String(versions).slice(0, 64)})`);
    }
    const num = (k: string, min: number, max: number): number => {
      const v = hello[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new TransportError('PROTOCOL_ERROR', `hello field ${k} invalid`);
      return v;
    };
    this.#peerMaxFrame = num('maxFrame', 64, 0xffffffff);
    this.#peerWindow = num('window', 1, 1 << 20);
    this.#peerMaxInFlight = num('maxInFlight', 1, 0xffffffff);
    if (typeof hello.id === 'string') {
      const authenticated = this.#authenticatedIdentity;
      if (authenticated === undefined) this.remoteIdentity = hello.id;
      else if (hello.id !== authenticated) {
        throw new TransportError('PROTOCOL_ERROR', `hello announces identity ${JSON.stringify(hello.id.slice(0, 128))} but the stream authenticated the peer as ${JSON.stringify(authenticated)}`);
      }
    }
    this.#helloDone = true;
    this.#clock.clearTimeout(this.#helloTimer);
    this.#helloTimer = undefined;
    this.#startTimers();
    const ready = this.#ready;
    this.#ready = undefined;
    ready?.resolve(this);
  }

  #onGoaway(f: Frame): void {
    let code: TransportErrorCode = 'GOING_AWAY';
    let message = 'peer is going away';
    try {
      const g = decodeCbor(f.payload, 4);
      if (Array.isArray(g) && typeof g[1] === 'string' && typeof g[2] === 'string') {
        code = g[1] as TransportErrorCode;
        message = g[2];
      }
    } catch {
      // keep defaults
    }
    if (!this.#helloDone) {
      // Refused before hello (e.g. TOO_MANY_CONNECTIONS).
      this.#fail(new TransportError(code, message), false);
      return;
    }
    if (this.#state === 'open') this.#state = 'closing';
    this.#closeReason ??= code === 'GOING_AWAY' ? undefined : new TransportError(code, message);
    this.#maybeEnd();
  }

  #onResponse(f: Frame): void {
    const call = this.#calls.get(f.id);
    if (call === undefined || call.kind === 'server-stream') return;
    this.#finishCall(f.id, call);
    try {
      call.resolve(this.#decodeBody(f.flags, f.payload));
    } catch (e) {
      call.reject(e);
    }
  }

  #onError(f: Frame): void {
    const call = this.#calls.get(f.id);
    if (call === undefined) return;
    this.#finishCall(f.id, call);
    let err: RpcError;
    try {
      const v = decodeCbor(f.payload, 8);
      if (!Array.isArray(v) || typeof v[0] !== 'number') throw new Error('bad error payload');
      const status: RpcStatusName = rpcStatusName(v[0]);
      err = new RpcError(status, typeof v[1] === 'string' ? v[1] : status, { details: v[2] });
    } catch (e) {
      err = new RpcError('UNKNOWN', 'malformed error frame', { cause: e });
    }
    call.queue?.fail(err);
    call.reject(err);
  }

  #onStreamData(f: Frame): void {
    const value = this.#decodeBody(f.flags, f.payload);
    const queue = this.#isMine(f.id) ? this.#calls.get(f.id)?.queue : this.#served.get(f.id)?.queue;
    queue?.push(value);
  }

  #decodeBody(flags: number, body: Uint8Array): unknown {
    if ((flags & FrameFlags.RAW) !== 0) return body;
    if (body.length === 0) return undefined;
    return decodeCbor(body, this.#opts.maxDepth);
  }

  #onMessage(f: Frame): void {
    const { method, bodyOffset } = decodeMethodPrefix(f.payload, false, this.#methodCache);
    const handler = this.#handlers(method);
    if (handler === undefined) return;
    let body: unknown;
    try {
      body = this.#decodeBody(f.flags, f.payload.subarray(bodyOffset));
    } catch {
      return; // a bad one-way message is dropped
    }
    const ctx: CallContext = {
      method,
      kind: 'message',
      connection: this,
      deadline: undefined,
      signal: (this.#messageController ??= new AbortController()).signal,
    };
    let r: unknown;
    try {
      r = handler(body, ctx);
    } catch {
      return; // one-way: nobody to tell
    }
    if (isThenable(r)) {
      // Receive-side back-pressure: at most maxInFlight message handlers pending; beyond that the
      // stream is paused, the socket buffers fill, and the sender's send() waits for drain.
      this.#messagesPending++;
      if (this.#messagesPending >= this.#opts.maxInFlight && !this.#readPaused) {
        this.#readPaused = true;
        this.#stream.pause?.();
      }
      r.then(this.#messageDone, this.#messageDone);
    }
  }

  readonly #messageDone = (): void => {
    this.#messagesPending--;
    if (this.#readPaused && this.#messagesPending < this.#opts.maxInFlight >> 1 && this.#state !== 'closed') {
      this.#readPaused = false;
      this.#stream.resume?.();
    }
  };

  #onRequest(f: Frame): void {
    const id = f.id;
    if (this.#isMine(id) || this.#served.has(id)) {
      if (this.#isMine(id)) throw new TransportError('PROTOCOL_ERROR', `request id ${id} has the wrong parity`);
      return; // duplicate (simulated network)
    }
    const { method, timeoutMs, bodyOffset } = decodeMethodPrefix(f.payload, true, this.#methodCache);
    if (this.#sentGoaway) {
      this.#writeError(id, new RpcError('UNAVAILABLE', 'connection is going away'));
      return;
    }
    if (this.#served.size >= this.#opts.maxInFlight) {
      this.#writeError(id, new RpcError('RESOURCE_EXHAUSTED', `more than ${this.#opts.maxInFlight} calls in flight`));
      return;
    }
    const kind: CallKind =
      (f.flags & FrameFlags.SERVER_STREAM) !== 0 ? 'server-stream' : (f.flags & FrameFlags.CLIENT_STREAM) !== 0 ? 'client-stream' : 'unary';
    const handler = this.#handlers(method);
    if (handler === undefined) {
      this.#writeError(id, new RpcError('UNIMPLEMENTED', `no handler for method ${method}`));
      if (kind === 'client-stream') this.#writeFrame(FrameType.CANCEL, 0, id, EMPTY);
      return;
    }
    const deadline = timeoutMs > 0 ? this.#clock.now() + timeoutMs : undefined;
    const call = new ServedCall(id, method, kind, this, deadline);
    let payload: unknown;
    if (kind === 'client-stream') {
      call.queue = new InboundQueue(
        this.#opts.streamWindow,
        (n) => {
          this.#writeCredit(id, n);
        },
        noop,
      );
      payload = call.queue;
    } else {
      try {
        payload = this.#decodeBody(f.flags, f.payload.subarray(bodyOffset));
      } catch (e) {
        this.#writeError(id, toRpcError(e));
        return;
      }
    }
    if (this.#served === NO_SERVED) this.#served = new Map();
    this.#served.set(id, call);
    if (deadline !== undefined) {
      call.timer = this.#clock.setTimeout(() => {
        if (call.done) return;
        this.#endServed(call);
        call.abort(new TransportError('DEADLINE_EXCEEDED', `deadline of ${timeoutMs} ms exceeded`));
      }, timeoutMs);
    }
    if (kind === 'server-stream') call.credit = this.#peerWindow;
    let result: unknown;
    try {
      result = handler(payload, call);
    } catch (e) {
      this.#respondError(call, e);
      return;
    }
    if (kind === 'server-stream') {
      void this.#pumpServerStream(call, result);
    } else if (isThenable(result)) {
      result.then(
        (v) => {
          this.#respond(call, v);
        },
        (e: unknown) => {
          this.#respondError(call, e);
        },
      );
    } else {
      this.#respond(call, result);
    }
  }

  async #pumpServerStream(call: ServedCall, result: unknown): Promise<void> {
    try {
      const source = await result;
      if (typeof source !== 'object' || source === null || !(Symbol.asyncIterator in source || Symbol.iterator in source)) {
        throw new RpcError('INTERNAL', 'server-stream handler did not return an iterable');
      }
      const iterable = source as AsyncIterable<unknown> | Iterable<unknown>;
      for await (const item of iterable) {
        if (call.finished()) break;
        while (call.credit <= 0 && !call.finished()) {
          await new Promise<void>((resolve) => {
            call.creditWaiter = resolve;
          });
        }
        if (call.finished()) break;
        call.credit--;
        await this.#sendBody(FrameType.STREAM_DATA, call.id, item);
      }
      if (call.done) return;
      this.#endServed(call);
      this.#writeFrame(FrameType.STREAM_END, 0, call.id, EMPTY);
      this.#maybeEnd();
    } catch (e) {
      this.#respondError(call, e);
    }
  }

  #endServed(call: ServedCall): void {
    call.done = true;
    this.#served.delete(call.id);
    if (call.timer !== undefined) this.#clock.clearTimeout(call.timer);
  }

  #respond(call: ServedCall, value: unknown): void {
    if (call.done) return;
    this.#endServed(call);
    if (this.#state === 'closed') return;
    const flags = bodyFlags(value);
    let body: Uint8Array;
    try {
      body = encodeBody(value);
    } catch (e) {
      this.#writeError(call.id, toRpcError(e));
      this.#maybeEnd();
      return;
    }
    if (body.length > this.#peerMaxFrame) {
      this.#writeError(call.id, new RpcError('RESOURCE_EXHAUSTED', `response of ${body.length} bytes exceeds the peer's frame limit`));
    } else {
      this.#writeFrame(FrameType.RESPONSE, flags, call.id, body);
    }
    this.#maybeEnd();
  }

  #respondError(call: ServedCall, e: unknown): void {
    if (call.done) return;
    this.#endServed(call);
    if (this.#state !== 'closed') this.#writeError(call.id, toRpcError(e));
    this.#maybeEnd();
  }

  #writeError(id: number, e: RpcError): void {
    const details = e.details;
    let body: Uint8Array;
    try {
      body = encodeCbor(details === undefined ? [RpcStatus[e.status], e.message] : [RpcStatus[e.status], e.message, details]);
    } catch {
      body = encodeCbor([RpcStatus[e.status], e.message]);
    }
    this.#writeFrame(FrameType.ERROR, 0, id, body);
  }

  #writeCredit(id: number, n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    this.#writeFrame(FrameType.CREDIT, 0, id, b);
  }

  // ---------------------------------------------------------------- sending

  #writeFrame(type: FrameType, flags: number, id: number, body: Uint8Array, prefix?: Uint8Array): void {
    if (this.#state === 'closed') return;
    this.#encoder.push(type, flags, id, body, prefix);
    if (!this.#flushScheduled && !this.#blocked) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#state === 'closed' || this.#blocked || this.#encoder.pendingBytes === 0) return;
    const chunks = this.#encoder.flush();
    if (!this.#stream.write(chunks)) this.#blocked = true;
    else this.#wakeSpaceWaiters();
  };

  #onDrain(): void {
    this.#blocked = false;
    if (this.#encoder.pendingBytes > 0) this.#flush();
    if (this.#isWritable()) {
      this.#wakeSpaceWaiters();
      this.#maybeEnd();
    }
  }

  #isWritable(): boolean {
    return !this.#blocked;
  }

  #wakeSpaceWaiters(): void {
    while (this.#spaceWaiters.length > 0 && this.#encoder.pendingBytes < this.#opts.sendQueueBytes) {
      this.#spaceWaiters.shift()?.resolve();
    }
  }

  /** Waits until the send queue has room (bounded queue: senders wait, memory does not grow). */
  #space(signal: AbortSignal | undefined): Promise<void> | undefined {
    if (this.#encoder.pendingBytes < this.#opts.sendQueueBytes) return undefined;
    return new Promise<void>((resolve, reject) => {
      const entry = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        const i = this.#spaceWaiters.indexOf(entry);
        if (i >= 0) this.#spaceWaiters.splice(i, 1);
        if (signal !== undefined) reject(abortError(signal, 'send'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#spaceWaiters.push(entry);
    });
  }

  /**
   * Waits while the peer's announced max-in-flight is reached, so callers queue locally instead
   * of being refused with RESOURCE_EXHAUSTED.
   */
  #slot(signal: AbortSignal | undefined): Promise<void> | undefined {
    if (this.#calls.size < this.#peerMaxInFlight) return undefined;
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#slotWaiters.indexOf(wake);
        if (i >= 0) this.#slotWaiters.splice(i, 1);
        if (signal !== undefined) reject(abortError(signal, 'request'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#slotWaiters.push(wake);
    });
  }

  async #sendBody(type: FrameType, id: number, value: unknown): Promise<void> {
    const flags = bodyFlags(value);
    const body = encodeBody(value);
    this.#checkSize(body.length);
    const wait = this.#space(undefined);
    if (wait !== undefined) await wait;
    this.#writeFrame(type, flags, id, body);
  }

  #checkSize(n: number): void {
    if (n > this.#peerMaxFrame) throw new TransportError('FRAME_TOO_LARGE', `payload of ${n} bytes exceeds the peer's limit of ${this.#peerMaxFrame}`);
  }

  #refuseNewWork(): TransportError | undefined {
    if (this.#state === 'open') return undefined;
    if (this.#state === 'closing') return new TransportError('GOING_AWAY', 'connection is closing');
    return this.#closedError();
  }

  #closedError(): TransportError {
    const r = this.#closeReason;
    if (r === undefined) return new TransportError('CONNECTION_CLOSED', 'connection closed');
    if (r.code === 'CONNECTION_CLOSED' || r.code === 'CONNECTION_LOST') return r;
    return new TransportError('CONNECTION_LOST', `connection lost: ${r.message}`, { cause: r });
  }

  async send(method: string, payload?: unknown, options?: SendOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const refused = this.#refuseNewWork();
    if (refused !== undefined) throw refused;
    const flags = bodyFlags(payload);
    const body = encodeBody(payload);
    const prefix = encodeMethodPrefix(method, undefined);
    this.#checkSize(body.length + prefix.length);
    const wait = this.#space(options?.signal);
    if (wait !== undefined) await wait;
    const again = this.#refuseNewWork();
    if (again !== undefined) throw again;
    this.#active = true;
    this.#writeFrame(FrameType.MESSAGE, flags, 0, body, prefix);
  }

  request<T = unknown>(method: string, payload?: unknown, options?: RequestOptions): Promise<T> {
    try {
      const signal = options?.signal;
      signal?.throwIfAborted();
      const refused = this.#refuseNewWork();
      if (refused !== undefined) throw refused;
      const flags = bodyFlags(payload);
    const body = encodeBody(payload);
      const prefix = encodeMethodPrefix(method, options?.deadlineMs ?? 0);
      this.#checkSize(body.length + prefix.length);
      const wait = this.#space(signal) ?? this.#slot(signal);
      if (wait !== undefined) {
        return wait.then(() => this.request<T>(method, payload, options));
      }
      return this.#startCall<T>('unary', flags, body, prefix, options);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #startCall<T>(kind: CallKind, flags: number, body: Uint8Array, prefix: Uint8Array, options: RequestOptions | undefined, extra?: Partial<OutCall>): Promise<T> {
    const refused = this.#refuseNewWork();
    if (refused !== undefined) return Promise.reject(refused);
    const id = this.#nextId;
    this.#nextId += 2;
    this.#active = true;
    return new Promise<T>((resolve, reject) => {
      const call: OutCall = extra === undefined ? { kind, resolve, reject } : { kind, resolve, reject, ...extra };
      const signal = options?.signal;
      const deadlineMs = options?.deadlineMs;
      if (signal !== undefined || deadlineMs !== undefined) this.#armCall(id, call, signal, deadlineMs);
      if (this.#calls === NO_CALLS) this.#calls = new Map();
      this.#calls.set(id, call);
      this.#writeFrame(FrameType.REQUEST, flags, id, body, prefix);
    });
  }

  #armCall(id: number, call: OutCall, signal: AbortSignal | undefined, deadlineMs: number | undefined): void {
    let timer: unknown;
    const onAbort = (): void => {
      if (signal !== undefined) this.#cancelCall(id, abortError(signal, 'request'));
    };
    if (deadlineMs !== undefined) {
      timer = this.#clock.setTimeout(() => {
        this.#cancelCall(id, new TransportError('DEADLINE_EXCEEDED', `deadline of ${deadlineMs} ms exceeded`));
      }, deadlineMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    call.cleanup = () => {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  }

  /** Fails a pending outgoing call locally and tells the peer with a cancel frame. */
  #cancelCall(id: number, error: TransportError): void {
    const call = this.#calls.get(id);
    if (call === undefined) return;
    this.#finishCall(id, call);
    this.#writeFrame(FrameType.CANCEL, 0, id, EMPTY);
    call.queue?.fail(error);
    const w = call.creditWaiter;
    call.creditWaiter = undefined;
    w?.();
    call.reject(error);
  }

  #finishCall(id: number, call: OutCall): OutCall {
    this.#calls.delete(id);
    if (this.#slotWaiters.length > 0) this.#slotWaiters.shift()?.();
    call.cleanup?.();
    call.cleanup = undefined;
    this.#maybeEnd();
    return call;
  }

  stream<T = unknown>(method: string, payload?: unknown, options?: RequestOptions): ResponseStream<T> {
    let id = 0;
    let started: Promise<unknown> | undefined;
    const queue = new InboundQueue(
      this.#opts.streamWindow,
      (n) => {
        if (this.#calls.has(id)) this.#writeCredit(id, n);
      },
      () => {
        this.#cancelCall(id, new TransportError('ABORTED', 'stream cancelled by the consumer'));
      },
    );
    const start = (): void => {
      if (started !== undefined) return;
      try {
        options?.signal?.throwIfAborted();
        const flags = bodyFlags(payload);
    const body = encodeBody(payload);
        const prefix = encodeMethodPrefix(method, options?.deadlineMs ?? 0);
        this.#checkSize(body.length + prefix.length);
        id = this.#nextId;
        started = this.#startCall('server-stream', flags | FrameFlags.SERVER_STREAM, body, prefix, options, { queue });
        started.catch((e: unknown) => {
          queue.fail(e instanceof Error ? e : new Error(String(e)));
        });
      } catch (e) {
        queue.fail(e instanceof Error ? e : new Error(String(e)));
      }
    };
    start();
    const iterable: ResponseStream<T> = {
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator]() as AsyncIterator<T>,
      cancel: () => {
        this.#cancelCall(id, new TransportError('ABORTED', 'stream cancelled'));
      },
      [Symbol.asyncDispose]: () => {
        this.#cancelCall(id, new TransportError('ABORTED', 'stream disposed'));
        return Promise.resolve();
      },
    };
    return iterable;
  }

  async clientStream<T = unknown>(method: string, source: AsyncIterable<unknown> | Iterable<unknown>, options?: RequestOptions): Promise<T> {
    options?.signal?.throwIfAborted();
    const prefix = encodeMethodPrefix(method, options?.deadlineMs ?? 0);
    const id = this.#nextId;
    const call: Partial<OutCall> = { credit: this.#peerWindow };
    const result = this.#startCall<T>('client-stream', FrameFlags.CLIENT_STREAM, EMPTY, prefix, options, call);
    result.catch(noop);
    const live = (): OutCall | undefined => this.#calls.get(id);
    try {
      for await (const item of source) {
        let c = live();
        if (c === undefined) break;
        while ((c.credit ?? 0) <= 0) {
          const waiting: OutCall = c;
          await new Promise<void>((resolve) => {
            waiting.creditWaiter = resolve;
          });
          c = live();
          if (c === undefined) break;
        }
        if (c === undefined) break;
        c.credit = (c.credit ?? 0) - 1;
        await this.#sendBody(FrameType.STREAM_DATA, id, item);
      }
      if (live() !== undefined) this.#writeFrame(FrameType.STREAM_END, 0, id, EMPTY);
    } catch (e) {
      this.#cancelCall(id, isTransportError(e) ? e : new TransportError('ABORTED', 'client stream source failed', { cause: e }));
    }
    return result;
  }

  // ---------------------------------------------------------------- lifecycle

  #startTimers(): void {
    if (this.#opts.keepAliveMs > 0) this.#armKeepAlive(this.#opts.keepAliveMs);
    if (this.#opts.idleTimeoutMs > 0) this.#armIdle(this.#opts.idleTimeoutMs);
  }

  #armKeepAlive(ms: number): void {
    this.#keepAliveTimer = this.#clock.setTimeout(() => {
      this.#onKeepAlive();
    }, ms);
  }

  /**
   * Keep-alive without reading the clock on the data path: every `keepAliveMs` the timer checks
   * whether anything arrived since the last check; if not, it pings, and if nothing at all
   * arrives within `keepAliveTimeoutMs` after the ping, the peer is dead. Silence is noticed
   * within one to two `keepAliveMs`.
   */
  #onKeepAlive(): void {
    if (this.#state === 'closed') return;
    if (this.#recvSeen) {
      this.#recvSeen = false;
      this.#pingOutstanding = false;
      this.#armKeepAlive(this.#opts.keepAliveMs);
      return;
    }
    if (this.#pingOutstanding) {
      this.#fail(new TransportError('PEER_TIMEOUT', `no answer to keep-alive ping within ${this.#opts.keepAliveTimeoutMs} ms`), false);
      return;
    }
    this.#pingOutstanding = true;
    this.#writeFrame(FrameType.PING, 0, 0, new Uint8Array(8));
    this.#armKeepAlive(this.#opts.keepAliveTimeoutMs);
  }

  /** Idle check, same scheme: a quiet period is one to two `idleTimeoutMs` without calls. */
  #armIdle(ms: number): void {
    this.#idleTimer = this.#clock.setTimeout(() => {
      if (this.#state !== 'open') return;
      if (this.#active || this.inFlight > 0) {
        this.#active = false;
        this.#armIdle(this.#opts.idleTimeoutMs);
        return;
      }
      this.#closeReason = new TransportError('IDLE_TIMEOUT', `idle for ${this.#opts.idleTimeoutMs} ms`);
      this.#goaway('IDLE_TIMEOUT', 'idle timeout');
    }, ms);
  }

  #goaway(code: TransportErrorCode, message: string): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') this.#state = 'closing';
    if (!this.#sentGoaway) {
      this.#sentGoaway = true;
      const last = this.#served.size === 0 ? 0 : Math.max(...this.#served.keys());
      this.#writeFrame(FrameType.GOAWAY, 0, 0, encodeCbor([last, code, message]));
    }
    this.#closeTimer ??= this.#clock.setTimeout(() => {
      this.#fail(new TransportError('CONNECTION_CLOSED', `graceful close did not finish within ${this.#opts.closeTimeoutMs} ms`), false);
    }, this.#opts.closeTimeoutMs);
    this.#maybeEnd();
  }

  #maybeEnd(): void {
    if (this.#state !== 'closing' || !this.#sentGoaway || this.inFlight > 0) return;
    // Everything finished: flush what is queued, then end the stream.
    if (this.#encoder.pendingBytes > 0 && !this.#blocked) this.#flush();
    if (this.#blocked) return; // #onDrain flushes; the close timer bounds the wait
    this.#stream.end();
  }

  close(options?: AbortOptions): Promise<void> {
    const signal = options?.signal;
    if (this.#state === 'closed') return Promise.resolve();
    if (signal?.aborted === true) {
      this.abort(abortError(signal, 'close'));
      return Promise.resolve();
    }
    this.#goaway('GOING_AWAY', 'closing');
    if (signal === undefined) return this.closed.then(noop);
    const onAbort = (): void => {
      this.abort(abortError(signal, 'close'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return this.closed.then(() => {
      signal.removeEventListener('abort', onAbort);
    });
  }

  abort(reason?: TransportError): void {
    this.#fail(reason ?? new TransportError('CONNECTION_CLOSED', 'connection aborted'), false);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  onClose(listener: (reason: TransportError | undefined) => void): Disposable {
    if (this.#state === 'closed') {
      queueMicrotask(() => {
        listener(this.#closeReason);
      });
      return { [Symbol.dispose]: noop };
    }
    if (this.#closeListeners === NO_LISTENERS) this.#closeListeners = new Set();
    this.#closeListeners.add(listener);
    return {
      [Symbol.dispose]: () => {
        this.#closeListeners.delete(listener);
      },
    };
  }

  #onStreamClose(err: Error | undefined): void {
    if (this.#state === 'closed') return;
    // A reason the peer gave in GOAWAY (or one we recorded) outranks how the stream then ended:
    // a peer that refuses us and cuts the stream should read as its reason, not CONNECTION_LOST.
    if (this.#state === 'closing' && (err === undefined || this.#closeReason !== undefined)) {
      this.#finish(this.#closeReason);
      return;
    }
    const reason =
      err === undefined
        ? new TransportError('CONNECTION_LOST', 'peer closed the connection')
        : isTransportError(err)
          ? err
          : new TransportError('CONNECTION_LOST', `stream error: ${err.message}`, { cause: err });
    this.#finish(reason);
  }

  /** Fails the connection: optionally tells the peer why (GOAWAY), then destroys the stream. */
  #fail(reason: TransportError, tellPeer = false): void {
    if (this.#state === 'closed') return;
    if (tellPeer) {
      try {
        const chunks = this.#encoder.flush();
        const e = new FrameEncoder();
        e.push(FrameType.GOAWAY, 0, 0, encodeCbor([0, reason.code, reason.message]));
        this.#stream.write([...chunks, ...e.flush()]);
      } catch {
        // best effort
      }
    }
    this.#finish(reason, tellPeer);
  }

  #linger(): void {
    const stream = this.#stream;
    const clock = this.#clock;
    stream.end();
    const timer = clock.setTimeout(() => { stream.destroy(); }, LINGER_MS);
    (timer as { unref?: () => void } | undefined)?.unref?.();
    stream.onClose(() => {
      clock.clearTimeout(timer);
      stream.destroy();
    });
  }

  /**
   * `lingerForPeer`: a GOAWAY was just written. The stream is ended (the bytes go out, then the
   * end) and destroyed only when the peer closes or after {@link LINGER_MS}: destroying it at once
   * could make the peer see a reset instead of the reason (a TCP socket closed with unread input
   * sends RST, which overtakes the bytes still in flight).
   */
  #finish(reason: TransportError | undefined, lingerForPeer = false): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeReason = reason;
    for (const t of [this.#keepAliveTimer, this.#idleTimer, this.#headerTimer, this.#helloTimer, this.#closeTimer]) {
      if (t !== undefined) this.#clock.clearTimeout(t);
    }
    const callError = this.#closedError();
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) {
      call.cleanup?.();
      call.queue?.fail(callError);
      const w = call.creditWaiter;
      call.creditWaiter = undefined;
      w?.();
      call.reject(callError);
    }
    const served = [...this.#served.values()];
    this.#served.clear();
    for (const call of served) {
      call.done = true;
      if (call.timer !== undefined) this.#clock.clearTimeout(call.timer);
      call.abort(callError);
    }
    this.#messageController?.abort(callError);
    for (const w of this.#spaceWaiters.splice(0)) w.reject(callError);
    for (const w of this.#slotWaiters.splice(0)) w();
    const ready = this.#ready;
    this.#ready = undefined;
    ready?.reject(reason ?? callError);
    for (const d of this.#disposers) d[Symbol.dispose]();
    if (reason === undefined) this.#stream.end();
    if (lingerForPeer) this.#linger();
    else this.#stream.destroy();
    this.#resolveClosed(reason);
    for (const l of this.#closeListeners) {
      try {
        l(reason);
      } catch {
        // listeners must not break the close
      }
    }
    this.#closeListeners.clear();
  }
}

/**
 * Runs the framing protocol over any {@link ByteStream}: sends hello, waits for the peer's hello,
 * and resolves with the {@link Connection}. This is the extension point for wrappers: a secure
 * transport hands its encrypted stream here and gets the full RPC contract on top.
 */
export function openConnection(stream: ByteStream, options: OpenConnectionOptions): Promise<Connection> {
  const signal = options.signal;
  if (signal?.aborted === true) {
    stream.destroy();
    return Promise.reject(abortError(signal, 'open'));
  }
  return new Promise<Connection>((resolve, reject) => {
    let conn: FramedConnection | undefined;
    const onAbort = (): void => {
      if (signal !== undefined) conn?.abort(abortError(signal, 'open'));
    };
    const done = {
      resolve: (c: Connection) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(c);
      },
      reject: (e: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      conn = new FramedConnection(stream, options, done);
    } catch (e) {
      stream.destroy();
      done.reject(e);
    }
  });
}

/** How long a failed connection's stream waits for the peer to read its GOAWAY and close. */
const LINGER_MS = 1000;

/** Sends a refusal (GOAWAY with `code`) on a stream that will not become a connection, then ends it. */
export function refuseStream(stream: ByteStream, code: TransportErrorCode, message: string): void {
  const e = new FrameEncoder();
  e.push(FrameType.GOAWAY, 0, 0, encodeCbor([0, code, message]));
  stream.write(e.flush());
  stream.end();
}

