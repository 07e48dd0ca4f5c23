import { Deque } from './deque.js';
import {
  AcquireTimeoutError,
  CreateError,
  DrainTimeoutError,
  InvalidOptionError,
  PoolError,
  WaitersFullError,
  checkInt,
  checkNonNegative,
  checkPositive,
} from './errors.js';
import { systemScheduler, type Scheduler } from './scheduler.js';

/** Creates, destroys and (optionally) checks the pooled resources. */
export interface PoolFactory<T> {
  /**
   * Makes a new resource. `signal` aborts when the create times out (`createTimeoutMs`) or the
   * pool closes; a factory that ignores it still works, and a resource that arrives late is destroyed.
   */
  create(signal: AbortSignal): Promise<T>;
  /** Releases whatever the resource holds. Errors are reported through `onError`, never thrown. */
  destroy(resource: T): void | Promise<void>;
  /** Health check for idle probes and test-on-borrow; `false`, a throw or a timeout mean broken. */
  validate?(resource: T, signal: AbortSignal): boolean | Promise<boolean>;
}

export interface PoolOptions {
  /** Most resources alive at once (idle + borrowed + being created or validated). Default 10. */
  readonly max?: number;
  /** Resources kept warm: created at start and topped up by the maintenance timer. Default 0. */
  readonly min?: number;
  /** Bound on queued acquires; past it `acquire` rejects with `WAITERS_FULL`. Default 1000. */
  readonly maxWaiters?: number;
  /**
   * Default acquire timeout (a per-call `timeoutMs` overrides it). `Infinity` waits forever.
   * Default 30 000. To keep clock reads off the hot path, this default is enforced by the
   * maintenance tick: it fires between `acquireTimeoutMs` and `acquireTimeoutMs +
   * evictionIntervalMs` after the call. A per-call `timeoutMs` is exact.
   */
  readonly acquireTimeoutMs?: number;
  /** Deadline for `factory.create`. Default 30 000. */
  readonly createTimeoutMs?: number;
  /** Idle resources older than this are destroyed (never below `min`). `Infinity` disables. Default 60 000. */
  readonly idleTimeoutMs?: number;
  /** Resources older than this are destroyed when idle, or on release when borrowed. Default 300 000. */
  readonly maxLifetimeMs?: number;
  /** Idle resources are probed with `factory.validate` this often. `Infinity` disables. Default 30 000. */
  readonly healthCheckIntervalMs?: number;
  /** Deadline for one `validate` call. Default 5 000. */
  readonly validateTimeoutMs?: number;
  /** Validate an idle resource before handing it out. Default false. */
  readonly testOnBorrow?: boolean;
  /** Period of the pool's single maintenance timer (eviction, probes, warm-up). Default 1 000. */
  readonly evictionIntervalMs?: number;
  /** Default deadline for `close()` to wait for borrowed resources. Default 30 000. */
  readonly closeTimeoutMs?: number;
  /** Clock and timers; inject one for deterministic tests. */
  readonly scheduler?: Scheduler;
}

export interface AcquireOptions {
  readonly signal?: AbortSignal;
  /** Overrides `acquireTimeoutMs` for this call; 0 fails at once unless a resource is idle. */
  readonly timeoutMs?: number;
}

