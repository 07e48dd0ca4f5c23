/**
 * LinkManager / Link: long-lived links to peers over a {@link SecureTransport}, with states,
 * heartbeats, RTT, and reconnect with back-off. Time and randomness are injected (clock, random).
 */
import { isTransportError, type Connection, type Transport } from '@abi/transport';
import { systemClock, type Clock, type PeerIdentity } from './channel.js';
import { AbortedError, InvalidArgumentError, LinkError, toLinkError } from './errors.js';
import { dialContext, SecureTransport } from './secure-transport.js';

/** `connecting` (dialing) → `handshaking` (secure handshake) → `up` ⇄ `degraded` → `down` (→ `connecting` again). */
export type LinkState = 'connecting' | 'handshaking' | 'up' | 'degraded' | 'down';

export interface LinkStateChange {
  readonly link: Link;
  readonly from: LinkState;
  readonly to: LinkState;
  /** Why the link went down/degraded, if known. */
  readonly reason?: LinkError;
}

export interface BackoffOptions {
  /** First delay in ms. Default 100. */
  readonly initialMs?: number;
  /** Largest delay in ms. Default 30 000. */
  readonly maxMs?: number;
  /** Growth per attempt. Default 2. */
  readonly factor?: number;
  /** Random spread: the delay is multiplied by a factor in [1 - jitter, 1]. Default 0.2. */
  readonly jitter?: number;
}

/** The reconnect delay before attempt `attempt` (1-based); `random` in [0, 1). Pure. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: number): number {
  const initial = o.initialMs ?? 100;
  const max = o.maxMs ?? 30_000;
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.2;
  const raw = Math.min(max, initial * factor ** Math.max(0, attempt - 1));
  return Math.max(0, raw * (1 - jitter * random));
}

export interface LinkManagerOptions {
  readonly transport: SecureTransport;
  /** Clock for heartbeats, timeouts and back-off. Default: the system clock. */
  readonly clock?: Clock;
  /** Randomness for back-off jitter, in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Interval between heartbeats in ms. Default 1000. */
  readonly heartbeatMs?: number;
  /** A heartbeat unanswered after this many ms is a miss. Default 1000. */
  readonly heartbeatTimeoutMs?: number;
  /** Misses in a row that make the link `degraded`. Default 1. */
  readonly missesToDegraded?: number;
  /** Misses in a row that take the link `down` (and reconnect). Default 3. */
  readonly missesToDown?: number;
  /** An RTT above this many ms marks the link `degraded`. Default: no RTT threshold. */
  readonly degradedRttMs?: number;
  /** Dial (connect + handshake) timeout in ms. Default 10 000. */
  readonly dialTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
}

/** The RPC method heartbeats call; the manager registers it on its transport. */
export const HEARTBEAT_METHOD = 'abi.link.heartbeat';

export interface LinkOptions {
  /** Pin the peer's node id (or public key). Strongly recommended. */
  readonly peer?: string | Uint8Array;
}

/**
 * One managed link. Reconnects by itself until closed. Use {@link Link.connection} while it is up,
 * or {@link Link.whenUp} to wait for it.
 */
export class Link implements AsyncDisposable {
  readonly address: string;
  readonly #m: LinkManager;
  readonly #o: LinkOptions;
  #state: LinkState = 'down';
  #conn: Connection | undefined;
  #peer: PeerIdentity | undefined;
  #rtt: number | undefined;
  #srtt: number | undefined;
  #misses = 0;
  #attempt = 0;
  #closed = false;
  #timer: unknown;
  #dialAbort: AbortController | undefined;
  #hbAbort: AbortController | undefined;
  readonly #stateListeners = new Set<(e: LinkStateChange) => void>();
  readonly #rttListeners = new Set<(rttMs: number) => void>();
  #upWaiters = new Set<{ resolve: (c: Connection) => void; reject: (e: Error) => void }>();
  /** Counters. */
  readonly stats = { connects: 0, failures: 0, heartbeats: 0, misses: 0 };

  /** @internal */
  constructor(manager: LinkManager, address: string, options: LinkOptions) {
    this.#m = manager;
    this.address = address;
    this.#o = options;
  }

  get state(): LinkState {
    return this.#state;
  }
  /** Last measured round trip in ms. */
  get rtt(): number | undefined {
    return this.#rtt;
  }
  /** Smoothed RTT (EWMA, α = 1/8) in ms. */
  get smoothedRtt(): number | undefined {
    return this.#srtt;
  }
  /** The authenticated peer (known once the link has been up). */
  get peer(): PeerIdentity | undefined {
    return this.#peer;
  }
  /** The connection while `up` or `degraded`. */
  get connection(): Connection | undefined {
    return this.#state === 'up' || this.#state === 'degraded' ? this.#conn : undefined;
  }
  get closed(): boolean {
    return this.#closed;
  }

