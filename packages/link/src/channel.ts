/**
 * SecureChannel: drives the handshake over a {@link FrameDuplex}, then carries AEAD records.
 */
import { realClock, type Clock as TransportClock } from '@abi/transport';
import { equalBytes, utf8 } from './bytes.js';
import { type CipherId, type CryptoProvider } from './crypto.js';
import { flattenFrame, type Frame, type FrameDuplex } from './duplex.js';
import { AbortedError, InvalidArgumentError, LinkError, PeerRejectedError, WireError, alertFor, toLinkError } from './errors.js';
import { InitiatorHandshake, MAX_HANDSHAKE_MESSAGE, MSG_ALERT, ResponderHandshake, encodeAlert, parseAlert, type HandshakeResult } from './handshake.js';
import { nodeIdFromPublicKey, publicKeyFromNodeId, type Identity } from './identity.js';
import { RECORD_OVERHEAD, RecordReceiver, RecordSender, RecordType } from './record.js';

/** Records from this many plaintext bytes up are sealed into memory reserved from the duplex. */
const RESERVE_MIN = 4096;

/**
 * Time source and timers, injectable for tests: the same contract as @abi/transport's, so a
 * simulated network's virtual clock drives channels and links too.
 */
export type Clock = TransportClock;

/** The system clock (monotonic, unref'd timers): @abi/transport's `realClock`. */
export const systemClock: Clock = realClock;

/** The authenticated peer of a channel. */
export interface PeerIdentity {
  readonly publicKey: Uint8Array;
  readonly nodeId: string;
}

export interface ChannelOptions {
  readonly identity: Identity;
  /** Crypto provider; default: the identity's provider (node:crypto unless chosen otherwise). */
  readonly provider?: CryptoProvider;
  /** Ciphers allowed, in preference order. Default: the provider's list. */
  readonly ciphers?: readonly CipherId[];
  readonly minVersion?: number;
  readonly maxVersion?: number;
  /** Pin the peer: only this node id / public key is accepted. */
  readonly peer?: string | Uint8Array;
  /** Allowlist (node ids or public keys) or a predicate; applied in addition to `peer`. */
  readonly allow?: Iterable<string | Uint8Array> | ((peer: PeerIdentity) => boolean);
  /** The handshake must complete within this many ms. Default 10 000. */
  readonly handshakeTimeoutMs?: number;
  /** Largest message in bytes. Default 16 MiB. */
  readonly maxMessageSize?: number;
  /** 0 (default) = strict order (stream carriers); N = sliding replay window (datagram carriers). */
  readonly replayWindow?: number;
  /** Plaintext bytes after which each direction updates its key. Default 1 GiB. */
  readonly rekeyAfterBytes?: number;
  /** Time after which each direction updates its key. Default 1 hour. */
  readonly rekeyAfterMs?: number;
  /** Messages queued while no onMessage listener is attached; overflow closes with QUEUE_OVERFLOW. Default 1024. */
  readonly maxQueuedMessages?: number;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
  /** Fixed ephemeral X25519 private key: for test vectors only, never in production. */
  readonly ephemeralPrivateKey?: Uint8Array;
}

export interface ChannelStats {
  readonly messagesSent: number;
  readonly messagesReceived: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly rekeysSent: number;
}

type CloseListener = (error: LinkError | undefined) => void;

function makeAuthorize(o: ChannelOptions): ((pub: Uint8Array) => boolean) | undefined {
  const checks: ((pub: Uint8Array) => boolean)[] = [];
  if (o.peer !== undefined) {
    const pinned = typeof o.peer === 'string' ? publicKeyFromNodeId(o.peer) : o.peer;
    checks.push((pub) => equalBytes(pub, pinned));
  }
  const allow = o.allow;
  if (typeof allow === 'function') {
    checks.push((pub) => allow({ publicKey: pub, nodeId: nodeIdFromPublicKey(pub) }));
  } else if (allow !== undefined) {
    const set = new Set<string>();
    for (const a of allow) set.add(typeof a === 'string' ? nodeIdFromPublicKey(publicKeyFromNodeId(a)) : nodeIdFromPublicKey(a));
    checks.push((pub) => set.has(nodeIdFromPublicKey(pub)));
  }
  if (checks.length === 0) return undefined;
  return (pub) => checks.every((c) => c(pub));
}

const CLOSE_NORMAL = 0;