export interface DrainOptions {
  /** Deadline; default waits without one for `drain()` and `closeTimeoutMs` for `close()`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Life cycle of one pooled resource. */
export type ResourceState = 'idle' | 'active' | 'validating' | 'closed';

export interface ResourceInfo<T> {
  readonly resource: T;
  readonly state: ResourceState;
  /** How many times it was handed out. */
  readonly uses: number;
  readonly createdAt: number;
  /** When it last went idle (maintenance-timer resolution). */
  readonly idleSince: number;
}

export interface PoolStats {
  /** Live resources plus creates in flight. Never above `max`. */
  readonly size: number;
  readonly idle: number;
  readonly borrowed: number;
  readonly validating: number;
  readonly creating: number;
  /** Queued acquires. */
  readonly pending: number;
  readonly max: number;
  readonly min: number;
  readonly created: number;
  readonly destroyed: number;
  readonly acquired: number;
  /** Acquires that hit their timeout. */
  readonly timeouts: number;
  readonly createFailures: number;
  readonly createTimeouts: number;
  readonly validationFailures: number;
}

/** A borrowed resource that returns itself to the pool on `await using` / `using`. */
export interface Lease<T> extends AsyncDisposable, Disposable {
  readonly resource: T;
  /** Returns the resource to the pool. Idempotent; a no-op after `destroy()`. */
  release(): void;
  /** Destroys the resource (it is broken); it is never handed out again. */
  destroy(): void;
}

/** Internal hook through which a `KeyedPool` shares one global cap among its per-key pools. */
export interface CapacityGate {
  tryTake(pool: ConnectionPool<never>): boolean;
  give(pool: ConnectionPool<never>): void;
  becameIdle(pool: ConnectionPool<never>): void;
}
export const GATE: unique symbol = Symbol('@abi/pool/gate') as never;

class Rec<T> {
  state: ResourceState = 'idle';
  uses = 0;
  expired = false;
  idleSince: number;
  lastChecked: number;
  readonly resource: T;
  readonly createdAt: number;
  constructor(resource: T, createdAt: number) {
    this.resource = resource;
    this.createdAt = createdAt;
    this.idleSince = createdAt;
    this.lastChecked = createdAt;
  }
}

const noop = (): void => undefined;

class Waiter<T> {
  resolve: (v: T) => void = noop;
  reject: (e: unknown) => void = noop;
  deadline: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined = undefined;
  done = false;
  validating = false;
  job: CreateJob<T> | undefined = undefined;
  constructor(deadline: number, timeoutMs: number, signal: AbortSignal | undefined) {
    this.deadline = deadline;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
  }
}

interface CreateJob<T> {
  owner: Waiter<T> | undefined;
  readonly controller: AbortController;
  timer: unknown;
  settled: boolean;
}

type PoolState = 'open' | 'draining' | 'closing' | 'closed';

/**
 * A bounded pool of resources made by a {@link PoolFactory}.
 *
 * - `acquire()` hands out an idle resource at once, or queues the caller FIFO (up to `maxWaiters`)
 *   and creates a resource if the pool is below `max`. A create that fails is reported to the
 *   waiter whose acquire started it; the pool itself stays usable.
 * - `release()` hands the resource straight to the oldest waiter, or parks it idle (LIFO).
 * - Idle timeout, lifetime and health probes run on one `unref`'d timer per pool, never on the
 *   acquire/release path.
 */
export class ConnectionPool<T> implements AsyncDisposable {
  private readonly factory: PoolFactory<T>;
  private readonly sched: Scheduler;
  private readonly max: number;
  private readonly min: number;
  private readonly maxWaiters: number;
  private readonly acquireTimeoutMs: number;
  private readonly createTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxLifetimeMs: number;
  private readonly healthCheckIntervalMs: number;
  private readonly validateTimeoutMs: number;
  private readonly testOnBorrow: boolean;
  private readonly evictionIntervalMs: number;
  private readonly closeTimeoutMs: number;
  private readonly gate: CapacityGate | undefined;

  private state: PoolState = 'open';
  private readonly all = new Map<T, Rec<T>>();
  private idle: Rec<T>[] = [];
  private readonly waiters = new Deque<Waiter<T>>();
  private pending = 0;
  private creating = 0;
  private ownedJobs = 0;
  private active = 0;
  private validatingCount = 0;
  /** Waiters whose resource is being validated (test-on-borrow), oldest first. */
  private readonly vw: Waiter<T>[] = [];
  private validatingWaiters = 0;
  private borrowValidations = 0;
  private readonly jobs = new Set<CreateJob<T>>();
  private readonly validations = new Set<AbortController>();
  private readonly destroying = new Set<Promise<void>>();
  private readonly drainers: (() => void)[] = [];
  private readonly errorListeners = new Set<(e: unknown) => void>();
  private closePromise: Promise<void> | undefined;

  private timer: unknown = undefined;
  private timerAt = Infinity;
  private nextSweepAt = Infinity;
  private coarseNow: number;

  private created = 0;
  private destroyed = 0;
  private acquired = 0;
  private timeouts = 0;
  private createFailures = 0;
  private createTimeouts = 0;
  private validationFailures = 0;

