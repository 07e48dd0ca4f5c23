import { InvalidOptionError } from './errors.js';
import { KeyedPool, type KeyedFactory } from './keyed.js';
import { ConnectionPool, type PoolFactory, type PoolOptions } from './pool.js';
import type { Scheduler } from './scheduler.js';

type Mutable<T> = { -readonly [P in keyof T]: T[P] };

/**
 * A fluent builder over {@link PoolOptions} (the seed's `PoolBuilder`). Each setter returns the
 * builder; values are checked by `build()` exactly as the constructor checks them.
 *
 * ```ts
 * const pool = new PoolBuilder(factory).max(20).idleTimeout(30_000).testOnBorrow().build();
 * ```
 */
export class PoolBuilder<T> {
  private readonly opts: Mutable<PoolOptions> = {};
  private maxTotalValue: number | undefined;
  private readonly factoryValue: PoolFactory<T> | undefined;

  constructor(factory?: PoolFactory<T>) {
    this.factoryValue = factory;
  }

  /** Most resources alive at once (per key for `buildKeyed`). */
  max(n: number): this {
    this.opts.max = n;
    return this;
  }
  /** Alias of `max` in the seed's words. */
  maxPerKey(n: number): this {
    return this.max(n);
  }
  /** Global cap, used by `buildKeyed` only. */
  maxTotal(n: number): this {
    this.maxTotalValue = n;
    return this;
  }
  min(n: number): this {
    this.opts.min = n;
    return this;
  }
  maxWaiters(n: number): this {
    this.opts.maxWaiters = n;
    return this;
  }
  acquireTimeout(ms: number): this {
    this.opts.acquireTimeoutMs = ms;
    return this;
  }
  createTimeout(ms: number): this {
    this.opts.createTimeoutMs = ms;
    return this;
  }
  idleTimeout(ms: number): this {
    this.opts.idleTimeoutMs = ms;
    return this;
  }
  maxLifetime(ms: number): this {
    this.opts.maxLifetimeMs = ms;
    return this;
  }
  healthCheckInterval(ms: number): this {
    this.opts.healthCheckIntervalMs = ms;
    return this;
  }
  validateTimeout(ms: number): this {
    this.opts.validateTimeoutMs = ms;
    return this;
  }
  /** Validate idle resources before handing them out (the seed's `validateOnAcquire`). */
  testOnBorrow(on = true): this {
    this.opts.testOnBorrow = on;
    return this;
  }
  evictionInterval(ms: number): this {
    this.opts.evictionIntervalMs = ms;
    return this;
  }
  closeTimeout(ms: number): this {
    this.opts.closeTimeoutMs = ms;
    return this;
  }
  scheduler(s: Scheduler): this {
    this.opts.scheduler = s;
    return this;
  }

  /** The options gathered so far. */
  options(): PoolOptions {
    return { ...this.opts };
  }

  /** Builds a pool; throws `INVALID_OPTION` (field `factory`) without one, or for any bad value. */
  build(factory?: PoolFactory<T>): ConnectionPool<T> {
    const f = factory ?? this.factoryValue;
    if (f === undefined) throw new InvalidOptionError('factory', 'PoolBuilder.build needs a factory');
    return new ConnectionPool(f, this.options());
  }

  /** Builds a keyed pool: `max` is the per-key cap, `maxTotal` the global one. */
  buildKeyed<K>(factory: KeyedFactory<K, T & object>): KeyedPool<K, T & object> {
    const { max, min, ...rest } = this.opts;
    return new KeyedPool(factory, {
      ...rest,
      ...(max !== undefined ? { maxPerKey: max } : {}),
      ...(min !== undefined ? { minPerKey: min } : {}),
      ...(this.maxTotalValue !== undefined ? { maxTotal: this.maxTotalValue } : {}),
    });
  }
}