/**
 * An authenticated, encrypted, ordered message channel. Create with {@link SecureChannel.connect}
 * (initiator) or {@link SecureChannel.accept} (responder); both resolve once both peers are
 * authenticated and the responder has confirmed (READY).
 */
export class SecureChannel implements AsyncDisposable {
  readonly #duplex: FrameDuplex;
  readonly #o: ChannelOptions;
  readonly #p: CryptoProvider;
  readonly #clock: Clock;
  readonly initiator: boolean;
  #state: 'handshake' | 'open' | 'closed' = 'handshake';
  #error: LinkError | undefined;
  #result: HandshakeResult | undefined;
  #sender: RecordSender | undefined;
  #receiver: RecordReceiver | undefined;
  #ini: InitiatorHandshake | undefined;
  #resp: ResponderHandshake | undefined;
  #awaitingReady = false;
  #ready: { resolve: () => void; reject: (e: LinkError) => void } | undefined;
  readonly #messageListeners = new Set<(m: Uint8Array) => void>();
  readonly #closeListeners = new Set<CloseListener>();
  #queue: (readonly Uint8Array[])[] = [];
  readonly #partsListeners = new Set<(parts: readonly Uint8Array[]) => void>();
  readonly #pings = new Map<number, { t0: number; resolve: (rtt: number) => void; reject: (e: LinkError) => void; timer: unknown }>();
  #pingId = 0;
  #stats = { messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 };

  private constructor(duplex: FrameDuplex, o: ChannelOptions, initiator: boolean) {
    this.#duplex = duplex;
    this.#o = o;
    this.#p = o.provider ?? o.identity.provider;
    this.#clock = o.clock ?? systemClock;
    this.initiator = initiator;
  }

  /** Runs the initiator side of the handshake over `duplex`. */
  static connect(duplex: FrameDuplex, options: ChannelOptions): Promise<SecureChannel> {
    return new SecureChannel(duplex, options, true).#start();
  }

  /** Runs the responder side of the handshake over `duplex`. */
  static accept(duplex: FrameDuplex, options: ChannelOptions): Promise<SecureChannel> {
    return new SecureChannel(duplex, options, false).#start();
  }

