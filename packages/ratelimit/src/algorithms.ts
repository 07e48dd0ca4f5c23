/**
 * The four algorithms as pure policies over small per-key state objects. A policy never reads a
 * clock: `now` is an argument. The Redis store's Lua scripts (lua.ts) are line-by-line ports of
 * these functions and perform the same IEEE-754 operations in the same order, so a memory limiter
 * and a Redis limiter given the same calls and the same clock return identical decisions.
 */
import type { Algorithm, Params, RateLimitDecision } from './config.js';

/**
 * Every decision is made here, so all share one allocation site and one object shape (with
 * literals spread over the algorithms, V8 saw several shapes and slowed the keyed hot path).
 */
export function decision(allowed: boolean, remaining: number, retryAfterMs: number, resetAtMs: number): RateLimitDecision {
  return { allowed, remaining, retryAfterMs, resetAtMs };
}

/** 2^-52: relative step used to nudge a wait past float rounding. */
const EPS = 2.220446049250313e-16;
/** Smallest nudge in ms. */
const MIN_STEP = 1e-9;
/** Bound on nudges; doubling steps from 1e-9 cover every finite wait well before this. */
const MAX_NUDGES = 1100;

export interface Policy<S> {
  readonly algorithm: Algorithm;
  readonly params: Params;
  /** State of a key never seen (or fully idle) at time `now`. */
  create(now: number): S;
  /** Decides, consuming `n` when allowed. `n` is already validated (integer in 1..limit). */
  decide(s: S, now: number, n: number): RateLimitDecision;
  /** Would `decide(s, t, n)` allow? Pure. */
  allowedAt(s: S, t: number, n: number): boolean;
  /** Time from which the state is (about) a fresh key's; ranks eviction candidates. */
  idleAt(s: S): number;
  /** Does `decide(s, now, ·)` behave exactly like `decide(create(now), now, ·)`? Then the key can be forgotten. */
  isIdle(s: S, now: number): boolean;
  /** Units available at `now` without consuming (fractional for the token bucket). Pure. */
  available(s: S, now: number): number;
}

/**
 * Smallest `r ≥ raw` (up to float steps) such that `decide` at `now + r` allows. `raw` is the exact
 * real-number answer; float rounding can put `now + raw` a hair early, so it is checked against the
 * very expression `decide` evaluates and nudged forward until that passes.
 */