  constructor(factory: PoolFactory<T>, options: PoolOptions = {}) {
    if (typeof factory !== 'object' || typeof factory.create !== 'function' || typeof factory.destroy !== 'function') {
      throw new InvalidOptionError('factory', 'needs create(signal) and destroy(resource) functions');
    }
    this.factory = factory;
    this.max = checkInt('max', options.max, 10, 1);
    this.min = checkInt('min', options.min, 0, 0);
    if (this.min > this.max) throw new InvalidOptionError('min', `must be ≤ max (${this.max}), got ${this.min}`);
    this.maxWaiters = checkInt('maxWaiters', options.maxWaiters, 1000, 0);
    this.acquireTimeoutMs = checkNonNegative('acquireTimeoutMs', options.acquireTimeoutMs, 30_000);
    this.createTimeoutMs = checkPositive('createTimeoutMs', options.createTimeoutMs, 30_000);
    this.idleTimeoutMs = checkPositive('idleTimeoutMs', options.idleTimeoutMs, 60_000);
    this.maxLifetimeMs = checkPositive('maxLifetimeMs', options.maxLifetimeMs, 300_000);
    this.healthCheckIntervalMs = checkPositive('healthCheckIntervalMs', options.healthCheckIntervalMs, 30_000);
    this.validateTimeoutMs = checkPositive('validateTimeoutMs', options.validateTimeoutMs, 5_000);
    this.evictionIntervalMs = checkPositive('evictionIntervalMs', options.evictionIntervalMs, 1_000);
    if (this.evictionIntervalMs === Infinity) throw new InvalidOptionError('evictionIntervalMs', 'must be finite');
    this.closeTimeoutMs = checkNonNegative('closeTimeoutMs', options.closeTimeoutMs, 30_000);
    this.testOnBorrow = options.testOnBorrow === true && factory.validate !== undefined;
    this.sched = options.scheduler ?? systemScheduler;
    this.gate = (options as { [GATE]?: CapacityGate })[GATE];
    this.coarseNow = this.sched.now();
    if (this.min > 0) {
      this.fill(true);
      this.armSweep();
    }
  }

  // ---------------------------------------------------------------- acquire / release

  /**
   * Borrows a resource. Resolves at once when one is idle; otherwise waits FIFO. Rejects with
   * `POOL_CLOSED`, `WAITERS_FULL`, `ACQUIRE_TIMEOUT`, `CREATE_FAILED`/`CREATE_TIMEOUT` (the create
   * this call started failed) or the signal's reason.
   */
  acquire(options?: AcquireOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    if (this.state !== 'open') return Promise.reject(this.closedError());
    if (this.pending === 0 && !this.testOnBorrow) {
      const rec = this.idle.pop();
      if (rec !== undefined) {
        rec.state = 'active';
        rec.uses++;
        this.active++;
        this.acquired++;
        return Promise.resolve(rec.resource);
      }
    }
    return this.enqueue(options);
  }

  /** Like `acquire`, wrapped in a {@link Lease} for `await using`. */
  async lease(options?: AcquireOptions): Promise<Lease<T>> {
    const resource = await this.acquire(options);
    return new PoolLease(this, resource);
  }

  /**
   * Returns a borrowed resource. Throws `NOT_BORROWED` if it is not currently borrowed from this
   * pool (double release, or a foreign value). A no-op once the pool is closed.
   */
  release(resource: T): void {
    const rec = this.all.get(resource);
    if (rec?.state !== 'active') {
      if (this.state === 'closed' || this.state === 'closing') return;
      throw new PoolError('NOT_BORROWED', 'release: the value is not borrowed from this pool');
    }
    this.active--;
    if (rec.expired || this.state === 'closing') {
      this.retire(rec);
      this.fill(false);
      this.checkDrained();
      return;
    }
    if (this.pending > 0 && !this.testOnBorrow) {
      const w = this.nextWaiter();
      if (w !== undefined) {
        this.handTo(w, rec);
        return;
      }
    }
    this.park(rec);
  }

  /** Destroys a borrowed resource that is broken; it is never handed out again. Same checks as `release`. */
  destroy(resource: T): void {
    const rec = this.all.get(resource);
    if (rec?.state !== 'active') {
      if (this.state === 'closed' || this.state === 'closing') return;
      throw new PoolError('NOT_BORROWED', 'destroy: the value is not borrowed from this pool');
    }
    this.active--;
    this.retire(rec);
    this.fill(false);
    this.checkDrained();
  }

