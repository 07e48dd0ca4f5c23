import { InvalidOptionError, NoEndpointError, PoolError, checkInt, checkPositive } from './errors.js';
import { systemScheduler, type Scheduler } from './scheduler.js';

/** How `pick()` chooses among eligible endpoints. */
export type Strategy =
  /** Each eligible endpoint in turn. */
  | 'round-robin'
  /** nginx's smooth weighted round-robin: proportional to weight, interleaved (A A B A A B, not A A A A B B). */
  | 'weighted-round-robin'
  /** Fewest in-flight requests per unit of weight; ties rotate. */
  | 'least-connections'
  /** Random, proportional to weight. */
  | 'random'
  /** Power of two random choices, keeping the one with the lower peak-EWMA latency × (in-flight + 1) / weight. */
  | 'p2c-ewma'
  /** Consistent hashing of `key` on a ring with virtual nodes, with bounded load (Mirrokni et al.). */
  | 'consistent-hash';

export const STRATEGIES: readonly Strategy[] = ['round-robin', 'weighted-round-robin', 'least-connections', 'random', 'p2c-ewma', 'consistent-hash'];

export interface EndpointInit<E> {
  readonly id: string;
  /** Relative weight, > 0. Default 1. */
  readonly weight?: number;
  /** Anything the caller wants back from `pick()` (an address, a pool...). */
  readonly value?: E;
}

/** What `pick()` returns. Pass it back to `recordSuccess`/`recordFailure`. */
export interface Endpoint<E> {
  readonly id: string;
  readonly weight: number;
  readonly value: E | undefined;
}

export interface NodeStats {
  readonly id: string;
  readonly weight: number;
  readonly requests: number;
  readonly failures: number;
  readonly inFlight: number;
  /** EWMA (α = 0.1) of reported latencies, in ms. */
  readonly latencyEwmaMs: number;
  /** The peak-EWMA cost used by `p2c-ewma`, in ms (maintained under that strategy only). */
  readonly peakEwmaMs: number;
  readonly consecutiveFailures: number;
  readonly ejected: boolean;
  /** Times ejected since the back-off last reset. */
  readonly ejections: number;
  /** False while active probes say the endpoint is down. */
  readonly probeHealthy: boolean;
  /** Can be picked right now. */
  readonly eligible: boolean;
}

export interface OutlierOptions {
  /** Consecutive failures that eject an endpoint. Default 3 (the seed's `unhealthy_threshold`). */
  readonly consecutiveFailures?: number;
  /** First ejection lasts this long; each further one doubles it. Default 10 000. */
  readonly baseEjectionMs?: number;
  /** Cap on one ejection. Default 300 000. */
  readonly maxEjectionMs?: number;
  /** Consecutive successes after re-admission that reset the back-off. Default 2 (the seed's `recovery_threshold`). */
  readonly recoverySuccesses?: number;
  /** Never eject more than this percentage of the endpoints. Default 100. */
  readonly maxEjectedPercent?: number;
}

export interface ProbeOptions<E> {
  /** Returns true (or resolves true) when the endpoint is healthy. */
  readonly check: (endpoint: Endpoint<E>, signal: AbortSignal) => boolean | Promise<boolean>;
  /** Default 5 000 (the seed's `health_check_interval_ms`). */
  readonly intervalMs?: number;
  /** Deadline for one check. Default 2 000. */
  readonly timeoutMs?: number;
  /** Failed checks in a row that take an endpoint out. Default 2. */
  readonly unhealthyThreshold?: number;
  /** Passed checks in a row that bring it back. Default 2. */
  readonly healthyThreshold?: number;
}

