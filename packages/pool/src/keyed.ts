import { InvalidOptionError, PoolError, checkInt } from './errors.js';
import { ConnectionPool, GATE, type AcquireOptions, type CapacityGate, type Lease, type PoolFactory, type PoolOptions, type PoolStats } from './pool.js';

/** A factory whose resources belong to a key (an endpoint such as `host:port`). */
export interface KeyedFactory<K, T> {
  create(key: K, signal: AbortSignal): Promise<T>;
  destroy(resource: T, key: K): void | Promise<void>;
  validate?(resource: T, key: K, signal: AbortSignal): boolean | Promise<boolean>;
}

export interface KeyedPoolOptions extends Omit<PoolOptions, 'max' | 'min'> {
  /** Most resources per key. Default 10 (the seed's `max_connections_per_host`). */
  readonly maxPerKey?: number;
  /** Most resources over all keys. Default 100 (the seed's `max_total_connections`). */
  readonly maxTotal?: number;
  /** Resources kept warm per key that has a pool. Default 0. */
  readonly minPerKey?: number;
}

export interface KeyedPoolStats {
  /** Keys that currently have a pool. */
  readonly keys: number;
  /** Live resources plus creates in flight, over all keys; never above `maxTotal`. */
  readonly size: number;
  readonly idle: number;
  readonly borrowed: number;
  readonly pending: number;
  readonly maxTotal: number;
  readonly maxPerKey: number;
  /** Idle resources closed to make room for another key. */
  readonly evictedForOtherKeys: number;
}

/**
 * One {@link ConnectionPool} per key, under a per-key cap and one global cap. When the global cap
 * is reached and a key needs a new resource, an idle resource of the least recently used key is
 * closed to make room (or the request waits for one to go idle); keys left with nothing are dropped.
 */
export class KeyedPool<K, T extends object> implements AsyncDisposable {
  private readonly factory: KeyedFactory<K, T>;
  private readonly options: KeyedPoolOptions;
  private readonly maxPerKey: number;
  private readonly maxTotal: number;
  private readonly minPerKey: number;
  /** Insertion order = LRU order: a key moves to the end on every acquire. */
  private readonly pools = new Map<K, ConnectionPool<T>>();
  private readonly keyOf = new Map<ConnectionPool<T>, K>();
  private readonly owner = new WeakMap<T, ConnectionPool<T>>();
  private readonly starving = new Set<ConnectionPool<T>>();
  private readonly retiring = new Set<ConnectionPool<T>>();
  private total = 0;
  private evicting = false;
  private feeding = false;
  private evictedForOtherKeys = 0;
  private state: 'open' | 'draining' | 'closed' = 'open';
  private closePromise: Promise<void> | undefined;
  private readonly gate: CapacityGate;
  private readonly errorListeners = new Set<(error: unknown, key: K) => void>();

  constructor(factory: KeyedFactory<K, T>, options: KeyedPoolOptions = {}) {
    if (typeof factory !== 'object' || typeof factory.create !== 'function' || typeof factory.destroy !== 'function') {
      throw new InvalidOptionError('factory', 'needs create(key, signal) and destroy(resource, key) functions');
    }
    this.factory = factory;
    this.maxPerKey = checkInt('maxPerKey', options.maxPerKey, 10, 1);
    this.maxTotal = checkInt('maxTotal', options.maxTotal, 100, 1);
    this.minPerKey = checkInt('minPerKey', options.minPerKey, 0, 0);
    if (this.minPerKey > this.maxPerKey) throw new InvalidOptionError('minPerKey', `must be ≤ maxPerKey (${this.maxPerKey}), got ${this.minPerKey}`);
    this.options = options;
    // Validate the shared per-key options now, so bad input fails here and not on first acquire.
    void new ConnectionPool<T>({ create: () => Promise.reject(new Error('unused')), destroy: () => undefined }, { ...this.subOptions(), min: 0 }).close();
    this.gate = {
      tryTake: (p) => this.tryTake(p as unknown as ConnectionPool<T>),
      give: (p) => {
        this.give(p as unknown as ConnectionPool<T>);
      },
      becameIdle: (p) => {
        this.becameIdle(p as unknown as ConnectionPool<T>);
      },
    };
  }

  /** Borrows a resource for `key` (same contract as `ConnectionPool.acquire`). */
  acquire(key: K, options?: AcquireOptions): Promise<T> {
    if (this.state !== 'open') return Promise.reject(new PoolError('POOL_CLOSED', `the keyed pool is ${this.state}`));
    return this.poolFor(key).acquire(options);
  }

  /** Like `acquire`, wrapped in a lease for `await using`. */
  lease(key: K, options?: AcquireOptions): Promise<Lease<T>> {
    if (this.state !== 'open') return Promise.reject(new PoolError('POOL_CLOSED', `the keyed pool is ${this.state}`));
    return this.poolFor(key).lease(options);
  }

  /** Returns a borrowed resource to its key's pool. Throws `NOT_BORROWED` for a foreign value. */
  release(resource: T): void {
    const p = this.owner.get(resource);
    if (p === undefined) {
      if (this.state === 'closed') return;
      throw new PoolError('NOT_BORROWED', 'release: the value is not borrowed from this keyed pool');
    }
    p.release(resource);
  }

  /** Destroys a borrowed resource that is broken. */
  destroy(resource: T): void {
    const p = this.owner.get(resource);
    if (p === undefined) {
      if (this.state === 'closed') return;
      throw new PoolError('NOT_BORROWED', 'destroy: the value is not borrowed from this keyed pool');
    }
    p.destroy(resource);
  }