  onStateChange(listener: (e: LinkStateChange) => void): Disposable {
    this.#stateListeners.add(listener);
    return { [Symbol.dispose]: () => { this.#stateListeners.delete(listener); } };
  }

  onRtt(listener: (rttMs: number) => void): Disposable {
    this.#rttListeners.add(listener);
    return { [Symbol.dispose]: () => { this.#rttListeners.delete(listener); } };
  }

  /** Resolves with the connection once the link is up (or degraded); rejects on close or abort. */
  whenUp(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(new AbortedError(e));
    }
    if (this.#closed) return Promise.reject(new LinkError('CLOSED', 'link closed'));
    const c = this.connection;
    if (c !== undefined) return Promise.resolve(c);
    return new Promise<Connection>((resolve, reject) => {
      const w = {
        resolve: (conn: Connection) => { signal?.removeEventListener('abort', onAbort); resolve(conn); },
        reject: (e: Error) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      };
      const onAbort = (): void => {
        this.#upWaiters.delete(w);
        reject(new AbortedError(signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#upWaiters.add(w);
    });
  }

  #set(to: LinkState, reason?: LinkError): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#m.emit({ link: this, from, to, ...(reason !== undefined ? { reason } : {}) });
    for (const l of [...this.#stateListeners]) l({ link: this, from, to, ...(reason !== undefined ? { reason } : {}) });
    if ((to === 'up' || to === 'degraded') && this.#conn !== undefined) {
      const conn = this.#conn;
      const ws = this.#upWaiters;
      this.#upWaiters = new Set();
      for (const w of ws) w.resolve(conn);
    }
  }

  /** @internal starts (or restarts) the connect loop. */
  start(): void {
    if (this.#closed) return;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    const m = this.#m;
    this.#set('connecting');
    this.#attempt++;
    const ac = new AbortController();
    this.#dialAbort = ac;
    const clock = m.clock;
    const timeoutMs = m.options.dialTimeoutMs ?? 10_000;
    const timer = clock.setTimeout(() => { ac.abort(new LinkError('HANDSHAKE_TIMEOUT', `dial ${this.address} timed out`)); }, timeoutMs);
    let conn: Connection;
    try {
      conn = await dialContext.run(
        { ...(this.#o.peer !== undefined ? { peer: this.#o.peer } : {}), onHandshake: () => { this.#set('handshaking'); } },
        () => m.transport.dial(this.address, { signal: ac.signal, timeoutMs }),
      );
    } catch (e) {
      clock.clearTimeout(timer);
      this.#dialAbort = undefined;
      if (this.#closed) return;
      this.stats.failures++;
      const cause = (e as { cause?: unknown }).cause;
      this.#down(toLinkError(cause ?? e, 'LINK_DOWN'));
      return;
    }
    clock.clearTimeout(timer);
    this.#dialAbort = undefined;
    if (this.#closed) {
      conn.abort();
      return;
    }
    this.#conn = conn;
    this.#peer = SecureTransport.peerOf(conn);
    this.#attempt = 0;
    this.#misses = 0;
    this.stats.connects++;
    void conn.closed.then((reason) => {
      if (this.#conn !== conn) return;
      this.#conn = undefined;
      if (this.#closed) return;
      this.#down(reason === undefined ? new LinkError('LINK_DOWN', 'connection closed by the peer') : new LinkError('LINK_DOWN', `connection lost: ${reason.code}`, { cause: reason }));
    });
    this.#set('up');
    this.#scheduleHeartbeat();
  }

  #down(reason: LinkError): void {
    this.#clearTimer();
    this.#hbAbort?.abort();
    const c = this.#conn;
    this.#conn = undefined;
    if (c !== undefined) c.abort();
    this.#set('down', reason);
    if (this.#closed) return;
    const m = this.#m;
    const delay = backoffDelay(Math.max(1, this.#attempt), m.options.backoff ?? {}, m.random());
    this.#timer = m.clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) void this.#connect();
    }, delay);
  }

  #isCurrent(conn: Connection): boolean {
    return this.#conn === conn && !this.#closed;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#m.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #scheduleHeartbeat(): void {
    this.#clearTimer();
    this.#timer = this.#m.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#heartbeat();
    }, this.#m.options.heartbeatMs ?? 1000);
  }

  async #heartbeat(): Promise<void> {
    const conn = this.#conn;
    if (conn === undefined || this.#closed) return;
    const m = this.#m;
    const clock = m.clock;
    const ac = new AbortController();
    this.#hbAbort = ac;
    const timeoutMs = m.options.heartbeatTimeoutMs ?? 1000;
    const t0 = clock.now();
    const timer = clock.setTimeout(() => {
      ac.abort(new LinkError('PING_TIMEOUT', 'heartbeat timed out'));
    }, timeoutMs);
    this.stats.heartbeats++;
    // Any answer is a round trip, even an error reply from a peer that has no heartbeat handler.
    const ok = await conn.request(HEARTBEAT_METHOD, undefined, { signal: ac.signal }).then(
      () => true,
      (e: unknown) => isTransportError(e) && e.code === 'REMOTE_ERROR',
    );
    clock.clearTimeout(timer);
    this.#hbAbort = undefined;
    if (!this.#isCurrent(conn)) return;
    if (ok && !ac.signal.aborted) {
      const rtt = clock.now() - t0;
      this.#rtt = rtt;
      this.#srtt = this.#srtt === undefined ? rtt : this.#srtt + (rtt - this.#srtt) / 8;
      for (const l of [...this.#rttListeners]) l(rtt);
      this.#misses = 0;
      const slow = m.options.degradedRttMs !== undefined && rtt > m.options.degradedRttMs;
      this.#set(slow ? 'degraded' : 'up', slow ? new LinkError('LINK_DOWN', `rtt ${rtt.toFixed(1)} ms above ${m.options.degradedRttMs} ms`) : undefined);
    } else {
      this.#misses++;
      this.stats.misses++;
      if (this.#misses >= (m.options.missesToDown ?? 3)) {
        this.#down(new LinkError('PING_TIMEOUT', `${this.#misses} heartbeats missed`));
        return;
      }
      if (this.#misses >= (m.options.missesToDegraded ?? 1)) this.#set('degraded', new LinkError('PING_TIMEOUT', `${this.#misses} heartbeat(s) missed`));
    }
    this.#scheduleHeartbeat();
  }

  /** Closes the link for good (no reconnect). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    this.#dialAbort?.abort(new LinkError('CLOSED', 'link closed'));
    this.#hbAbort?.abort();
    const c = this.#conn;
    this.#conn = undefined;
    const err = new LinkError('CLOSED', 'link closed');
    for (const w of this.#upWaiters) w.reject(err);
    this.#upWaiters.clear();
    this.#set('down', err);
    this.#m.forget(this);
    if (c !== undefined) await c.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Owns the links of one transport. */
export class LinkManager implements AsyncDisposable {
  readonly transport: SecureTransport;
  readonly options: LinkManagerOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly #links = new Map<string, Link>();
  readonly #listeners = new Set<(e: LinkStateChange) => void>();
  readonly #handler: Disposable;

  constructor(options: LinkManagerOptions) {
    for (const k of ['heartbeatMs', 'heartbeatTimeoutMs', 'dialTimeoutMs'] as const) {
      const v = options[k];
      if (v !== undefined && !(v > 0)) throw new InvalidArgumentError(k, 'must be > 0');
    }
    this.transport = options.transport;
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.#handler = registerHeartbeat(options.transport);
  }

  /** The link to `address` (created and started on first use; one per address). */
  link(address: string, options: LinkOptions = {}): Link {
    let l = this.#links.get(address);
    if (l === undefined) {
      l = new Link(this, address, options);
      this.#links.set(address, l);
      l.start();
    }
    return l;
  }

  get links(): readonly Link[] {
    return [...this.#links.values()];
  }

  /** Every state change of every link. */
  onLinkState(listener: (e: LinkStateChange) => void): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => { this.#listeners.delete(listener); } };
  }

  /** @internal */
  emit(e: LinkStateChange): void {
    for (const l of [...this.#listeners]) l(e);
  }

  /** @internal */
  forget(link: Link): void {
    if (this.#links.get(link.address) === link) this.#links.delete(link.address);
  }

  /** Closes every link (the transport stays open: it belongs to the caller). */
  async close(): Promise<void> {
    await Promise.all([...this.#links.values()].map((l) => l.close()));
    this.#handler[Symbol.dispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Registers the heartbeat handler on a transport (LinkManager does this for its own). */
export function registerHeartbeat(transport: Transport): Disposable {
  return transport.handle(HEARTBEAT_METHOD, () => null);
}