export interface BalancerOptions<E> {
  readonly endpoints: readonly EndpointInit<E>[];
  /** Default 'round-robin'. */
  readonly strategy?: Strategy;
  /** Passive outlier ejection; `false` turns it off. */
  readonly outlier?: OutlierOptions | false;
  /** Active health probes (off unless given). */
  readonly probe?: ProbeOptions<E>;
  /** Time constant of the peak-EWMA decay. Default 10 000. */
  readonly ewmaDecayMs?: number;
  /** Virtual nodes per unit of weight on the hash ring. Default 100. */
  readonly replicas?: number;
  /** Bounded-load factor c ≥ 1: no endpoint takes more than ⌈c × average⌉ in-flight requests. Default 1.25. */
  readonly loadFactor?: number;
  readonly scheduler?: Scheduler;
  /** Uniform [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export type BalancerEvent =
  | { readonly kind: 'added' | 'removed' | 'readmitted' | 'up' | 'down'; readonly id: string }
  | { readonly kind: 'ejected'; readonly id: string; readonly untilMs: number };

class Node<E> implements Endpoint<E> {
  readonly id: string;
  weight: number;
  value: E | undefined;
  inFlight = 0;
  requests = 0;
  failures = 0;
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  latencyEwmaMs = 0;
  peak = 0;
  peakStamp = 0;
  ejected = false;
  ejectedUntil = 0;
  ejections = 0;
  probeUp = true;
  probeFails = 0;
  probeOks = 0;
  probing = false;
  current = 0;
  removed = false;
  constructor(id: string, weight: number, value: E | undefined, now: number) {
    this.id = id;
    this.weight = weight;
    this.value = value;
    this.peakStamp = now;
  }
  get eligible(): boolean {
    return !this.ejected && this.probeUp && !this.removed;
  }
}

/** 32-bit FNV-1a followed by murmur3's finaliser (good avalanche for ring placement). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Picks endpoints from a changing set. `pick()` counts the request as in flight until
 * `recordSuccess`/`recordFailure`; those feed least-connections, p2c, bounded load, outlier
 * ejection and the per-endpoint {@link NodeStats}. Adding or removing an endpoint keeps every
 * other endpoint's counters, weights and ejection state.
 */
export class LoadBalancer<E = undefined> implements Disposable {
  readonly strategy: Strategy;
  private readonly sched: Scheduler;
  private readonly random: () => number;
  private readonly outlier: Required<OutlierOptions> | undefined;
  private readonly probe: ProbeOptions<E> | undefined;
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly probeDown: number;
  private readonly probeUp: number;
  private readonly ewmaDecayMs: number;
  private readonly replicas: number;
  private readonly loadFactor: number;

  private readonly nodes = new Map<string, Node<E>>();
  private eligibleList: Node<E>[] = [];
  private cumulative: number[] = [];
  private uniformWeights = true;
  private dirty = true;
  private ringDirty = true;
  private ringHashes = new Uint32Array(0);
  private ringNodes: Node<E>[] = [];
  private rr = 0;
  private schedule: Node<E>[] | undefined;
  private schedFor: Node<E>[] | undefined;
  private schedPos = 0;
  private stepsUntilRetry = 0;
  private schedTotal = 0;
  private schedNodes: { readonly n: Node<E>; readonly start: number; readonly weight: number }[] = [];
  private totalInFlight = 0;
  private ejectedCount = 0;
  private nextReadmitAt = Infinity;
  private probeTimer: unknown = undefined;
  private closed = false;
  private readonly listeners = new Set<(e: BalancerEvent) => void>();