  stats(): KeyedPoolStats {
    let idle = 0;
    let borrowed = 0;
    let pending = 0;
    for (const p of this.pools.values()) {
      const s = p.stats();
      idle += s.idle;
      borrowed += s.borrowed;
      pending += s.pending;
    }
    return {
      keys: this.pools.size,
      size: this.total,
      idle,
      borrowed,
      pending,
      maxTotal: this.maxTotal,
      maxPerKey: this.maxPerKey,
      evictedForOtherKeys: this.evictedForOtherKeys,
    };
  }

  /** Stats of one key's pool, or undefined if the key has none (never used, or dropped). */
  keyStats(key: K): PoolStats | undefined {
    return this.pools.get(key)?.stats();
  }

  /** Destroy failures and failed creates with no waiter to report to, with their key. */
  onError(listener: (error: unknown, key: K) => void): Disposable {
    this.errorListeners.add(listener);
    return { [Symbol.dispose]: () => this.errorListeners.delete(listener) };
  }

  /** Keys with a pool, least recently used first. */
  keys(): K[] {
    return [...this.pools.keys()];
  }

  /**
   * Drains every key's pool (see `ConnectionPool.drain`): new acquires are rejected, queued
   * ones are served, and it resolves when nothing is borrowed or waiting.
   */
  async drain(options?: { readonly timeoutMs?: number; readonly signal?: AbortSignal }): Promise<void> {
    options?.signal?.throwIfAborted();
    this.state = 'draining';
    await Promise.all([...this.pools.values()].map((p) => p.drain(options)));
  }

  /** Closes every key's pool (see `ConnectionPool.close`). Idempotent. */
  close(options?: { readonly timeoutMs?: number }): Promise<void> {
    this.closePromise ??= (async () => {
      this.state = 'closed';
      const all = [...this.pools.values(), ...this.retiring];
      this.pools.clear();
      this.starving.clear();
      await Promise.all(all.map((p) => p.close(options)));
    })();
    return this.closePromise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------- internals

  private subOptions(): PoolOptions {
    const { maxPerKey: _a, maxTotal: _b, minPerKey: _c, ...rest } = this.options;
    return { ...rest, max: this.maxPerKey, min: this.minPerKey };
  }

  private poolFor(key: K): ConnectionPool<T> {
    const existing = this.pools.get(key);
    if (existing !== undefined) {
      if (this.pools.size > 1) {
        this.pools.delete(key);
        this.pools.set(key, existing);
      }
      return existing;
    }
    const f = this.factory;
    const owner = this.owner;
    const ref: { pool?: ConnectionPool<T> } = {};
    const sub: PoolFactory<T> = {
      create: async (signal) => {
        const r = await f.create(key, signal);
        if (ref.pool !== undefined) owner.set(r, ref.pool);
        return r;
      },
      destroy: (r) => {
        owner.delete(r);
        return f.destroy(r, key);
      },
    };
    if (f.validate !== undefined) {
      const validate = f.validate.bind(f);
      sub.validate = (r, signal) => validate(r, key, signal);
    }
    const pool = new ConnectionPool<T>(sub, { ...this.subOptions(), [GATE]: this.gate } as PoolOptions);
    ref.pool = pool;
    pool.onError((e) => {
      for (const l of this.errorListeners) {
        try {
          l(e, key);
        } catch {
          // a listener's failure is not the pool's
        }
      }
    });
    this.pools.set(key, pool);
    this.keyOf.set(pool, key);
    return pool;
  }

  private tryTake(p: ConnectionPool<T>): boolean {
    if (this.state !== 'open') return false;
    if (this.total < this.maxTotal) {
      this.total++;
      return true;
    }
    if (this.evictLru(p)) {
      this.total++;
      return true;
    }
    this.starving.add(p);
    return false;
  }

  private give(p: ConnectionPool<T>): void {
    this.total--;
    if (p.empty) this.scheduleDrop(p);
    if (!this.evicting) this.feed();
  }

  private becameIdle(p: ConnectionPool<T>): void {
    if (this.starving.size === 0 || (this.starving.size === 1 && this.starving.has(p))) return;
    if (this.evictLru(undefined)) this.feed();
  }

  /** Hands freed global slots to starving keys, oldest first. */
  private feed(): void {
    if (this.feeding) return;
    this.feeding = true;
    try {
      while (this.starving.size > 0 && this.total < this.maxTotal) {
        const next = this.starving.values().next().value as ConnectionPool<T>;
        this.starving.delete(next);
        next.retryFill();
        if (this.starving.has(next)) break;
      }
    } finally {
      this.feeding = false;
    }
  }

  /** Closes one idle resource of the least recently used key other than `except`. */
  private evictLru(except: ConnectionPool<T> | undefined): boolean {
    for (const p of this.pools.values()) {
      if (p === except || p.idleCount === 0) continue;
      this.evicting = true;
      try {
        p.evictOneIdle();
      } finally {
        this.evicting = false;
      }
      this.evictedForOtherKeys++;
      return true;
    }
    return false;
  }

  /** A key whose pool holds nothing is dropped (after the current call stack). */
  private scheduleDrop(p: ConnectionPool<T>): void {
    queueMicrotask(() => {
      const key = this.keyOf.get(p);
      if (key === undefined || !p.empty || this.pools.get(key) !== p || this.minPerKey > 0) return;
      this.pools.delete(key);
      this.keyOf.delete(p);
      this.starving.delete(p);
      this.retiring.add(p);
      void p.close().finally(() => this.retiring.delete(p));
    });
  }
}
