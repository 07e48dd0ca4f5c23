import { realClock } from './connection.js';
import { abortError, TransportError } from './errors.js';
import { StreamTransport } from './stream-transport.js';
import type { StreamTransportInit } from './stream-transport.js';
import type { AbortOptions, ByteStream, Clock, DialOptions, StreamListener, StreamNetwork } from './types.js';

/**
 * A clock whose time only moves when the test says so. Timers fire in (time, creation) order, so
 * a run is a pure function of the inputs and the seed.
 */
export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  #heap: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#push(t);
    return t;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'object' && handle !== null && 'cancelled' in handle) (handle as { cancelled: boolean }).cancelled = true;
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.#heap.filter((t) => !t.cancelled).length;
  }

  /** Time of the next live timer, or undefined. */
  nextAt(): number | undefined {
    this.#prune();
    return this.#heap[0]?.at;
  }

  /** Fires the next timer if it is due at or before `limit`; returns false if none. */
  step(limit = Infinity): boolean {
    this.#prune();
    const t = this.#heap[0];
    if (t === undefined || t.at > limit) return false;
    this.#pop();
    this.#now = Math.max(this.#now, t.at);
    t.fn();
    return true;
  }

  /** Moves time forward by `ms` (synchronously firing due timers, without yielding to promises). */
  advance(ms: number): void {
    const end = this.#now + ms;
    while (this.step(end));
    this.#now = end;
  }

  #prune(): void {
    while (this.#heap[0]?.cancelled === true) this.#pop();
  }

  #less(a: number, b: number): boolean {
    const x = this.#heap[a];
    const y = this.#heap[b];
    if (x === undefined || y === undefined) return false;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  #swap(a: number, b: number): void {
    const h = this.#heap;
    const t = h[a];
    const u = h[b];
    if (t === undefined || u === undefined) return;
    h[a] = u;
    h[b] = t;
  }

  #push(t: { at: number; seq: number; fn: () => void; cancelled: boolean }): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(l, m)) m = l;
      if (r < h.length && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives the same fault schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Faults applied to packets (one packet = one `write` = whole frames) on a link. */
export interface LinkFaults {
  /** Probability of dropping a packet. @default 0 */
  readonly drop?: number;
  /** Probability of delivering a packet twice. @default 0 */
  readonly duplicate?: number;
  /** Probability of delaying a packet past later ones. @default 0 */
  readonly reorder?: number;
  /** Delivery delay in ms: a fixed value or a `[min, max]` range. @default 0 */
  readonly delayMs?: number | readonly [number, number];
}

export interface MemoryNetworkInit {
  /** Seed of the fault injector. @default 1 */
  readonly seed?: number;
  /** Clock: `'virtual'` (a new {@link VirtualClock}, tests drive it with `run`/`runFor`), `'real'`, or a clock. @default 'real' */
  readonly clock?: 'virtual' | 'real' | Clock;
  /** Bytes in flight per direction before `write` returns false (back-pressure). @default 1 MiB */
  readonly highWaterMark?: number;
}

/** Counters of the simulated network. */
export interface NetworkStats {
  packets: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

interface Side {
  name: string;
  peer: Side | undefined;
  dataListener: ((chunk: Uint8Array) => void) | undefined;
  drainListener: (() => void) | undefined;
  closeListener: ((err?: Error) => void) | undefined;
  closed: boolean;
  ending: boolean;
  paused: boolean;
  /** Packets delivered while paused. */
  held: Uint8Array[];
  /** Bytes this side sent that the peer has not consumed. */
  inFlight: number;
  needDrain: boolean;
  /** Time before which an in-order packet may not be delivered (FIFO). */
  lastAt: number;
  stream: ByteStream;
}

/**
 * A simulated network of named nodes, in process: reliable ordered streams by default, with a
 * seeded fault injector (drop, delay, duplicate, reorder), partitions (both ways or one way) and
 * heal. With a virtual clock, runs are deterministic and replayable from the seed.
 */
export class MemoryNetwork {
  readonly clock: Clock;
  readonly seed: number;
  readonly stats: NetworkStats = { packets: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0 };
  /** Event log (bounded to the last 10 000 entries) for replay checks and debugging. */
  readonly trace: string[] = [];
  readonly #random: () => number;
  readonly #hwm: number;
  readonly #listeners = new Map<string, (stream: ByteStream) => void>();
  readonly #faults = new Map<string, LinkFaults>();
  readonly #blocked = new Set<string>();
  #defaultFaults: LinkFaults = {};
  #anon = 0;

  constructor(init: MemoryNetworkInit = {}) {
    this.seed = init.seed ?? 1;
    this.#random = seededRandom(this.seed);
    const c = init.clock ?? 'real';
    this.clock = c === 'virtual' ? new VirtualClock() : c === 'real' ? realClock : c;
    this.#hwm = init.highWaterMark ?? 1024 * 1024;
  }

  #log(s: string): void {
    if (this.trace.length >= 10_000) this.trace.shift();
    this.trace.push(`${Math.round(this.clock.now() * 1000) / 1000} ${s}`);
  }

  /** A view of the network as seen from node `name` (the source address of its dials). */
  node(name?: string): StreamNetwork {
    const self = name ?? `anon-${++this.#anon}`;
    return {
      clock: this.clock,
      listen: (address, onStream, options) => this.#listen(address, onStream, options),
      dial: (address, options) => this.#dial(self, address, options),
    };
  }

  /** A transport for node `name` on this network. */
  transport(name?: string, init?: StreamTransportInit): MemoryTransport {
    return new MemoryTransport(this, { ...init, ...(name === undefined ? {} : { name }) });
  }

  /** Sets faults for all links (no argument) or for one direction `from → to`. */
  setFaults(faults: LinkFaults, link?: { readonly from: string; readonly to: string }): void {
    if (link === undefined) this.#defaultFaults = faults;
    else this.#faults.set(`${link.from}\u0000${link.to}`, faults);
  }

  /** Cuts every link between the nodes of `a` and of `b`, both directions. */
  partition(a: string | readonly string[], b: string | readonly string[]): void {
    for (const x of typeof a === 'string' ? [a] : a) {
      for (const y of typeof b === 'string' ? [b] : b) {
        this.#blocked.add(`${x}\u0000${y}`);
        this.#blocked.add(`${y}\u0000${x}`);
      }
    }
    this.#log(`partition ${String(a)} | ${String(b)}`);
  }

  /** Cuts only `from → to`: packets from `from` are lost, the reverse still flows. */
  partitionOneWay(from: string, to: string): void {
    this.#blocked.add(`${from}\u0000${to}`);
    this.#log(`partition-one-way ${from} -> ${to}`);
  }

  /** Removes every partition and every fault. */
  heal(): void {
    this.#blocked.clear();
    this.#faults.clear();
    this.#defaultFaults = {};
    this.#log('heal');
  }

  #isBlocked(from: string, to: string): boolean {
    return this.#blocked.has(`${from}\u0000${to}`);
  }

  /**
   * Virtual clock only: fires timers one at a time, yielding to promise jobs between them, until
   * `promise` settles (or `maxMs` of virtual time passed). Returns the promise's result.
   */
  async run<T>(promise: Promise<T>, options: { readonly maxMs?: number } = {}): Promise<T> {
    const clock = this.#virtual();
    const state = { settled: false };
    promise.then(
      () => (state.settled = true),
      () => (state.settled = true),
    );
    const limit = clock.now() + (options.maxMs ?? 600_000);
    await yieldTurn();
    const isSettled = (): boolean => state.settled;
    while (!isSettled()) {
      if (!clock.step(limit)) {
        await yieldTurn();
        if (isSettled()) break;
        throw new TransportError('DEADLINE_EXCEEDED', `simulation: promise did not settle within ${options.maxMs ?? 600_000} ms of virtual time (seed ${this.seed})`);
      }
      await yieldTurn();
    }
    return promise;
  }

  /** Virtual clock only: runs every timer due in the next `ms` of virtual time, yielding between them. */
  async runFor(ms: number): Promise<void> {
    const clock = this.#virtual();
    const end = clock.now() + ms;
    await yieldTurn();
    while (clock.step(end)) await yieldTurn();
    clock.advance(Math.max(0, end - clock.now()));
    await yieldTurn();
  }

  #virtual(): VirtualClock {
    if (!(this.clock instanceof VirtualClock)) throw new TransportError('INVALID_ARGUMENT', 'run/runFor need a virtual clock');
    return this.clock;
  }

  #schedule(fn: () => void, ms: number): void {
    // Real time: packets in flight keep the process alive (ref'd timers), like sockets do.
    if (this.clock === realClock) {
      if (ms <= 0) setImmediate(fn);
      else setTimeout(fn, ms);
    } else this.clock.setTimeout(fn, ms);
  }

  #listen(address: string, onStream: (stream: ByteStream) => void, options?: AbortOptions): Promise<StreamListener> {
    options?.signal?.throwIfAborted();
    if (this.#listeners.has(address)) return Promise.reject(new TransportError('INVALID_ADDRESS', `address in use: ${address}`));
    this.#listeners.set(address, onStream);
    return Promise.resolve({
      address,
      close: () => {
        if (this.#listeners.get(address) === onStream) this.#listeners.delete(address);
        return Promise.resolve();
      },
    });
  }

  #dial(from: string, to: string, options?: DialOptions): Promise<ByteStream> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortError(signal, `dial ${to}`));
    return new Promise<ByteStream>((resolve, reject) => {
      const onAbort = (): void => {
        if (signal !== undefined) reject(abortError(signal, `dial ${to}`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const delay = this.#delay(this.#faultsFor(from, to));
      this.#log(`dial ${from} -> ${to}`);
      // A partitioned SYN is lost: the dial hangs until its signal (timeout) fires.
      if (this.#isBlocked(from, to) || this.#isBlocked(to, from)) return;
      this.#schedule(() => {
        if (signal?.aborted === true) return;
        signal?.removeEventListener('abort', onAbort);
        const onStream = this.#listeners.get(to);
        if (onStream === undefined) {
          reject(new TransportError('CONNECTION_REFUSED', `nothing listens on ${to}`));
          return;
        }
        const [a, b] = this.#pair(from, to);
        onStream(b);
        resolve(a);
      }, delay);
    });
  }

  #faultsFor(from: string, to: string): LinkFaults {
    return this.#faults.get(`${from}\u0000${to}`) ?? this.#defaultFaults;
  }

  #delay(f: LinkFaults): number {
    const d = f.delayMs;
    if (d === undefined) return 0;
    if (typeof d === 'number') return d;
    return d[0] + this.#random() * (d[1] - d[0]);
  }

  #pair(from: string, to: string): [ByteStream, ByteStream] {
    const a = this.#side(from, to);
    const b = this.#side(to, from);
    a.peer = b;
    b.peer = a;
    return [a.stream, b.stream];
  }

  #side(local: string, remote: string): Side {
    const side: Side = {
      name: local,
      peer: undefined,
      dataListener: undefined,
      drainListener: undefined,
      closeListener: undefined,
      closed: false,
      ending: false,
      paused: false,
      held: [],
      inFlight: 0,
      needDrain: false,
      lastAt: 0,
      stream: undefined as unknown as ByteStream,
    };
    const send = (s: Side, packet: Uint8Array): void => {
      this.#send(s, packet);
    };
    const control = (s: Side, kind: 'fin' | 'rst'): void => {
      this.#control(s, kind);
    };
    const closeSide = (s: Side, error?: Error): void => {
      this.#closeSide(s, error);
    };
    const consumed = (s: Side, n: number): void => {
      this.#consumed(s, n);
    };
    const hwm = this.#hwm;
    side.stream = {
      localAddress: local,
      remoteAddress: remote,
      write(chunks) {
        if (side.closed || side.ending) return false;
        let n = 0;
        for (const c of chunks) n += c.length;
        const packet = new Uint8Array(n);
        let off = 0;
        for (const c of chunks) {
          packet.set(c, off);
          off += c.length;
        }
        send(side, packet);
        if (side.inFlight > hwm) side.needDrain = true;
        return !side.needDrain;
      },
      onData(listener) {
        side.dataListener = listener;
        return { [Symbol.dispose]: () => (side.dataListener = undefined) };
      },
      onDrain(listener) {
        side.drainListener = listener;
        return { [Symbol.dispose]: () => (side.drainListener = undefined) };
      },
      onClose(listener) {
        side.closeListener = listener;
        return { [Symbol.dispose]: () => (side.closeListener = undefined) };
      },
      end() {
        if (side.closed || side.ending) return;
        side.ending = true;
        control(side, 'fin');
      },
      destroy(error) {
        if (side.closed) return;
        closeSide(side, error);
        control(side, 'rst');
      },
      pause() {
        side.paused = true;
      },
      resume() {
        side.paused = false;
        const peer = side.peer;
        const stopped = (): boolean => side.paused || side.closed;
        for (let p = side.held.shift(); p !== undefined; p = stopped() ? undefined : side.held.shift()) {
          side.dataListener?.(p);
          if (peer !== undefined) consumed(peer, p.length);
        }
      },
    };
    return side;
  }

  #closeSide(side: Side, error?: Error): void {
    if (side.closed) return;
    side.closed = true;
    side.held = [];
    const l = side.closeListener;
    side.closeListener = undefined;
    l?.(error);
  }

  #consumed(sender: Side, n: number): void {
    sender.inFlight -= n;
    if (sender.needDrain && sender.inFlight <= this.#hwm / 2) {
      sender.needDrain = false;
      sender.drainListener?.();
    }
  }

  #send(side: Side, packet: Uint8Array): void {
    const to = side.peer;
    if (to === undefined) return;
    this.stats.packets++;
    const f = this.#faultsFor(side.name, to.name);
    if (this.#isBlocked(side.name, to.name)) {
      this.stats.dropped++;
      this.#log(`drop(partition) ${side.name} -> ${to.name} ${packet.length}B`);
      return;
    }
    if ((f.drop ?? 0) > 0 && this.#random() < (f.drop ?? 0)) {
      this.stats.dropped++;
      this.#log(`drop ${side.name} -> ${to.name} ${packet.length}B`);
      return;
    }
    const copies = (f.duplicate ?? 0) > 0 && this.#random() < (f.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      let delay = this.#delay(f);
      const reorder = (f.reorder ?? 0) > 0 && this.#random() < (f.reorder ?? 0);
      if (reorder) {
        this.stats.reordered++;
        delay += 1 + this.#random() * Math.max(5, 2 * delay);
      } else {
        // Keep FIFO order for packets that are not reordered.
        const at = Math.max(this.clock.now() + delay, side.lastAt);
        side.lastAt = at;
        delay = at - this.clock.now();
      }
      side.inFlight += packet.length;
      this.#log(`send ${side.name} -> ${to.name} ${packet.length}B +${Math.round(delay * 1000) / 1000}ms${reorder ? ' reorder' : ''}${i > 0 ? ' dup' : ''}`);
      this.#schedule(() => {
        this.#deliver(side, to, packet);
      }, delay);
    }
  }

  #deliver(from: Side, to: Side, packet: Uint8Array): void {
    if (to.closed) {
      this.#consumed(from, packet.length);
      return;
    }
    this.stats.delivered++;
    if (to.paused) {
      to.held.push(packet);
      return;
    }
    to.dataListener?.(packet);
    this.#consumed(from, packet.length);
  }

  #control(side: Side, kind: 'fin' | 'rst'): void {
    const to = side.peer;
    if (to === undefined) return;
    if (this.#isBlocked(side.name, to.name)) {
      this.#log(`drop(partition) ${kind} ${side.name} -> ${to.name}`);
      if (kind === 'fin') this.#closeSide(side);
      return;
    }
    const at = Math.max(this.clock.now() + this.#delay(this.#faultsFor(side.name, to.name)), side.lastAt);
    side.lastAt = at;
    this.#schedule(() => {
      if (kind === 'fin') {
        // Pending data was delivered first (FIFO); the peer ends too (no half-open streams).
        const flush = (): void => {
          if (to.held.length > 0 && !to.closed) {
            this.#schedule(flush, 1);
            return;
          }
          this.#closeSide(to);
          this.#closeSide(side);
        };
        flush();
      } else {
        this.#closeSide(to, new TransportError('CONNECTION_LOST', 'connection reset by peer'));
      }
    }, at - this.clock.now());
  }
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface MemoryTransportInit extends StreamTransportInit {
  /** This node's name: the source address of its dials (partitions and faults refer to it). */
  readonly name?: string;
}

/** The {@link Transport} contract over a {@link MemoryNetwork}. */
export class MemoryTransport extends StreamTransport {
  readonly network: MemoryNetwork;
  readonly name: string | undefined;

  constructor(network: MemoryNetwork = new MemoryNetwork(), init: MemoryTransportInit = {}) {
    super(network.node(init.name), init);
    this.network = network;
    this.name = init.name;
  }
}