  #start(): Promise<SecureChannel> {
    const o = this.#o;
    const signal = o.signal;
    try {
      signal?.throwIfAborted();
    } catch (e) {
      this.#duplex.close();
      return Promise.reject(new AbortedError(e));
    }
    const p = this.#p;
    const ciphers = o.ciphers ?? p.ciphers;
    if (ciphers.length === 0) return Promise.reject(new InvalidArgumentError('ciphers', 'must not be empty'));
    for (const c of ciphers) if (c !== 'none' && !p.ciphers.includes(c)) return Promise.reject(new LinkError('UNSUPPORTED_CIPHER', `provider ${p.name} has no ${c}`));
    let authorize: ((pub: Uint8Array) => boolean) | undefined;
    try {
      authorize = makeAuthorize(o);
    } catch (e) {
      return Promise.reject(toLinkError(e, 'INVALID_ARGUMENT'));
    }
    const hs = {
      identity: o.identity,
      provider: p,
      ciphers,
      ...(o.minVersion !== undefined ? { minVersion: o.minVersion } : {}),
      ...(o.maxVersion !== undefined ? { maxVersion: o.maxVersion } : {}),
      ...(authorize !== undefined ? { authorize } : {}),
      ...(o.ephemeralPrivateKey !== undefined ? { ephemeralPrivateKey: o.ephemeralPrivateKey } : {}),
    };
    const done = new Promise<SecureChannel>((resolve, reject) => {
      this.#ready = { resolve: () => { resolve(this); }, reject };
    });
    const timeoutMs = o.handshakeTimeoutMs ?? 10_000;
    const timer = this.#clock.setTimeout(() => {
      this.#handshakeFailed(new LinkError('HANDSHAKE_TIMEOUT', `handshake did not complete within ${timeoutMs} ms`), false);
    }, timeoutMs);
    const onAbort = (): void => {
      this.#handshakeFailed(new AbortedError(signal?.reason), false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      this.#clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    this.#duplex.setMaxFrame?.(MAX_HANDSHAKE_MESSAGE);
    this.#duplex.start({
      onFrame: (f) => { this.#onFrame(f); },
      onEnd: (e) => { this.#onEnd(e); },
    });
    try {
      if (this.initiator) {
        this.#ini = new InitiatorHandshake(hs);
        void this.#sendRaw(this.#ini.hello());
      } else {
        this.#resp = new ResponderHandshake(hs);
      }
    } catch (e) {
      this.#handshakeFailed(toLinkError(e, 'INVALID_ARGUMENT'), false);
    }
    return done.finally(cleanup);
  }

  #sendRaw(frame: Uint8Array | readonly Uint8Array[]): void | Promise<void> {
    try {
      return this.#duplex.send(frame);
    } catch (e) {
      this.#fail(toLinkError(e, 'CLOSED'));
    }
  }

  #handshakeFailed(e: LinkError, tellPeer: boolean): void {
    if (this.#state !== 'handshake') return;
    if (tellPeer) {
      try {
        void this.#duplex.send(encodeAlert(alertFor(e.code)));
      } catch {
        // best effort
      }
    }
    this.#fail(e);
  }

  #established(r: HandshakeResult): void {
    const o = this.#o;
    const now = this.#clock.now();
    this.#result = r;
    this.#sender = new RecordSender(this.#p, r.cipher, r.sendKey, r.sendIv, now, {
      ...(o.rekeyAfterBytes !== undefined ? { rekeyAfterBytes: o.rekeyAfterBytes } : {}),
      ...(o.rekeyAfterMs !== undefined ? { rekeyAfterMs: o.rekeyAfterMs } : {}),
    });
    this.#receiver = new RecordReceiver(this.#p, r.cipher, r.recvKey, r.recvIv, {
      replayWindow: o.replayWindow ?? 0,
      maxPlaintext: this.maxMessageSize,
      // frames from the duplex are ours (socket reads, or copies on the memory duplex)
      inPlace: true,
    });
    this.#duplex.setMaxFrame?.(this.maxMessageSize + RECORD_OVERHEAD);
  }

  #onHandshakeFrame(f: Uint8Array): void {
    if (f.length > MAX_HANDSHAKE_MESSAGE) throw new WireError('HANDSHAKE_TOO_LARGE', 'message', 0, `handshake message of ${f.length} bytes exceeds ${MAX_HANDSHAKE_MESSAGE}`);
    if (f[0] === MSG_ALERT) {
      const alert = parseAlert(f) ?? 0;
      this.#fail(new PeerRejectedError(alert));
      return;
    }
    if (this.#resp !== undefined) {
      if (this.#result === undefined && this.#sender === undefined) {
        if (f[0] === 0x01) {
          void this.#sendRaw(this.#resp.onHello(f));
          return;
        }
        const r = this.#resp.onAuth(f);
        this.#established(r);
        this.#state = 'open';
        void this.#sendRaw(this.#requireSender().seal(RecordType.ready, new Uint8Array(0)));
        this.#ready?.resolve();
        return;
      }
    }
    if (this.#ini !== undefined) {
      if (!this.#awaitingReady) {
        const { auth, result } = this.#ini.onReply(f);
        this.#established(result);
        this.#awaitingReady = true;
        void this.#sendRaw(auth);
        return;
      }
      const rec = this.#requireReceiver().open(f);
      if (rec.type !== RecordType.ready) throw new LinkError('HANDSHAKE_UNEXPECTED', `expected READY, got record type 0x${rec.type.toString(16)}`);
      this.#state = 'open';
      this.#ready?.resolve();
      return;
    }
    throw new LinkError('HANDSHAKE_UNEXPECTED', 'unexpected handshake message');
  }

  #onFrame(f: Frame): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'handshake') {
      try {
        this.#onHandshakeFrame(flattenFrame(f));
      } catch (e) {
        const err = toLinkError(e, 'HANDSHAKE_MALFORMED');
        // Alerts go out only before we have keys; after that we cannot tell a peer anything useful.
        this.#handshakeFailed(err, true);
      }
      return;
    }
    let rec;
    try {
      rec = this.#requireReceiver().open(f);
    } catch (e) {
      this.#fail(toLinkError(e, 'RECORD_MALFORMED'), true);
      return;
    }
    switch (rec.type) {
      case RecordType.data:
        this.#stats.messagesReceived++;
        for (const p of rec.parts) this.#stats.bytesReceived += p.length;
        this.#deliver(rec.parts);
        return;
      case RecordType.ping: {
        const pong = rec.payload;
        const r = this.#sendRecord(RecordType.pong, pong, pong.length);
        if (r !== undefined) r.catch(() => undefined);
        return;
      }
      case RecordType.pong: {
        if (rec.payload.length !== 4) return;
        const id = new DataView(rec.payload.buffer, rec.payload.byteOffset, 4).getUint32(0);
        const p = this.#pings.get(id);
        if (p !== undefined) {
          this.#pings.delete(id);
          this.#clock.clearTimeout(p.timer);
          p.resolve(this.#clock.now() - p.t0);
        }
        return;
      }
      case RecordType.rekey:
        return;
      case RecordType.close: {
        const code = rec.payload.length >= 2 ? ((rec.payload[0] ?? 0) << 8) | (rec.payload[1] ?? 0) : CLOSE_NORMAL;
        const reason = new TextDecoder().decode(rec.payload.subarray(2));
        this.#fail(code === CLOSE_NORMAL ? undefined : new LinkError('CLOSED', `peer closed the channel with code ${code}: ${reason}`));
        return;
      }
      case RecordType.ready:
        this.#fail(new LinkError('HANDSHAKE_UNEXPECTED', 'READY after the handshake'), true);
        return;
    }
  }

  #onEnd(e?: LinkError): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'handshake') {
      const err = e?.code === 'RECORD_TOO_LARGE' ? new WireError('HANDSHAKE_TOO_LARGE', 'message', 0, e.message) : (e ?? new LinkError('TRUNCATED', 'carrier ended during the handshake'));
      this.#fail(err);
      return;
    }
    this.#fail(e ?? new LinkError('TRUNCATED', 'carrier ended without an authenticated close (truncation)'));
  }

  #deliver(parts: readonly Uint8Array[]): void {
    if (this.#messageListeners.size === 0 && this.#partsListeners.size === 0) {
      if (this.#queue.length >= (this.#o.maxQueuedMessages ?? 1024)) {
        this.#fail(new LinkError('QUEUE_OVERFLOW', 'receive queue full and no onMessage listener'), true);
        return;
      }
      this.#queue.push(parts);
      return;
    }
    for (const l of this.#partsListeners) l(parts);
    if (this.#messageListeners.size > 0) {
      const m = flattenFrame(parts);
      for (const l of this.#messageListeners) l(m);
    }
  }

  #requireSender(): RecordSender {
    if (this.#sender === undefined) throw new LinkError('CLOSED', 'channel has no keys');
    return this.#sender;
  }
  #requireReceiver(): RecordReceiver {
    if (this.#receiver === undefined) throw new LinkError('HANDSHAKE_UNEXPECTED', 'record before keys');
    return this.#receiver;
  }

  /** Seals and sends one record of `len` plaintext bytes (`payload` whole or in pieces). */
  #sendRecord(type: RecordType, payload: Uint8Array | readonly Uint8Array[], len: number): void | Promise<void> {
    const s = this.#requireSender();
    const now = this.#clock.now();
    if (type === RecordType.data && s.needsRekey(now)) {
      const r = this.#sendRaw(s.rekey(now));
      if (r !== undefined) r.catch(() => undefined);
    }
    if (s.canSealInto && this.#duplex.reserve !== undefined) {
      // large records are sealed straight into send memory the duplex recycles (no allocation);
      // small ones are cheaper to allocate than to track
      const out = len >= RESERVE_MIN ? this.#duplex.reserve(s.sealedLength(len)) : undefined;
      if (out !== undefined) return this.#sendRaw(s.sealInto(type, payload, out));
    }
    return this.#sendRaw(s.sealv(type, payload));
  }

  /**
   * Closes the channel with an error. When `tellPeer`, a CLOSE record carrying the error code is
   * sent first (our sending direction is still intact even if the receiving one was attacked).
   */
  #fail(e: LinkError | undefined, tellPeer = false): void {
    if (this.#state === 'closed') return;
    const wasHandshake = this.#state === 'handshake';
    if (tellPeer && this.#sender !== undefined && e !== undefined) {
      try {
        const reason = utf8(e.code);
        const payload = new Uint8Array(2 + reason.length);
        payload[0] = 0;
        payload[1] = 1;
        payload.set(reason, 2);
        void this.#duplex.send(this.#sender.seal(RecordType.close, payload));
      } catch {
        // best effort
      }
    }
    this.#state = 'closed';
    this.#error = e;
    this.#duplex.close();
    for (const p of this.#pings.values()) {
      this.#clock.clearTimeout(p.timer);
      p.reject(e ?? new LinkError('CLOSED', 'channel closed'));
    }
    this.#pings.clear();
    if (wasHandshake) this.#ready?.reject(e ?? new LinkError('CLOSED', 'closed during the handshake'));
    for (const l of [...this.#closeListeners]) l(e);
  }

  // ------------------------------------------------------------------------------------------
  // Public surface

  get maxMessageSize(): number {
    return this.#o.maxMessageSize ?? 16 * 1024 * 1024;
  }

  /** The authenticated peer. */
  get peer(): PeerIdentity {
    const r = this.#result;
    if (r === undefined) throw new LinkError('CLOSED', 'no peer before the handshake');
    return { publicKey: r.peerPublicKey, nodeId: nodeIdFromPublicKey(r.peerPublicKey) };
  }
  get cipher(): CipherId {
    return this.#requireResult().cipher;
  }
  get version(): number {
    return this.#requireResult().version;
  }
  /** 32 bytes equal on both sides and unique to this session (for channel binding). */
  get sessionId(): Uint8Array {
    return this.#requireResult().sessionId;
  }
  #requireResult(): HandshakeResult {
    if (this.#result === undefined) throw new LinkError('CLOSED', 'handshake not complete');
    return this.#result;
  }
  get state(): 'handshake' | 'open' | 'closed' {
    return this.#state;
  }
  /** Why the channel closed (undefined while open, or after a clean authenticated close). */
  get closeError(): LinkError | undefined {
    return this.#error;
  }
  get stats(): ChannelStats {
    return { ...this.#stats, rekeysSent: this.#sender?.rekeys ?? 0 };
  }

  /**
   * Sends one message. Resolves when the carrier accepted it (a pending promise is back-pressure).
   * Throws CLOSED when the channel is closed, RECORD_TOO_LARGE over `maxMessageSize`.
   */
  send(message: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(new AbortedError(e));
    }
    try {
      this.#admit(message.length);
    } catch (e) {
      return Promise.reject(toLinkError(e, 'CLOSED'));
    }
    const r = this.#sendRecord(RecordType.data, message, message.length);
    if (r === undefined) return Promise.resolve();
    if (signal === undefined) return r;
    // The record is already queued; the signal only stops waiting for back-pressure to clear.
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(new AbortedError(signal.reason)); };
      signal.addEventListener('abort', onAbort, { once: true });
      r.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort); });
    });
  }

  /** Like {@link send} but returns undefined when no back-pressure applies (no promise allocated). */
  trySend(message: Uint8Array): void | Promise<void> {
    this.#admit(message.length);
    return this.#sendRecord(RecordType.data, message, message.length);
  }

  /**
   * Sends one message given as pieces (concatenated by the cipher, without a copy on the
   * node:crypto ciphers). Returns a promise only under back-pressure.
   */
  sendParts(parts: readonly Uint8Array[]): void | Promise<void> {
    let n = 0;
    for (const p of parts) n += p.length;
    this.#admit(n);
    return this.#sendRecord(RecordType.data, parts, n);
  }

  /** What every outgoing message passes: an open channel and the size limit; then it is counted. */
  #admit(n: number): void {
    if (this.#state !== 'open') throw this.#error ?? new LinkError('CLOSED', 'channel is not open');
    if (n > this.maxMessageSize) throw new WireError('RECORD_TOO_LARGE', 'message', 0, `message of ${n} bytes exceeds ${this.maxMessageSize}`);
    this.#stats.messagesSent++;
    this.#stats.bytesSent += n;
  }

  /** Closes at once without a close record (the peer sees TRUNCATED); `error` becomes {@link closeError}. */
  destroy(error?: LinkError): void {
    this.#fail(error ?? new LinkError('CLOSED', 'channel destroyed'));
  }

  /** Receives messages; queued messages are delivered to the first listener. */
  onMessage(listener: (message: Uint8Array) => void): Disposable {
    this.#messageListeners.add(listener);
    if (this.#queue.length > 0) {
      const q = this.#queue;
      this.#queue = [];
      for (const m of q) listener(flattenFrame(m));
    }
    return { [Symbol.dispose]: () => { this.#messageListeners.delete(listener); } };
  }

  /**
   * The received messages as an async iterable (attach once). Holds at most `maxQueued` unread
   * messages (default `maxQueuedMessages`, 1024); beyond that the channel closes with
   * QUEUE_OVERFLOW. Ends after a clean close; throws the close error otherwise, or ABORTED when
   * `signal` fires.
   */
  messages(options: { signal?: AbortSignal; maxQueued?: number } = {}): AsyncIterable<Uint8Array> {
    const { signal } = options;
    const max = options.maxQueued ?? this.#o.maxQueuedMessages ?? 1024;
    const queue: Uint8Array[] = [];
    let done = false;
    let failure: LinkError | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const sub = this.onMessage((m) => {
      if (queue.length >= max) {
        this.#fail(new LinkError('QUEUE_OVERFLOW', `more than ${max} unread messages`), true);
        return;
      }
      queue.push(m);
      notify();
    });
    const closeSub = this.onClose((e) => {
      done = true;
      failure = e;
      notify();
    });
    const onAbort = (): void => {
      done = true;
      failure ??= new AbortedError(signal?.reason);
      notify();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      sub[Symbol.dispose]();
      closeSub[Symbol.dispose]();
      signal?.removeEventListener('abort', onAbort);
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Uint8Array>> => {
          for (;;) {
            const m = queue.shift();
            if (m !== undefined) return { value: m, done: false };
            if (done || signal?.aborted === true) {
              cleanup();
              if (signal?.aborted === true) throw new AbortedError(signal.reason);
              if (failure !== undefined) throw failure;
              return { value: undefined, done: true };
            }
            await new Promise<void>((r) => { wake = r; });
          }
        },
        return: (): Promise<IteratorResult<Uint8Array>> => {
          cleanup();
          return Promise.resolve({ value: undefined, done: true });
        },
      }),
    };
  }

  /**
   * Like {@link onMessage}, but each message comes as the pieces that concatenate to it (no copy
   * when a large record spanned several reads). For byte-stream consumers.
   */
  onMessageParts(listener: (parts: readonly Uint8Array[]) => void): Disposable {
    this.#partsListeners.add(listener);
    if (this.#queue.length > 0) {
      const q = this.#queue;
      this.#queue = [];
      for (const m of q) listener(m);
    }
    return { [Symbol.dispose]: () => { this.#partsListeners.delete(listener); } };
  }

  /** Called once when the channel closes: `undefined` for a clean authenticated close, else the error. */
  onClose(listener: CloseListener): Disposable {
    if (this.#state === 'closed') {
      queueMicrotask(() => { listener(this.#error); });
      return { [Symbol.dispose]: () => undefined };
    }
    this.#closeListeners.add(listener);
    return { [Symbol.dispose]: () => { this.#closeListeners.delete(listener); } };
  }

  /** Round trip through the peer's record layer; resolves with the RTT in ms (clock units). */
  ping(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<number> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(new AbortedError(e));
    }
    if (this.#state !== 'open') return Promise.reject(this.#error ?? new LinkError('CLOSED', 'channel is not open'));
    const id = (this.#pingId = (this.#pingId + 1) >>> 0);
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, id);
    return new Promise<number>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 5000;
      const onAbort = (): void => {
        const p = this.#pings.get(id);
        if (p !== undefined) {
          this.#pings.delete(id);
          this.#clock.clearTimeout(p.timer);
        }
        reject(new AbortedError(signal?.reason));
      };
      const timer = this.#clock.setTimeout(() => {
        this.#pings.delete(id);
        signal?.removeEventListener('abort', onAbort);
        reject(new LinkError('PING_TIMEOUT', `no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pings.set(id, {
        t0: this.#clock.now(),
        resolve: (rtt) => { signal?.removeEventListener('abort', onAbort); resolve(rtt); },
        reject: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
        timer,
      });
      const r = this.#sendRecord(RecordType.ping, payload, payload.length);
      if (r !== undefined) r.catch(() => undefined);
    });
  }

  /** Sends an authenticated CLOSE record and closes the carrier. Idempotent. */
  close(): Promise<void> {
    if (this.#state === 'open' && this.#sender !== undefined) {
      try {
        const r = this.#duplex.send(this.#sender.seal(RecordType.close, Uint8Array.of(0, 0)));
        if (r !== undefined) r.catch(() => undefined);
      } catch {
        // carrier already gone
      }
    }
    if (this.#state === 'handshake') this.#fail(new LinkError('CLOSED', 'closed during the handshake'));
    else this.#fail(undefined);
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