  // ---------------------------------------------------------------- inspection

  stats(): PoolStats {
    return {
      size: this.all.size + this.creating,
      idle: this.idle.length,
      borrowed: this.active,
      validating: this.validatingCount,
      creating: this.creating,
      pending: this.pending,
      max: this.max,
      min: this.min,
      created: this.created,
      destroyed: this.destroyed,
      acquired: this.acquired,
      timeouts: this.timeouts,
      createFailures: this.createFailures,
      createTimeouts: this.createTimeouts,
      validationFailures: this.validationFailures,
    };
  }

  /** State and use count of one resource, or undefined if the pool does not hold it (any more). */
  info(resource: T): ResourceInfo<T> | undefined {
    const r = this.all.get(resource);
    return r === undefined ? undefined : infoOf(r);
  }

  /** Every live resource with its state and use count. */
  resources(): ResourceInfo<T>[] {
    return [...this.all.values()].map(infoOf);
  }

  /** True until `drain()` or `close()` is called. */
  get accepting(): boolean {
    return this.state === 'open';
  }

  /** Destroy failures and failed creates that had no waiter to report to. */
  onError(listener: (error: unknown) => void): Disposable {
    this.errorListeners.add(listener);
    return { [Symbol.dispose]: () => this.errorListeners.delete(listener) };
  }

  // ---------------------------------------------------------------- drain / close