  constructor(options: BalancerOptions<E>) {
    this.strategy = options.strategy ?? 'round-robin';
    if (!STRATEGIES.includes(this.strategy)) throw new InvalidOptionError('strategy', `unknown strategy ${this.strategy}`);
    this.sched = options.scheduler ?? systemScheduler;
    this.random = options.random ?? Math.random;
    const o = options.outlier;
    if (o !== false) {
      const base = checkPositive('outlier.baseEjectionMs', o?.baseEjectionMs, 10_000);
      const maxE = checkPositive('outlier.maxEjectionMs', o?.maxEjectionMs, 300_000);
      if (maxE < base) throw new InvalidOptionError('outlier.maxEjectionMs', `must be ≥ baseEjectionMs (${base})`);
      const pct = o?.maxEjectedPercent ?? 100;
      if (typeof pct !== 'number' || !(pct >= 0 && pct <= 100)) throw new InvalidOptionError('outlier.maxEjectedPercent', `must be within 0..100, got ${String(pct)}`);
      this.outlier = {
        consecutiveFailures: checkInt('outlier.consecutiveFailures', o?.consecutiveFailures, 3, 1),
        baseEjectionMs: base,
        maxEjectionMs: maxE,
        recoverySuccesses: checkInt('outlier.recoverySuccesses', o?.recoverySuccesses, 2, 1),
        maxEjectedPercent: pct,
      };
    }
    this.probe = options.probe;
    this.probeIntervalMs = checkPositive('probe.intervalMs', options.probe?.intervalMs, 5_000);
    this.probeTimeoutMs = checkPositive('probe.timeoutMs', options.probe?.timeoutMs, 2_000);
    this.probeDown = checkInt('probe.unhealthyThreshold', options.probe?.unhealthyThreshold, 2, 1);
    this.probeUp = checkInt('probe.healthyThreshold', options.probe?.healthyThreshold, 2, 1);
    if (options.probe !== undefined && typeof options.probe.check !== 'function') throw new InvalidOptionError('probe.check', 'must be a function');
    this.ewmaDecayMs = checkPositive('ewmaDecayMs', options.ewmaDecayMs, 10_000);
    this.replicas = checkInt('replicas', options.replicas, 100, 1);
    this.loadFactor = checkPositive('loadFactor', options.loadFactor, 1.25);
    if (this.loadFactor < 1) throw new InvalidOptionError('loadFactor', `must be ≥ 1, got ${this.loadFactor}`);
    this.setEndpoints(options.endpoints);
    if (this.probe !== undefined) this.armProbe();
  }

  // ---------------------------------------------------------------- membership

  /**
   * Replaces the endpoint set. Endpoints whose id is kept keep their state (counters, ejection,
   * in-flight); their weight and value are updated. Throws `INVALID_OPTION` (`endpoints`,
   * `endpoints[i].id`, `endpoints[i].weight`) for an empty list, duplicate ids or bad weights.
   */
  setEndpoints(endpoints: readonly EndpointInit<E>[]): void {
    if ((endpoints as readonly unknown[] | undefined)?.length === undefined || endpoints.length === 0) {
      throw new InvalidOptionError('endpoints', 'must be a non-empty array');
    }
    const seen = new Set<string>();
    endpoints.forEach((e, i) => {
      checkEndpoint(e, `endpoints[${i}]`);
      if (seen.has(e.id)) throw new InvalidOptionError(`endpoints[${i}].id`, `duplicate id ${e.id}`);
      seen.add(e.id);
    });
    for (const id of [...this.nodes.keys()]) if (!seen.has(id)) this.remove(id);
    for (const e of endpoints) {
      const n = this.nodes.get(e.id);
      if (n === undefined) this.insert(e);
      else {
        if (n.weight !== (e.weight ?? 1)) this.ringDirty = true;
        n.weight = e.weight ?? 1;
        n.value = e.value;
        this.dirty = true;
      }
    }
  }

  /** Adds one endpoint. Throws `INVALID_OPTION` (`id`) if the id is taken. */
  add(endpoint: EndpointInit<E>): void {
    checkEndpoint(endpoint, 'endpoint');
    if (this.nodes.has(endpoint.id)) throw new InvalidOptionError('endpoint.id', `duplicate id ${endpoint.id}`);
    this.insert(endpoint);
  }

  /** Removes an endpoint; requests in flight to it may still be recorded (and are ignored). */
  remove(id: string): boolean {
    const n = this.nodes.get(id);
    if (n === undefined) return false;
    n.removed = true;
    if (n.ejected) {
      n.ejected = false;
      this.ejectedCount--;
    }
    this.totalInFlight -= n.inFlight;
    this.nodes.delete(id);
    this.dirty = true;
    this.ringDirty = true;
    this.emit({ kind: 'removed', id });
    return true;
  }

  /** Changes one endpoint's weight. Throws `UNKNOWN_ENDPOINT` or `INVALID_OPTION` (`weight`). */
  setWeight(id: string, weight: number): void {
    const n = this.nodes.get(id);
    if (n === undefined) throw new PoolError('UNKNOWN_ENDPOINT', `no endpoint ${id}`);
    checkWeight(weight, 'weight');
    n.weight = weight;
    this.dirty = true;
    this.ringDirty = true;
  }

