import type { Clock, TimerHandle } from './clock.js';
import type { RateLimitDecision } from './config.js';
import { QueueFullError, RateLimitedError } from './errors.js';

/** Decides one request; sync for the memory limiter, async for the Redis one. */
export type DecideFn = (key: string, n: number) => RateLimitDecision | Promise<RateLimitDecision>;

interface Waiter {
  readonly n: number;
  readonly deadline: number;
  readonly resolve: (d: RateLimitDecision) => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  deadlineTimer: TimerHandle | undefined;
  done: boolean;
}

interface KeyQueue {
  readonly waiters: Waiter[];
  timer: TimerHandle | undefined;
  /** When `timer` fires (clock time). */
  nextAt: number;
  /** An async decision for the head is in flight. */
  busy: boolean;
}

/**
 * Per-key FIFO wait queues for `acquire`. Only the head of a key's queue is ever decided, so
 * requests for one key are admitted in arrival order; one timer per waiting key (armed for the
 * head's `retryAfterMs`) plus one per waiter with a finite `maxWaitMs`. Bounded per key and in total;
 * arrivals beyond a bound are refused at once with {@link QueueFullError}.
 */
export class WaitQueues {
  readonly #queues = new Map<string, KeyQueue>();
  readonly #decide: DecideFn;
  readonly #clock: Clock;
  readonly #maxPerKey: number;
  readonly #maxTotal: number;
  #total = 0;
  #closedWith: unknown = undefined;

  constructor(decide: DecideFn, clock: Clock, maxPerKey: number, maxTotal: number) {
    this.#decide = decide;
    this.#clock = clock;
    this.#maxPerKey = maxPerKey;
    this.#maxTotal = maxTotal;
  }

  get waiting(): number {
    return this.#total;
  }

  get keys(): number {
    return this.#queues.size;
  }

  has(key: string): boolean {
    return this.#queues.has(key);
  }

  /**
   * Queues a request. `firstRetryMs` is the head's known wait when the queue is new (the caller
   * just got a denied decision), so the timer can be armed without deciding again.
   */
  wait(key: string, n: number, maxWaitMs: number, signal: AbortSignal | undefined, firstRetryMs: number | undefined): Promise<RateLimitDecision> {
    let q = this.#queues.get(key);
    if (q !== undefined && q.waiters.length >= this.#maxPerKey) return Promise.reject(new QueueFullError(key, 'key', this.#maxPerKey));
    if (this.#total >= this.#maxTotal) return Promise.reject(new QueueFullError(key, 'limiter', this.#maxTotal));
    const created = q === undefined;
    if (q === undefined) {
      q = { waiters: [], timer: undefined, nextAt: 0, busy: false };
      this.#queues.set(key, q);
    }
    const queue = q;
    return new Promise<RateLimitDecision>((resolve, reject) => {
      const now = this.#clock.now();
      const w: Waiter = { n, deadline: now + maxWaitMs, resolve, reject, signal, onAbort: undefined, deadlineTimer: undefined, done: false };
      queue.waiters.push(w);
      this.#total++;
      if (signal !== undefined) {
        w.onAbort = () => { this.#remove(key, queue, w, signal.reason); };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (maxWaitMs !== Infinity) {
        w.deadlineTimer = this.#clock.setTimer(() => {
          w.deadlineTimer = undefined;
          // The head is settled by the pump when its wake-up is within the deadline.
          if (queue.waiters[0] === w && (queue.busy || (queue.timer !== undefined && queue.nextAt <= w.deadline))) return;
          const est = queue.timer !== undefined ? Math.max(0, queue.nextAt - this.#clock.now()) : 0;
          this.#remove(key, queue, w, new RateLimitedError(key, est));
        }, maxWaitMs);
      }
      if (created) {
        if (firstRetryMs !== undefined) this.#arm(key, queue, firstRetryMs);
        else this.#pump(key, queue);
      }
    });
  }

  /** Re-decides a key's head now (after `reset(key)`, for example). */
  wake(key: string): void {
    const q = this.#queues.get(key);
    if (q === undefined || q.busy) return;
    q.timer?.cancel();
    q.timer = undefined;
    this.#pump(key, q);
  }

  /** Rejects every waiter with `error` and refuses nothing further (the owner stops calling). */
  close(error: unknown): void {
    this.#closedWith = error;
    for (const [key, q] of this.#queues) {
      q.timer?.cancel();
      for (const w of [...q.waiters]) this.#settle(key, q, w, undefined, error);
    }
    this.#queues.clear();
  }

  #arm(key: string, q: KeyQueue, delayMs: number): void {
    q.nextAt = this.#clock.now() + delayMs;
    q.timer = this.#clock.setTimer(() => {
      q.timer = undefined;
      this.#pump(key, q);
    }, delayMs);
  }

  #pump(key: string, q: KeyQueue): void {
    for (;;) {
      if (this.#closedWith !== undefined) return;
      const head = q.waiters[0];
      if (head === undefined) {
        if (this.#queues.get(key) === q) this.#queues.delete(key);
        return;
      }
      let d: RateLimitDecision | Promise<RateLimitDecision>;
      try {
        d = this.#decide(key, head.n);
      } catch (e) {
        this.#settle(key, q, head, undefined, e);
        continue;
      }
      if (d instanceof Promise) {
        q.busy = true;
        d.then(
          (res) => {
            q.busy = false;
            if (this.#closedWith !== undefined || head.done) {
              this.#pump(key, q);
              return;
            }
            if (this.#handle(key, q, head, res)) this.#pump(key, q);
          },
          (e: unknown) => {
            q.busy = false;
            if (!head.done) this.#settle(key, q, head, undefined, e);
            this.#pump(key, q);
          },
        );
        return;
      }
      if (!this.#handle(key, q, head, d)) return;
    }
  }

  /** Applies a decision to the head; true when the pump should go on to the next waiter. */
  #handle(key: string, q: KeyQueue, head: Waiter, d: RateLimitDecision): boolean {
    if (d.allowed) {
      this.#settle(key, q, head, d, undefined);
      return true;
    }
    if (this.#clock.now() + d.retryAfterMs > head.deadline) {
      this.#settle(key, q, head, undefined, new RateLimitedError(key, d.retryAfterMs));
      return true;
    }
    this.#arm(key, q, d.retryAfterMs);
    return false;
  }

  #remove(key: string, q: KeyQueue, w: Waiter, error: unknown): void {
    if (w.done) return;
    const wasHead = q.waiters[0] === w;
    this.#settle(key, q, w, undefined, error);
    if (q.waiters.length === 0) {
      q.timer?.cancel();
      q.timer = undefined;
      if (!q.busy && this.#queues.get(key) === q) this.#queues.delete(key);
    } else if (wasHead && !q.busy) {
      q.timer?.cancel();
      q.timer = undefined;
      this.#pump(key, q);
    }
  }

  #settle(_key: string, q: KeyQueue, w: Waiter, d: RateLimitDecision | undefined, error: unknown): void {
    if (w.done) return;
    w.done = true;
    const i = q.waiters.indexOf(w);
    if (i >= 0) q.waiters.splice(i, 1);
    this.#total--;
    w.deadlineTimer?.cancel();
    w.deadlineTimer = undefined;
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
    w.onAbort = undefined;
    if (d !== undefined) w.resolve(d);
    else w.reject(error);
  }
}