export function settle<S>(p: Policy<S>, s: S, now: number, raw: number, n: number): number {
  let r = raw > 0 ? raw : 0;
  let step = 0;
  for (let i = 0; i < MAX_NUDGES && !p.allowedAt(s, now + r, n); i++) {
    if (step === 0) step = Math.max(Math.abs(now + r) * EPS, MIN_STEP);
    r += step;
    step *= 2;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Token bucket

// State fields start as numbers (`= 0`), never as `undefined`: a field that once held `undefined`
// is stored tagged, and every later double written to it allocates a fresh heap number.
export class BucketState {
  tokens = 0;
  last = 0;
  constructor(tokens: number, last: number) {
    this.tokens = tokens;
    this.last = last;
  }
}

/**
 * Capacity `limit`, refill `ratePerMs`, starts full, refilled lazily on each call (never by a
 * timer), fractional tokens. A clock that goes backwards refills nothing.
 */
export class TokenBucketPolicy implements Policy<BucketState> {
  readonly algorithm = 'token-bucket';
  readonly params: Params;
  readonly #cap: number;
  readonly #rate: number;

  constructor(params: Params) {
    this.params = params;
    this.#cap = params.limit;
    this.#rate = params.ratePerMs;
  }

  create(now: number): BucketState {
    return new BucketState(this.#cap, now);
  }

  decide(s: BucketState, now: number, n: number): RateLimitDecision {
    const cap = this.#cap;
    const rate = this.#rate;
    if (now > s.last) {
      s.tokens = Math.min(cap, s.tokens + (now - s.last) * rate);
      s.last = now;
    }
    const tokens = s.tokens;
    if (tokens >= n) {
      const left = tokens - n;
      s.tokens = left;
      return decision(true, Math.floor(left), 0, s.last + (cap - left) / rate);
    }
    return this.#denied(s, now, n, tokens);
  }

  /** Out of line: keeps `decide` small enough to inline. */
  #denied(s: BucketState, now: number, n: number, tokens: number): RateLimitDecision {
    const ahead = s.last > now ? s.last - now : 0;
    const retry = settle(this, s, now, ahead + (n - tokens) / this.#rate, n);
    return decision(false, Math.floor(tokens), retry, s.last + (this.#cap - tokens) / this.#rate);
  }

  allowedAt(s: BucketState, t: number, n: number): boolean {
    return this.available(s, t) >= n;
  }

  isIdle(s: BucketState, now: number): boolean {
    return now > s.last ? Math.min(this.#cap, s.tokens + (now - s.last) * this.#rate) >= this.#cap : s.tokens >= this.#cap && now === s.last;
  }

  idleAt(s: BucketState): number {
    return s.last + (this.#cap - s.tokens) / this.#rate;
  }

  available(s: BucketState, now: number): number {
    return now > s.last ? Math.min(this.#cap, s.tokens + (now - s.last) * this.#rate) : s.tokens;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed window

export class WindowState {
  idx = 0;
  count = 0;
  constructor(idx: number, count: number) {
    this.idx = idx;
    this.count = count;
  }
}

/** At most `limit` units per window `[k·W, (k+1)·W)`, windows aligned to clock 0. */
export class FixedWindowPolicy implements Policy<WindowState> {
  readonly algorithm = 'fixed-window';
  readonly params: Params;
  readonly #limit: number;
  readonly #w: number;

  constructor(params: Params) {
    this.params = params;
    this.#limit = params.limit;
    this.#w = params.windowMs;
  }

  create(now: number): WindowState {
    return new WindowState(Math.floor(now / this.#w), 0);
  }

  decide(s: WindowState, now: number, n: number): RateLimitDecision {
    const w = this.#w;
    const idx = Math.floor(now / w);
    if (idx > s.idx) {
      s.idx = idx;
      s.count = 0;
    }
    if (s.count + n <= this.#limit) {
      s.count += n;
      return decision(true, this.#limit - s.count, 0, (s.idx + 1) * w);
    }
    const retry = settle(this, s, now, (s.idx + 1) * w - now, n);
    return decision(false, this.#limit - s.count, retry, (s.idx + 1) * w);
  }

  allowedAt(s: WindowState, t: number, n: number): boolean {
    if (Math.floor(t / this.#w) > s.idx) return n <= this.#limit;
    return s.count + n <= this.#limit;
  }

  isIdle(s: WindowState, now: number): boolean {
    return s.count === 0 || Math.floor(now / this.#w) > s.idx;
  }

  idleAt(s: WindowState): number {
    return s.count > 0 ? (s.idx + 1) * this.#w : -Infinity;
  }

  available(s: WindowState, now: number): number {
    return Math.floor(now / this.#w) > s.idx ? this.#limit : this.#limit - s.count;
  }
}

// ---------------------------------------------------------------------------------------------
// Sliding-window counter

export class CounterState {
  idx = 0;
  prev = 0;
  curr = 0;
  constructor(idx: number, prev: number, curr: number) {
    this.idx = idx;
    this.prev = prev;
    this.curr = curr;
  }
}

/**
 * The O(1) sliding-window counter: estimate = previous window's count × the fraction of the
 * sliding window that still overlaps it + the current window's count. Admits when
 * `estimate + n ≤ limit`. Two numbers and a window index per key.
 */
export class SlidingWindowPolicy implements Policy<CounterState> {
  readonly algorithm = 'sliding-window';
  readonly params: Params;
  readonly #limit: number;
  readonly #w: number;

  constructor(params: Params) {
    this.params = params;
    this.#limit = params.limit;
    this.#w = params.windowMs;
  }

  create(now: number): CounterState {
    return new CounterState(Math.floor(now / this.#w), 0, 0);
  }

  #weight(idx: number, t: number): number {
    const w = 1 - (t - idx * this.#w) / this.#w;
    return w < 0 ? 0 : w > 1 ? 1 : w;
  }

  decide(s: CounterState, now: number, n: number): RateLimitDecision {
    const w = this.#w;
    const limit = this.#limit;
    const idx = Math.floor(now / w);
    if (idx > s.idx) {
      s.prev = idx === s.idx + 1 ? s.curr : 0;
      s.curr = 0;
      s.idx = idx;
    }
    const est = s.prev * this.#weight(s.idx, now) + s.curr;
    if (est + n <= limit) {
      s.curr += n;
      const left = limit - (est + n);
      return decision(true, left > 0 ? Math.floor(left) : 0, 0, (s.idx + 2) * w);
    }
    let at: number;
    if (s.curr + n <= limit) {
      // Wait for the previous window's weight to decay.
      at = s.idx * w + w * (1 - (limit - s.curr - n) / s.prev);
    } else {
      // Next window: the current count becomes the decaying previous one.
      at = (s.idx + 1) * w + w * (1 - (limit - n) / s.curr);
    }
    const retry = settle(this, s, now, at - now, n);
    const left = limit - est;
    return decision(false, left > 0 ? Math.floor(left) : 0, retry, this.idleAt(s));
  }

  allowedAt(s: CounterState, t: number, n: number): boolean {
    const idx = Math.floor(t / this.#w);
    let prev = s.prev;
    let curr = s.curr;
    let i = s.idx;
    if (idx > i) {
      prev = idx === i + 1 ? curr : 0;
      curr = 0;
      i = idx;
    }
    return prev * this.#weight(i, t) + curr + n <= this.#limit;
  }

  isIdle(s: CounterState, now: number): boolean {
    const idx = Math.floor(now / this.#w);
    if (idx < s.idx) return false;
    return (s.prev === 0 && s.curr === 0) || idx > s.idx + 1 || (idx === s.idx + 1 && s.curr === 0);
  }

  idleAt(s: CounterState): number {
    return s.curr > 0 ? (s.idx + 2) * this.#w : s.prev > 0 ? (s.idx + 1) * this.#w : -Infinity;
  }

  available(s: CounterState, now: number): number {
    const idx = Math.floor(now / this.#w);
    let prev = s.prev;
    let curr = s.curr;
    let i = s.idx;
    if (idx > i) {
      prev = idx === i + 1 ? curr : 0;
      curr = 0;
      i = idx;
    }
    const left = this.#limit - (prev * this.#weight(i, now) + curr);
    return left > 0 ? left : 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Sliding log

/**
 * Admitted requests in time order, as a ring of `(time, weight)` pairs in one flat array
 * `e = [time, weight, time, weight, …]` of `2 × capacity` numbers (capacity a power of two, grown by
 * doubling when full and never shrunk). Steady state allocates nothing, so a busy log does not
 * churn the garbage collector; one array per key keeps a short log small.
 */
export class LogState {
  e: number[] = [];
  /** Entry index of the oldest live entry. */
  head = 0;
  /** Live entries. */
  len = 0;
  sum = 0;
}

/** Array index of the time of live entry `i` (0 = oldest); its weight is at the next index. */
function slot(s: LogState, i: number): number {
  return ((s.head + i) & ((s.e.length >> 1) - 1)) << 1;
}

/**
 * The exact sliding log: admits when the weights of the requests admitted in the last `W` ms plus
 * `n` stay within `limit`. An entry admitted at `a` stops counting at the first `t` with
 * `t - a ≥ W`. At most `limit` entries per key (each weighs ≥ 1).
 */
export class SlidingLogPolicy implements Policy<LogState> {
  readonly algorithm = 'sliding-log';
  readonly params: Params;
  readonly #limit: number;
  readonly #w: number;

  constructor(params: Params) {
    this.params = params;
    this.#limit = params.limit;
    this.#w = params.windowMs;
  }

  create(_now: number): LogState {
    return new LogState();
  }

  #expire(s: LogState, now: number): void {
    const w = this.#w;
    const e = s.e;
    while (s.len > 0) {
      const i = slot(s, 0);
      if (!(now - (e[i] ?? 0) >= w)) break;
      s.sum -= e[i + 1] ?? 0;
      s.head = (s.head + 1) & ((e.length >> 1) - 1);
      s.len--;
    }
  }

  #push(s: LogState, t: number, n: number): void {
    const cap = s.e.length >> 1;
    if (s.len === cap) {
      const grown = new Array<number>(cap === 0 ? 2 : cap * 4);
      for (let i = 0; i < s.len; i++) {
        const j = slot(s, i);
        grown[2 * i] = s.e[j] ?? 0;
        grown[2 * i + 1] = s.e[j + 1] ?? 0;
      }
      s.e = grown;
      s.head = 0;
    }
    const j = slot(s, s.len);
    s.e[j] = t;
    s.e[j + 1] = n;
    s.len++;
    s.sum += n;
  }

  #newest(s: LogState): number {
    return s.e[slot(s, s.len - 1)] ?? 0;
  }

  decide(s: LogState, now: number, n: number): RateLimitDecision {
    const w = this.#w;
    const limit = this.#limit;
    this.#expire(s, now);
    if (s.sum + n <= limit) {
      // Keep times ordered even if the clock steps back.
      const last = s.len > 0 ? this.#newest(s) : now;
      const at = now > last ? now : last;
      this.#push(s, at, n);
      return decision(true, limit - s.sum, 0, at + w);
    }
    // Free the oldest entries until n fits; the wait ends when the last of those expires.
    const need = s.sum + n - limit;
    let freed = 0;
    let i = 0;
    while (freed < need && i < s.len) {
      freed += s.e[slot(s, i) + 1] ?? 0;
      i++;
    }
    const retry = settle(this, s, now, (s.e[slot(s, i - 1)] ?? 0) + w - now, n);
    return decision(false, limit - s.sum, retry, this.#newest(s) + w);
  }

  #sumAt(s: LogState, t: number): number {
    const w = this.#w;
    let sum = s.sum;
    for (let i = 0; i < s.len; i++) {
      const j = slot(s, i);
      if (!(t - (s.e[j] ?? 0) >= w)) break;
      sum -= s.e[j + 1] ?? 0;
    }
    return sum;
  }

  allowedAt(s: LogState, t: number, n: number): boolean {
    return this.#sumAt(s, t) + n <= this.#limit;
  }

  isIdle(s: LogState, now: number): boolean {
    return s.len === 0 || now - this.#newest(s) >= this.#w;
  }

  idleAt(s: LogState): number {
    return s.len > 0 ? this.#newest(s) + this.#w : -Infinity;
  }

  available(s: LogState, now: number): number {
    return this.#limit - this.#sumAt(s, now);
  }
}

export type AnyState = BucketState | WindowState | CounterState | LogState;

export function policyFor(params: Params): Policy<AnyState> {
  switch (params.algorithm) {
    case 'token-bucket':
      return new TokenBucketPolicy(params);
    case 'fixed-window':
      return new FixedWindowPolicy(params);
    case 'sliding-window':
      return new SlidingWindowPolicy(params);
    case 'sliding-log':
      return new SlidingLogPolicy(params);
  }
}