  get size(): number {
    return this.nodes.size;
  }

  private insert(e: EndpointInit<E>): void {
    this.nodes.set(e.id, new Node(e.id, e.weight ?? 1, e.value, this.sched.now()));
    this.dirty = true;
    this.ringDirty = true;
    this.emit({ kind: 'added', id: e.id });
  }

  // ---------------------------------------------------------------- picking

  /**
   * Chooses an endpoint and counts a request in flight on it. `key` drives `consistent-hash`
   * (without one it falls back to round-robin). Throws `NO_ENDPOINTS` or `NO_HEALTHY_ENDPOINT`
   * (with `retryAfterMs` when an ejection will end).
   */
  pick(key?: string): Endpoint<E> {
    if (this.ejectedCount > 0) {
      const now = this.sched.now();
      if (now >= this.nextReadmitAt) this.readmit(now);
    }
    if (this.dirty) this.rebuild();
    const list = this.eligibleList;
    const len = list.length;
    if (len === 0) throw this.noEndpoint();
    let n: Node<E>;
    if (len === 1) n = list[0] as Node<E>;
    else {
      switch (this.strategy) {
        case 'round-robin':
          n = list[this.rr++ % len] as Node<E>;
          break;
        case 'weighted-round-robin':
          n = this.swrr(list);
          break;
        case 'least-connections':
          n = this.leastConnections(list);
          break;
        case 'random':
          n = this.weightedRandom(list);
          break;
        case 'p2c-ewma':
          n = this.p2c(list);
          break;
        case 'consistent-hash':
          n = key === undefined ? (list[this.rr++ % len] as Node<E>) : this.hashPick(key, len);
          break;
      }
    }
    n.inFlight++;
    n.requests++;
    this.totalInFlight++;
    return n;
  }

  /** Ends a request picked earlier: it succeeded, optionally with its latency. */
  recordSuccess(endpoint: Endpoint<E>, latencyMs?: number): void {
    const n = this.own(endpoint);
    if (n === undefined) return;
    this.done(n, latencyMs);
    n.consecutiveFailures = 0;
    n.consecutiveSuccesses++;
    if (this.outlier !== undefined && n.ejections > 0 && !n.ejected && n.consecutiveSuccesses >= this.outlier.recoverySuccesses) n.ejections = 0;
  }

  /** Ends a request picked earlier: it failed. Enough failures in a row eject the endpoint. */
  recordFailure(endpoint: Endpoint<E>, latencyMs?: number): void {
    const n = this.own(endpoint);
    if (n === undefined) return;
    this.done(n, latencyMs);
    n.failures++;
    n.consecutiveSuccesses = 0;
    n.consecutiveFailures++;
    const o = this.outlier;
    if (o === undefined || n.ejected || n.consecutiveFailures < o.consecutiveFailures) return;
    if ((this.ejectedCount + 1) * 100 > o.maxEjectedPercent * this.nodes.size) return;
    const now = this.sched.now();
    const ms = Math.min(o.maxEjectionMs, o.baseEjectionMs * 2 ** n.ejections);
    n.ejections++;
    n.ejected = true;
    n.ejectedUntil = now + ms;
    this.ejectedCount++;
    if (n.ejectedUntil < this.nextReadmitAt) this.nextReadmitAt = n.ejectedUntil;
    this.dirty = true;
    this.emit({ kind: 'ejected', id: n.id, untilMs: n.ejectedUntil });
  }

  /**
   * Picks an endpoint, runs `fn` on it, and records the outcome and latency. A throw counts as a
   * failure and is rethrown.
   */
  async execute<R>(fn: (endpoint: Endpoint<E>) => Promise<R>, options?: { readonly key?: string; readonly signal?: AbortSignal }): Promise<R> {
    options?.signal?.throwIfAborted();
    const ep = this.pick(options?.key);
    const t0 = this.sched.now();
    try {
      const r = await fn(ep);
      this.recordSuccess(ep, this.sched.now() - t0);
      return r;
    } catch (e) {
      this.recordFailure(ep, this.sched.now() - t0);
      throw e;
    }
  }

