/**
 * `@abi/ratelimit/redis`: the same limiters with their state in Redis, for limits shared by many
 * processes. Each decision is one atomic Lua script (EVALSHA, falling back to EVAL when the server
 * lost its script cache). ioredis is an optional peer dependency: this entry only uses a client you
 * pass in, and imports nothing from ioredis at run time.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decision } from './algorithms.js';
import { systemClock, type Clock } from './clock.js';
import {
  checkKey,
  checkN,
  nonNegative,
  oneOf,
  positiveFinite,
  positiveInteger,
  toParams,
  type Algorithm,
  type Params,
  type RateLimitDecision,
  type RateLimiterConfig,
} from './config.js';
import { ClosedError, InvalidArgumentError, RateLimitedError, StoreUnavailableError } from './errors.js';
import { RateLimiter, type AcquireOptions, type FullPolicy } from './limiter.js';
import { SCRIPTS } from './lua.js';
import { WaitQueues } from './queue.js';

/**
 * What a decision does when Redis cannot be reached (connection down, error reply, or no answer
 * within `commandTimeoutMs`):
 * - `'local'` (default): decide with an in-process limiter of the same config. Limits hold per
 *   process, so N processes may admit up to N × the limit while Redis is away.
 * - `'fail-open'`: admit everything (availability over protection).
 * - `'fail-closed'`: deny everything with `retryAfterMs = failClosedRetryMs` (protection over availability).
 */
export type UnavailablePolicy = 'local' | 'fail-open' | 'fail-closed';

/**
 * Whose clock the scripts use:
 * - `'client'` (default): the injected {@link Clock}, passed with each call. Exact equivalence with
 *   the memory limiter and fake-clock tests; processes must keep their clocks in sync (NTP): a
 *   process whose clock runs δ ms ahead can take up to `rate × δ` units early. Time that goes
 *   backwards (a lagging process) never creates units.
 * - `'server'`: Redis `TIME` inside the script. Immune to client skew; not controllable by tests.
 */
export type TimeSource = 'client' | 'server';

export interface RedisRateLimiterOptions extends RateLimiterConfig {
  /** A connected (or lazily connecting) ioredis client; the limiter never closes it. */
  readonly client: Redis;
  /** Prefix of every Redis key (default `'abi:rl:'`). Give limiters with different configs different prefixes. */
  readonly prefix?: string;
  readonly clock?: Clock;
  readonly time?: TimeSource;
  readonly onUnavailable?: UnavailablePolicy;
  /** A decision waits at most this long for Redis before `onUnavailable` applies (default 250). */
  readonly commandTimeoutMs?: number;
  /** `retryAfterMs` of a fail-closed denial (default 1 000). */
  readonly failClosedRetryMs?: number;
  /**
   * Every decision sets the key to expire after the longest time a key can need to become fresh
   * again (one window, a full refill; two windows for `sliding-window`) plus this slack (default
   * 1 000 ms), so Redis memory stays bounded without any sweep. The slack absorbs clock skew.
   */
  readonly ttlSlackMs?: number;
  /** `maxKeys` / `onFull` of the local fallback limiter. */
  readonly localMaxKeys?: number;
  readonly localOnFull?: FullPolicy;
  readonly maxQueuePerKey?: number;
  readonly maxWaiters?: number;
}

export interface RedisRateLimiterStats {
  readonly algorithm: Algorithm;
  /** Decisions made by Redis. */
  readonly allowed: number;
  readonly denied: number;
  /** Decisions Redis could not make (each also reported to `onStoreError`). */
  readonly storeErrors: number;
  /** Of those, decided by the local limiter / admitted (fail-open) / denied (fail-closed). */
  readonly localDecisions: number;
  readonly failOpenAdmits: number;
  readonly failClosedDenials: number;
  readonly scriptLoads: number;
  readonly waiting: number;
  readonly waitingKeys: number;
}

const DOWN = new Set(['end', 'close', 'reconnecting']);

interface Pending {
  readonly deadline: number;
  done: boolean;
  readonly fail: (e: StoreUnavailableError) => void;
}

/** A keyed limiter whose state lives in Redis. Same semantics and decisions as {@link RateLimiter}. */
export class RedisRateLimiter implements AsyncDisposable {
  readonly #client: Redis;
  readonly #params: Params;
  readonly #script: string;
  readonly #sha: string;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #serverTime: boolean;
  readonly #onUnavailable: UnavailablePolicy;
  readonly #timeoutMs: number;
  readonly #failClosedRetryMs: number;
  readonly #argLimit: string;
  readonly #argRate: string;
  readonly #argWindow: string;
  readonly #argTtl: string;
  readonly #local: RateLimiter;
  readonly #queues: WaitQueues;
  readonly #listeners = new Set<(e: StoreUnavailableError) => void>();
  readonly #pending: Pending[] = [];
  #pendingHead = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #allowed = 0;
  #denied = 0;
  #storeErrors = 0;
  #localDecisions = 0;
  #failOpen = 0;
  #failClosed = 0;
  #scriptLoads = 0;