  /**
   * Stops new acquires (they reject with `POOL_CLOSED`), serves the queued ones, and resolves once
   * nothing is borrowed or waiting. Rejects with `DRAIN_TIMEOUT` after `timeoutMs`.
   */
  drain(options?: DrainOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    const timeoutMs = checkNonNegative('timeoutMs', options?.timeoutMs, Infinity);
    if (this.state === 'open') this.state = 'draining';
    if (this.isDrained()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: unknown;
      const onAbort = (): void => {
        finish();
        reject(signal?.reason as Error);
      };
      const finish = (): void => {
        if (timer !== undefined) this.sched.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.drainers.indexOf(done);
        if (i >= 0) this.drainers.splice(i, 1);
      };
      const done = (): void => {
        finish();
        resolve();
      };
      this.drainers.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== Infinity) {
        timer = this.sched.setTimeout(() => {
          timer = undefined;
          finish();
          reject(new DrainTimeoutError(this.active, this.pending));
        }, timeoutMs);
      }
    });
  }

  /**
   * Drains (waiting up to `timeoutMs`, default `closeTimeoutMs`), then rejects remaining waiters,
   * aborts creates, destroys every resource (borrowed ones too) and stops the timer. Idempotent.
   */
  close(options?: { readonly timeoutMs?: number }): Promise<void> {
    this.closePromise ??= this.doClose(checkNonNegative('timeoutMs', options?.timeoutMs, this.closeTimeoutMs));
    return this.closePromise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async doClose(timeoutMs: number): Promise<void> {
    try {
      await this.drain({ timeoutMs });
    } catch {
      // deadline passed: force below
    }
    this.state = 'closing';
    const err = this.closedError();
    for (;;) {
      const w = this.takeValidatingWaiter() ?? this.nextWaiter();
      if (w === undefined) break;
      this.settle(w);
      w.reject(err);
    }
    for (const job of [...this.jobs]) {
      job.controller.abort(err);
      this.createFailed(job, err, false);
    }
    for (const c of [...this.validations]) c.abort(err);
    for (const rec of [...this.all.values()]) {
      if (rec.state === 'active') this.active--;
      this.retire(rec);
    }
    this.idle = [];
    this.clearTimer();
    this.checkDrained(); // a drain() without a deadline resolves now: nothing is borrowed or waiting
    while (this.destroying.size > 0) await Promise.allSettled([...this.destroying]);
    this.state = 'closed';
  }

  // ---------------------------------------------------------------- waiters

  private enqueue(options: AcquireOptions | undefined): Promise<T> {
    if (this.pending >= this.maxWaiters) return Promise.reject(new WaitersFullError(this.maxWaiters));
    let timeoutMs = this.acquireTimeoutMs;
    let exact = false;
    if (options?.timeoutMs !== undefined) {
      exact = true;
      const t = options.timeoutMs;
      if (typeof t !== 'number' || Number.isNaN(t) || t < 0) {
        return Promise.reject(new InvalidOptionError('timeoutMs', `must be a number ≥ 0, got ${String(t)}`));
      }
      timeoutMs = t;
    }
    if (timeoutMs === 0 && (this.idle.length === 0 || this.testOnBorrow)) {
      this.timeouts++;
      return Promise.reject(new AcquireTimeoutError(0));
    }
    const signal = options?.signal;
    // NaN = the pool default, stamped by the next maintenance tick (no clock read here)
    const w = new Waiter<T>(timeoutMs === Infinity ? Infinity : exact ? this.tickNow() + timeoutMs : NaN, timeoutMs, signal);
    const promise = new Promise<T>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
    });
    if (signal !== undefined) {
      w.onAbort = () => {
        if (w.done) return;
        this.settle(w);
        this.compactWaiters();
        w.reject(signal.reason as Error);
        this.afterWaiterLeft();
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
    }
    this.waiters.push(w);
    this.pending++;
    if (exact) this.armAt(w.deadline);
    else if (this.timerAt === Infinity && timeoutMs !== Infinity) this.armAt(this.tickNow() + this.evictionIntervalMs);
    if (this.idle.length > 0) this.dispatch();
    if (!w.done && this.all.size + this.creating < this.max) this.fill(false);
    return promise;
  }

  /** Removes and returns the oldest live waiter (dead entries are dropped lazily). */
  private nextWaiter(): Waiter<T> | undefined {
    for (;;) {
      const w = this.waiters.shift();
      if (w === undefined || !w.done) return w;
    }
  }

  /** Marks a waiter settled: no longer pending, listener removed, its create handed on. */
  private settle(w: Waiter<T>): void {
    w.done = true;
    this.pending--;
    if (w.validating) {
      w.validating = false;
      this.validatingWaiters--;
    }
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
    const job = w.job;
    if (job !== undefined) {
      w.job = undefined;
      this.ownedJobs--;
      const next = this.uncoveredWaiter();
      job.owner = next;
      if (next !== undefined) {
        next.job = job;
        this.ownedJobs++;
      }
    }
  }

  private uncoveredWaiter(): Waiter<T> | undefined {
    if (this.pending - this.ownedJobs <= 0) return undefined;
    for (const w of this.waiters) if (!w.done && w.job === undefined) return w;
    return undefined;
  }

  private compactWaiters(): void {
    if (this.waiters.length > 2 * this.pending + 32) this.waiters.filter((w) => !w.done);
  }

  private afterWaiterLeft(): void {
    this.checkDrained();
  }

  private handTo(w: Waiter<T>, rec: Rec<T>): void {
    this.settle(w);
    rec.state = 'active';
    rec.uses++;
    this.active++;
    this.acquired++;
    w.resolve(rec.resource);
  }

  /** Puts a resource into the idle stack and serves waiters from it. */
  private park(rec: Rec<T>): void {
    rec.state = 'idle';
    rec.idleSince = this.coarseNow;
    this.idle.push(rec);
    if (this.pending > 0) this.dispatch();
    if ((rec.state as ResourceState) === 'idle') {
      this.gate?.becameIdle(this as unknown as ConnectionPool<never>);
      this.checkDrained();
    }
  }

  /** Pairs idle resources with waiters (with test-on-borrow, through a validation). */
  private dispatch(): void {
    while (this.pending - this.validatingWaiters > 0 && this.idle.length > 0) {
      const w = this.nextWaiter();
      if (w === undefined) return;
      const rec = this.idle.pop() as Rec<T>;
      if (this.testOnBorrow) this.borrowWithTest(w, rec);
      else this.handTo(w, rec);
    }
  }

  /**
   * Test-on-borrow. Validated resources go to the oldest waiter under validation, so waiters
   * are resolved in FIFO order even when validations finish out of order.
   */
  private borrowWithTest(w: Waiter<T>, rec: Rec<T>): void {
    w.validating = true;
    this.validatingWaiters++;
    this.vw.push(w);
    this.borrowValidations++;
    rec.state = 'validating';
    this.validatingCount++;
    void this.runValidate(rec).then((ok) => {
      this.borrowValidations--;
      if (rec.state === 'validating') {
        if (ok) {
          this.validatingCount--;
          rec.lastChecked = this.coarseNow;
          const first = this.takeValidatingWaiter();
          if (first !== undefined) this.handTo(first, rec);
          else this.park(rec);
        } else {
          this.validationFailures++;
          this.retire(rec);
        }
      }
      // More waiters under validation than validations in flight: the newest goes back to the head.
      while (this.validatingWaiters > this.borrowValidations) {
        const last = this.vw.pop();
        if (last === undefined) break;
        if (last.done) continue;
        last.validating = false;
        this.validatingWaiters--;
        this.waiters.unshift(last);
      }
      if (this.state === 'open' || this.state === 'draining') {
        this.dispatch();
        this.fill(false);
      }
    });
  }

  private takeValidatingWaiter(): Waiter<T> | undefined {
    for (;;) {
      const w = this.vw.shift();
      if (w === undefined) return undefined;
      if (w.done) continue;
      w.validating = false;
      this.validatingWaiters--;
      return w;
    }
  }

  // ---------------------------------------------------------------- creates

  private get size(): number {
    return this.all.size + this.creating;
  }

  /**
   * Starts creates for waiters that have none in flight (within `max` and the gate), and when
   * `warm`, tops the pool up to `min`.
   */
  private fill(warm: boolean): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    while (this.size < this.max) {
      const w = this.uncoveredWaiter();
      if (w === undefined) break;
      if (this.gate !== undefined && !this.gate.tryTake(this as unknown as ConnectionPool<never>)) return;
      this.startCreate(w);
    }
    if (warm && this.state === 'open') {
      while (this.size < this.min) {
        if (this.gate !== undefined && !this.gate.tryTake(this as unknown as ConnectionPool<never>)) return;
        this.startCreate(undefined);
      }
    }
  }

  /** Called by a KeyedPool gate when a global slot frees up. */
  retryFill(): void {
    this.fill(false);
  }

  private startCreate(owner: Waiter<T> | undefined): void {
    const job: CreateJob<T> = { owner, controller: new AbortController(), timer: undefined, settled: false };
    this.creating++;
    this.jobs.add(job);
    if (owner !== undefined) {
      owner.job = job;
      this.ownedJobs++;
    }
    if (this.createTimeoutMs !== Infinity) {
      job.timer = this.sched.setTimeout(() => {
        job.timer = undefined;
        const err = new CreateError('CREATE_TIMEOUT', `create did not finish within ${this.createTimeoutMs} ms`);
        job.controller.abort(err);
        this.createTimeouts++;
        this.createFailed(job, err, true);
      }, this.createTimeoutMs);
    }
    const failed = (e: unknown): void => {
      this.createFailed(job, new CreateError('CREATE_FAILED', 'create failed', { cause: e }), true);
    };
    let p: Promise<T>;
    try {
      p = Promise.resolve(this.factory.create(job.controller.signal));
    } catch (e) {
      queueMicrotask(() => {
        failed(e);
      });
      return;
    }
    p.then((r) => {
      this.created_(job, r);
    }, failed);
  }

  private endJob(job: CreateJob<T>): Waiter<T> | undefined {
    job.settled = true;
    if (job.timer !== undefined) this.sched.clearTimeout(job.timer);
    job.timer = undefined;
    this.jobs.delete(job);
    this.creating--;
    const owner = job.owner;
    if (owner !== undefined) {
      owner.job = undefined;
      job.owner = undefined;
      this.ownedJobs--;
    }
    return owner;
  }

  private created_(job: CreateJob<T>, resource: T): void {
    if (job.settled) {
      // timed out or the pool closed: it arrived too late
      this.created++;
      this.destroyed++;
      this.destroyValue(resource);
      return;
    }
    this.endJob(job);
    if (this.all.has(resource)) {
      this.gate?.give(this as unknown as ConnectionPool<never>);
      this.createFailures++;
      this.emitError(new CreateError('CREATE_FAILED', 'create returned a resource the pool already holds'));
      this.fill(false);
      return;
    }
    this.created++;
    const now = this.sched.now();
    this.coarseNow = now;
    const rec = new Rec(resource, now);
    this.all.set(resource, rec);
    this.armSweep();
    if (this.state === 'closing' || this.state === 'closed') {
      this.retire(rec);
      return;
    }
    const w = this.takeValidatingWaiter() ?? this.nextWaiter();
    if (w !== undefined) this.handTo(w, rec);
    else this.park(rec);
  }

  private createFailed(job: CreateJob<T>, err: CreateError | PoolError, refill: boolean): void {
    if (job.settled) return;
    const owner = this.endJob(job);
    this.gate?.give(this as unknown as ConnectionPool<never>);
    if (err.code === 'CREATE_FAILED' || err.code === 'CREATE_TIMEOUT') this.createFailures++;
    if (owner !== undefined && !owner.done) {
      this.settle(owner);
      this.compactWaiters();
      owner.reject(err);
    } else if (err.code !== 'POOL_CLOSED') {
      this.emitError(err);
    }
    if (refill) this.fill(false);
    this.checkDrained();
  }

  // ---------------------------------------------------------------- destroy

  private retire(rec: Rec<T>): void {
    if (rec.state === 'closed') return;
    if (rec.state === 'validating') this.validatingCount--;
    rec.state = 'closed';
    this.all.delete(rec.resource);
    this.destroyed++;
    this.destroyValue(rec.resource);
    this.gate?.give(this as unknown as ConnectionPool<never>);
  }

  private destroyValue(resource: T): void {
    let p: Promise<void>;
    try {
      const r = this.factory.destroy(resource);
      if (r === undefined) return;
      p = Promise.resolve(r);
    } catch (e) {
      this.emitError(e);
      return;
    }
    const tracked: Promise<void> = p.then(
      () => {
        this.destroying.delete(tracked);
      },
      (e: unknown) => {
        this.destroying.delete(tracked);
        this.emitError(e);
      },
    );
    this.destroying.add(tracked);
  }

  private emitError(e: unknown): void {
    for (const l of this.errorListeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is not the pool's
      }
    }
  }

  /** Destroys the least recently parked idle resource (for a KeyedPool's global cap). */
  evictOneIdle(): boolean {
    const rec = this.idle.shift();
    if (rec === undefined) return false;
    this.retire(rec);
    return true;
  }

  /** True when the pool holds nothing and nobody waits: a KeyedPool may drop it. */
  get empty(): boolean {
    return this.size === 0 && this.pending === 0;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  // ---------------------------------------------------------------- timer and maintenance

  private nowCache = 0;
  private nowCached = false;
  private readonly forgetNow = (): void => {
    this.nowCached = false;
  };

  /**
   * The clock, read at most once per microtask round: a clock read costs ~80-100 ns on this class
   * of machine, more than the rest of an acquire. Waiter deadlines are therefore exact to within
   * one round of the microtask queue.
   */
  private tickNow(): number {
    if (!this.nowCached) {
      this.nowCache = this.sched.now();
      this.nowCached = true;
      queueMicrotask(this.forgetNow);
    }
    return this.nowCache;
  }

  private armSweep(): void {
    if (this.nextSweepAt !== Infinity) return;
    this.nextSweepAt = this.sched.now() + this.evictionIntervalMs;
    this.armAt(this.nextSweepAt);
  }

  private armAt(t: number): void {
    if (t >= this.timerAt || this.state === 'closed' || this.state === 'closing') return;
    if (this.timer !== undefined) this.sched.clearTimeout(this.timer);
    this.timerAt = t;
    this.timer = this.sched.setTimeout(
      () => {
        this.onTimer();
      },
      Math.max(0, t - this.sched.now()),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.sched.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.nextSweepAt = Infinity;
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.state === 'closing' || this.state === 'closed') return;
    const now = this.sched.now();
    this.coarseNow = now;
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = Infinity;
      this.sweep(now);
    }
    let next = Infinity;
    if (this.pending > 0) {
      for (const w of [...this.vw, ...this.waiters]) {
        if (w.done) continue;
        if (Number.isNaN(w.deadline)) w.deadline = now + w.timeoutMs;
        if (w.deadline <= now) {
          this.settle(w);
          this.timeouts++;
          w.reject(new AcquireTimeoutError(w.timeoutMs));
        } else if (w.deadline < next) next = w.deadline;
      }
      this.compactWaiters();
      this.checkDrained();
    }
    if (this.nextSweepAt === Infinity && (this.all.size > 0 || this.min > 0)) this.nextSweepAt = now + this.evictionIntervalMs;
    next = Math.min(next, this.nextSweepAt);
    if (next !== Infinity) this.armAt(next);
  }

  private sweep(now: number): void {
    const keep: Rec<T>[] = [];
    let live = this.all.size + this.creating;
    const probes: Rec<T>[] = [];
    for (const rec of this.idle) {
      if (now - rec.createdAt >= this.maxLifetimeMs) {
        this.retire(rec);
        live--;
      } else if (now - rec.idleSince >= this.idleTimeoutMs && live > this.min) {
        this.retire(rec);
        live--;
      } else if (this.factory.validate !== undefined && now - rec.lastChecked >= this.healthCheckIntervalMs) {
        probes.push(rec);
      } else {
        keep.push(rec);
      }
    }
    this.idle = keep;
    for (const rec of this.all.values()) {
      if (rec.state === 'active' && now - rec.createdAt >= this.maxLifetimeMs) rec.expired = true;
    }
    for (const rec of probes) this.probe(rec);
    this.fill(true);
  }

  private probe(rec: Rec<T>): void {
    rec.state = 'validating';
    this.validatingCount++;
    void this.runValidate(rec).then((ok) => {
      if (rec.state !== 'validating') return;
      if (!ok) {
        this.validationFailures++;
        this.retire(rec);
        this.fill(false);
        this.checkDrained();
        return;
      }
      this.validatingCount--;
      rec.lastChecked = this.coarseNow;
      if (this.pending > 0 && !this.testOnBorrow) {
        const w = this.nextWaiter();
        if (w !== undefined) {
          this.handTo(w, rec);
          return;
        }
      }
      const idleSince = rec.idleSince;
      this.park(rec);
      rec.idleSince = idleSince;
    });
  }

  private runValidate(rec: Rec<T>): Promise<boolean> {
    const factory = this.factory;
    if (factory.validate === undefined) return Promise.resolve(true);
    const validate = factory.validate.bind(factory);
    const ctl = new AbortController();
    this.validations.add(ctl);
    let timer: unknown;
    return new Promise<boolean>((resolve) => {
      ctl.signal.addEventListener('abort', () => {
        resolve(false);
      });
      timer = this.sched.setTimeout(() => {
        timer = undefined;
        ctl.abort();
      }, this.validateTimeoutMs);
      let r: boolean | Promise<boolean>;
      try {
        r = validate(rec.resource, ctl.signal);
      } catch {
        resolve(false);
        return;
      }
      Promise.resolve(r).then(
        (ok) => {
          resolve(ok);
        },
        () => {
          resolve(false);
        },
      );
    }).finally(() => {
      if (timer !== undefined) this.sched.clearTimeout(timer);
      this.validations.delete(ctl);
    });
  }

  // ---------------------------------------------------------------- helpers

  private isDrained(): boolean {
    return this.active === 0 && this.pending === 0;
  }

  private checkDrained(): void {
    if (this.drainers.length === 0 || !this.isDrained()) return;
    for (const d of [...this.drainers]) d();
  }

  private closedError(): PoolError {
    return new PoolError('POOL_CLOSED', this.state === 'draining' ? 'the pool is draining' : 'the pool is closed');
  }
}

function infoOf<T>(r: Rec<T>): ResourceInfo<T> {
  return { resource: r.resource, state: r.state, uses: r.uses, createdAt: r.createdAt, idleSince: r.idleSince };
}

class PoolLease<T> implements Lease<T> {
  private done = false;
  private readonly pool: ConnectionPool<T>;
  readonly resource: T;
  constructor(pool: ConnectionPool<T>, resource: T) {
    this.pool = pool;
    this.resource = resource;
  }
  release(): void {
    if (this.done) return;
    this.done = true;
    this.pool.release(this.resource);
  }
  destroy(): void {
    if (this.done) return;
    this.done = true;
    this.pool.destroy(this.resource);
  }
  [Symbol.dispose](): void {
    this.release();
  }
  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}