  // ---------------------------------------------------------------- stats and events

  stats(): NodeStats[] {
    return [...this.nodes.values()].map((n) => this.statsOf(n));
  }

  nodeStats(id: string): NodeStats | undefined {
    const n = this.nodes.get(id);
    return n === undefined ? undefined : this.statsOf(n);
  }

  /** Membership and health changes. */
  onChange(listener: (event: BalancerEvent) => void): Disposable {
    this.listeners.add(listener);
    return { [Symbol.dispose]: () => this.listeners.delete(listener) };
  }

  /** Stops the probe timer. */
  close(): void {
    this.closed = true;
    if (this.probeTimer !== undefined) this.sched.clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------- internals

  private statsOf(n: Node<E>): NodeStats {
    return {
      id: n.id,
      weight: n.weight,
      requests: n.requests,
      failures: n.failures,
      inFlight: n.inFlight,
      latencyEwmaMs: n.latencyEwmaMs,
      peakEwmaMs: n.peak,
      consecutiveFailures: n.consecutiveFailures,
      ejected: n.ejected,
      ejections: n.ejections,
      probeHealthy: n.probeUp,
      eligible: n.eligible,
    };
  }

  private own(endpoint: Endpoint<E>): Node<E> | undefined {
    const n = this.nodes.get(endpoint.id);
    if (n !== endpoint) return undefined;
    return n;
  }

  private done(n: Node<E>, latencyMs: number | undefined): void {
    if (n.inFlight > 0) {
      n.inFlight--;
      this.totalInFlight--;
    }
    if (latencyMs !== undefined && latencyMs >= 0) {
      n.latencyEwmaMs = n.requests <= 1 && n.latencyEwmaMs === 0 ? latencyMs : n.latencyEwmaMs * 0.9 + latencyMs * 0.1;
      // the peak EWMA needs the clock; only p2c-ewma uses it
      if (this.strategy !== 'p2c-ewma') return;
      const now = this.sched.now();
      this.decayPeak(n, now);
      if (latencyMs > n.peak) n.peak = latencyMs;
      else {
        const w = Math.exp(-Math.max(0, now - n.peakStamp) / this.ewmaDecayMs);
        n.peak = n.peak * w + latencyMs * (1 - w);
      }
      n.peakStamp = now;
    }
  }

  private decayPeak(n: Node<E>, now: number): void {
    const dt = now - n.peakStamp;
    if (dt > 0) {
      n.peak *= Math.exp(-dt / this.ewmaDecayMs);
      n.peakStamp = now;
    }
  }

  private readmit(now: number): void {
    let next = Infinity;
    for (const n of this.nodes.values()) {
      if (!n.ejected) continue;
      if (n.ejectedUntil <= now) {
        n.ejected = false;
        n.consecutiveFailures = 0;
        n.consecutiveSuccesses = 0;
        this.ejectedCount--;
        this.dirty = true;
        this.emit({ kind: 'readmitted', id: n.id });
      } else if (n.ejectedUntil < next) next = n.ejectedUntil;
    }
    this.nextReadmitAt = next;
  }

  private noEndpoint(): NoEndpointError {
    if (this.nodes.size === 0) return new NoEndpointError('NO_ENDPOINTS');
    if (this.ejectedCount > 0 && this.nextReadmitAt !== Infinity) {
      return new NoEndpointError('NO_HEALTHY_ENDPOINT', Math.max(0, this.nextReadmitAt - this.sched.now()));
    }
    return new NoEndpointError('NO_HEALTHY_ENDPOINT');
  }

  private rebuild(): void {
    this.dirty = false;
    this.settleSchedule();
    const list: Node<E>[] = [];
    for (const n of this.nodes.values()) if (n.eligible) list.push(n);
    this.eligibleList = list;
    let acc = 0;
    const first = list[0]?.weight;
    this.uniformWeights = true;
    this.cumulative = list.map((n) => {
      if (n.weight !== first) this.uniformWeights = false;
      acc += n.weight;
      return acc;
    });
  }

  /**
   * Smooth WRR from a balanced state (all zero, as at start) is periodic: after one cycle of Σw
   * picks (integer weights) every endpoint was picked exactly w times and every `current` is back
   * where it started. So a cycle is computed once (O(Σw × n)) and picks index into it (O(1)).
   * If the set changes mid-cycle, `settleSchedule` puts each `current` where step-by-step picking
   * would have left it. From such a state one cycle may not return to its start: then it picks
   * step by step (O(n)) and tries again one cycle later. Either way the sequence is nginx's.
   */
  private swrr(list: Node<E>[]): Node<E> {
    if (this.schedFor !== list) this.buildSchedule(list);
    const sched = this.schedule;
    if (sched === undefined) {
      if (--this.stepsUntilRetry <= 0) this.schedFor = undefined;
      return this.swrrStep(list);
    }
    const n = sched[this.schedPos] as Node<E>;
    if (++this.schedPos === sched.length) this.schedPos = 0;
    return n;
  }

  private buildSchedule(list: Node<E>[]): void {
    this.schedFor = list;
    this.schedule = undefined;
    this.schedPos = 0;
    let total = 0;
    for (const n of list) {
      if (!Number.isInteger(n.weight)) return;
      total += n.weight;
    }
    if (total > 16_384) return;
    const nodes = list.map((n) => ({ n, start: n.current, weight: n.weight }));
    const sched: Node<E>[] = new Array<Node<E>>(total);
    for (let i = 0; i < total; i++) sched[i] = this.swrrStep(list);
    if (nodes.every((x) => x.n.current === x.start)) {
      this.schedNodes = nodes;
      this.schedTotal = total;
      this.schedule = sched;
    } else {
      for (const x of nodes) x.n.current = x.start; // not periodic from here: undo, step for a cycle
      this.stepsUntilRetry = total;
    }
  }

  /** Brings every `current` to the state after the picks made so far in this cycle. */
  private settleSchedule(): void {
    const sched = this.schedule;
    if (sched !== undefined && this.schedPos > 0) {
      const count = new Map<Node<E>, number>();
      for (let i = 0; i < this.schedPos; i++) {
        const n = sched[i] as Node<E>;
        count.set(n, (count.get(n) ?? 0) + 1);
      }
      for (const { n, start, weight } of this.schedNodes) n.current = start + this.schedPos * weight - this.schedTotal * (count.get(n) ?? 0);
    }
    this.schedule = undefined;
    this.schedFor = undefined;
    this.schedPos = 0;
  }

  private swrrStep(list: Node<E>[]): Node<E> {
    let best = list[0] as Node<E>;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const n = list[i] as Node<E>;
      n.current += n.weight;
      total += n.weight;
      if (n.current > best.current) best = n;
    }
    best.current -= total;
    return best;
  }