  constructor(options: RedisRateLimiterOptions) {
    const params = toParams(options);
    if (typeof options.client !== 'object' || typeof (options.client as { callBuffer?: unknown }).callBuffer !== 'function') {
      throw new InvalidArgumentError('client', 'an ioredis client', options.client);
    }
    this.#client = options.client;
    this.#params = params;
    this.#script = SCRIPTS[params.algorithm];
    this.#sha = createHash('sha1').update(this.#script).digest('hex');
    this.#prefix = options.prefix ?? 'abi:rl:';
    this.#clock = options.clock ?? systemClock;
    this.#serverTime = (options.time === undefined ? 'client' : oneOf('time', options.time, ['client', 'server'])) === 'server';
    this.#onUnavailable = options.onUnavailable === undefined ? 'local' : oneOf('onUnavailable', options.onUnavailable, ['local', 'fail-open', 'fail-closed']);
    this.#timeoutMs = options.commandTimeoutMs === undefined ? 250 : positiveFinite('commandTimeoutMs', options.commandTimeoutMs);
    this.#failClosedRetryMs = options.failClosedRetryMs === undefined ? 1000 : positiveFinite('failClosedRetryMs', options.failClosedRetryMs);
    const slack = options.ttlSlackMs === undefined ? 1000 : nonNegative('ttlSlackMs', options.ttlSlackMs);
    this.#argLimit = String(params.limit);
    this.#argRate = String(params.ratePerMs);
    this.#argWindow = String(params.windowMs);
    // The longest a key can take to become fresh again: one window (a full refill for the bucket),
    // two for the sliding-window counter. Capped at ten years, which Redis accepts.
    const idleMs = (params.algorithm === 'sliding-window' ? 2 : 1) * params.windowMs;
    this.#argTtl = String(Math.max(1, Math.ceil(Math.min(idleMs + slack, 315_360_000_000))));
    this.#local = new RateLimiter({
      requestsPerSecond: params.ratePerMs * 1000,
      burst: params.limit,
      algorithm: params.algorithm,
      clock: this.#clock,
      ...(options.localMaxKeys !== undefined ? { maxKeys: positiveInteger('localMaxKeys', options.localMaxKeys) } : {}),
      ...(options.localOnFull !== undefined ? { onFull: options.localOnFull } : {}),
    });
    const perKey = options.maxQueuePerKey === undefined ? 1000 : positiveInteger('maxQueuePerKey', options.maxQueuePerKey);
    const total = options.maxWaiters === undefined ? 10_000 : positiveInteger('maxWaiters', options.maxWaiters);
    this.#queues = new WaitQueues((key, n) => this.#decide(key, n), this.#clock, perKey, total);
  }

  get algorithm(): Algorithm {
    return this.#params.algorithm;
  }

  get limit(): number {
    return this.#params.limit;
  }

  /** Decides at once (one round trip) whether `key` may consume `n` units now. Resolves denials; never rejects for them. */
  tryAcquire(key: string, n = 1): Promise<RateLimitDecision> {
    try {
      checkKey(key);
      if (n !== 1) checkN(n, this.#params.limit);
      if (this.#closed) throw new ClosedError();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return this.#decide(key, n);
  }

  /** Like {@link RateLimiter.acquire}: FIFO per key within this process, bounded queues, `maxWaitMs`, `signal`. */
  async acquire(key: string, n = 1, options: AcquireOptions = {}): Promise<RateLimitDecision> {
    options.signal?.throwIfAborted();
    if (this.#closed) throw new ClosedError();
    checkKey(key);
    checkN(n, this.#params.limit);
    const maxWaitMs = options.maxWaitMs === undefined ? Infinity : nonNegative('maxWaitMs', options.maxWaitMs);
    if (this.#queues.has(key)) return this.#queues.wait(key, n, maxWaitMs, options.signal, undefined);
    const d = await this.#decide(key, n);
    if (d.allowed) return d;
    if (d.retryAfterMs > maxWaitMs) throw new RateLimitedError(key, d.retryAfterMs);
    options.signal?.throwIfAborted();
    return this.#queues.wait(key, n, maxWaitMs, options.signal, this.#queues.has(key) ? undefined : d.retryAfterMs);
  }

  /** Deletes `key`'s state in Redis (and in the local fallback); waiting `acquire` calls are re-decided. */
  async reset(key: string): Promise<void> {
    checkKey(key);
    this.#local.reset(key);
    await this.#client.del(this.#prefix + key);
    this.#queues.wake(key);
  }

  /** Subscribes to store failures (each failed decision reports one). */
  onStoreError(listener: (error: StoreUnavailableError) => void): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => { this.#listeners.delete(listener); } };
  }

  stats(): RedisRateLimiterStats {
    return {
      algorithm: this.#params.algorithm,
      allowed: this.#allowed,
      denied: this.#denied,
      storeErrors: this.#storeErrors,
      localDecisions: this.#localDecisions,
      failOpenAdmits: this.#failOpen,
      failClosedDenials: this.#failClosed,
      scriptLoads: this.#scriptLoads,
      waiting: this.#queues.waiting,
      waitingKeys: this.#queues.keys,
    };
  }

  /** Rejects waiting `acquire` calls with `ClosedError`. Does not close the Redis client (it is yours). */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#queues.close(new ClosedError());
      this.#local.close();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #decide(key: string, n: number): Promise<RateLimitDecision> {
    const now = this.#clock.now();
    const client = this.#client;
    if (DOWN.has(client.status)) {
      return Promise.resolve(this.#unavailable(key, n, now, new StoreUnavailableError(`redis connection is ${client.status}`, undefined)));
    }
    const redisKey = this.#prefix + key;
    const args = [this.#sha, '1', redisKey, this.#serverTime ? '' : String(now), String(n), this.#argLimit, this.#argRate, this.#argWindow, this.#argTtl];
    return new Promise<RateLimitDecision>((resolve) => {
      const pending: Pending = {
        deadline: performance.now() + this.#timeoutMs,
        done: false,
        fail: (e) => { resolve(this.#unavailable(key, n, now, e)); },
      };
      const onReply = (reply: unknown): void => {
        if (pending.done) return;
        pending.done = true;
        const d = parseReply(reply);
        if (d === undefined) {
          resolve(this.#unavailable(key, n, now, new StoreUnavailableError('unexpected reply from the rate-limit script', reply)));
          return;
        }
        if (d.allowed) this.#allowed++;
        else this.#denied++;
        resolve(d);
      };
      const onError = (e: unknown): void => {
        if (pending.done) return;
        pending.done = true;
        resolve(this.#unavailable(key, n, now, new StoreUnavailableError(`redis decision failed: ${String(e)}`, e)));
      };
      try {
        client.callBuffer('evalsha', args).then(onReply, (e: unknown) => {
          if (e instanceof Error && e.message.startsWith('NOSCRIPT') && !pending.done) {
            this.#scriptLoads++;
            args[0] = this.#script;
            try {
              client.callBuffer('eval', args).then(onReply, onError);
            } catch (e2) {
              onError(e2);
            }
          } else {
            onError(e);
          }
        });
      } catch (e) {
        onError(e);
        return;
      }
      this.#track(pending);
    });
  }

  /**
   * Every call has the same timeout, so deadlines arrive in call order: one queue and one timer
   * armed for the oldest unanswered call replace a timer per call.
   */
  #track(p: Pending): void {
    this.#pending.push(p);
    if (this.#timer === undefined) this.#arm();
  }

  #arm(): void {
    const q = this.#pending;
    while (this.#pendingHead < q.length && q[this.#pendingHead]?.done === true) this.#pendingHead++;
    if (this.#pendingHead > 1024 && this.#pendingHead * 2 > q.length) {
      q.splice(0, this.#pendingHead);
      this.#pendingHead = 0;
    }
    const head = q[this.#pendingHead];
    if (head === undefined) {
      q.length = 0;
      this.#pendingHead = 0;
      this.#timer = undefined;
      return;
    }
    this.#timer = setTimeout(() => {
      const now = performance.now();
      for (let p = q[this.#pendingHead]; p !== undefined && (p.done || p.deadline <= now); p = q[++this.#pendingHead]) {
        if (p.done) continue;
        p.done = true;
        p.fail(new StoreUnavailableError(`redis did not answer within ${this.#timeoutMs} ms`, undefined));
      }
      this.#arm();
    }, Math.max(1, Math.ceil(head.deadline - performance.now())));
    this.#timer.unref();
  }

  #unavailable(key: string, n: number, now: number, error: StoreUnavailableError): RateLimitDecision {
    this.#storeErrors++;
    for (const l of this.#listeners) {
      try {
        l(error);
      } catch {
        // A listener's failure must not change the decision.
      }
    }
    switch (this.#onUnavailable) {
      case 'local':
        this.#localDecisions++;
        return this.#local.tryAcquire(key, n);
      case 'fail-open':
        this.#failOpen++;
        return decision(true, this.#params.limit - n, 0, now);
      case 'fail-closed':
        this.#failClosed++;
        return decision(false, 0, this.#failClosedRetryMs, now + this.#failClosedRetryMs);
    }
  }
}

/** `{ allowed 0|1, packed <ddd remaining, retryAfterMs, resetAtMs }`: exact doubles, no decimal parsing. */
function parseReply(reply: unknown): RateLimitDecision | undefined {
  if (!Array.isArray(reply) || reply.length !== 2) return undefined;
  const [a, nums] = reply as unknown[];
  if ((a !== 0 && a !== 1) || !Buffer.isBuffer(nums) || nums.length !== 24) return undefined;
  return decision(a === 1, nums.readDoubleLE(0), nums.readDoubleLE(8), nums.readDoubleLE(16));
}