  private leastConnections(list: Node<E>[]): Node<E> {
    const len = list.length;
    const start = this.rr++ % len;
    let best = list[start] as Node<E>;
    // compare inFlight/weight by cross-multiplying; scan from a rotating start so ties rotate
    for (let i = start + 1; i < len; i++) {
      const n = list[i] as Node<E>;
      if (n.inFlight * best.weight < best.inFlight * n.weight) best = n;
    }
    for (let i = 0; i < start; i++) {
      const n = list[i] as Node<E>;
      if (n.inFlight * best.weight < best.inFlight * n.weight) best = n;
    }
    return best;
  }

  private weightedRandom(list: Node<E>[]): Node<E> {
    if (this.uniformWeights) return list[Math.floor(this.random() * list.length)] as Node<E>;
    const cum = this.cumulative;
    const x = this.random() * (cum[cum.length - 1] as number);
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cum[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return list[lo] as Node<E>;
  }

  private p2c(list: Node<E>[]): Node<E> {
    const len = list.length;
    const i = Math.floor(this.random() * len);
    let j = Math.floor(this.random() * (len - 1));
    if (j >= i) j++;
    const a = list[i] as Node<E>;
    const b = list[j] as Node<E>;
    const now = this.sched.now();
    this.decayPeak(a, now);
    this.decayPeak(b, now);
    const ca = (a.peak * (a.inFlight + 1)) / a.weight;
    const cb = (b.peak * (b.inFlight + 1)) / b.weight;
    if (ca !== cb) return ca < cb ? a : b;
    return a.inFlight / a.weight <= b.inFlight / b.weight ? a : b;
  }

  private buildRing(): void {
    this.ringDirty = false;
    const points: { h: number; n: Node<E> }[] = [];
    for (const n of this.nodes.values()) {
      const v = Math.max(1, Math.min(10_000, Math.round(this.replicas * n.weight)));
      for (let i = 0; i < v; i++) points.push({ h: hash32(`${n.id}#${i}`), n });
    }
    points.sort((x, y) => x.h - y.h || (x.n.id < y.n.id ? -1 : 1));
    this.ringHashes = Uint32Array.from(points, (p) => p.h);
    this.ringNodes = points.map((p) => p.n);
  }

  private hashPick(key: string, eligible: number): Node<E> {
    if (this.ringDirty) this.buildRing();
    const hashes = this.ringHashes;
    const size = hashes.length;
    const h = hash32(key);
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((hashes[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    const bound = Math.ceil((this.loadFactor * (this.totalInFlight + 1)) / eligible);
    let fallback: Node<E> | undefined;
    for (let k = 0; k < size; k++) {
      const n = this.ringNodes[(lo + k) % size] as Node<E>;
      if (!n.eligible) continue;
      if (n.inFlight + 1 <= bound) return n;
      fallback ??= n;
    }
    // unreachable while Σ capacity ≥ in-flight + 1; keep the first eligible for safety
    return fallback ?? (this.eligibleList[0] as Node<E>);
  }

  private armProbe(): void {
    if (this.closed) return;
    this.probeTimer = this.sched.setTimeout(() => {
      this.probeTimer = undefined;
      this.runProbes();
      this.armProbe();
    }, this.probeIntervalMs);
  }

  private runProbes(): void {
    const probe = this.probe;
    if (probe === undefined) return;
    for (const n of this.nodes.values()) {
      if (n.probing) continue;
      n.probing = true;
      const ctl = new AbortController();
      const timer = this.sched.setTimeout(() => {
        ctl.abort();
      }, this.probeTimeoutMs);
      const result = new Promise<boolean>((resolve) => {
        ctl.signal.addEventListener('abort', () => {
          resolve(false);
        });
        try {
          Promise.resolve(probe.check(n, ctl.signal)).then(
            (ok) => {
              resolve(ok);
            },
            () => {
              resolve(false);
            },
          );
        } catch {
          resolve(false);
        }
      });
      void result.then((ok) => {
        this.sched.clearTimeout(timer);
        n.probing = false;
        if (n.removed) return;
        this.probeResult(n, ok);
      });
    }
  }

  private probeResult(n: Node<E>, ok: boolean): void {
    if (ok) {
      n.probeFails = 0;
      n.probeOks++;
      if (!n.probeUp && n.probeOks >= this.probeUp) {
        n.probeUp = true;
        this.dirty = true;
        this.emit({ kind: 'up', id: n.id });
      }
    } else {
      n.probeOks = 0;
      n.probeFails++;
      if (n.probeUp && n.probeFails >= this.probeDown) {
        n.probeUp = false;
        this.dirty = true;
        this.emit({ kind: 'down', id: n.id });
      }
    }
  }

  private emit(e: BalancerEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is not the balancer's
      }
    }
  }
}

function checkWeight(w: unknown, field: string): void {
  if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) throw new InvalidOptionError(field, `must be a finite number > 0, got ${String(w)}`);
}

function checkEndpoint(e: EndpointInit<unknown>, field: string): void {
  if (typeof e !== 'object' || typeof e.id !== 'string' || e.id === '') throw new InvalidOptionError(`${field}.id`, 'must be a non-empty string');
  if (e.weight !== undefined) checkWeight(e.weight, `${field}.weight`);
}
