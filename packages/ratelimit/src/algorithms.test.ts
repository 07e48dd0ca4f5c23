import { describe, expect, it } from 'vitest';
import { FixedWindow, ManualClock, SlidingLog, SlidingWindowCounter, TokenBucket } from './index.js';

describe('TokenBucket', () => {
  it('starts full, refills lazily with fractional tokens, and gives the exact retryAfterMs', () => {
    const clock = new ManualClock(1000);
    const b = new TokenBucket({ capacity: 10, refillPerSecond: 4, clock });
    expect(b.available()).toBe(10);
    const d = b.tryAcquire(10);
    expect(d).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetAtMs: 1000 + 2500 });
    const denied = b.tryAcquire(1);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBe(250); // 1 token at 4/s
    clock.advance(100);
    expect(b.available()).toBeCloseTo(0.4, 12);
    expect(b.tryAcquire(1).retryAfterMs).toBeCloseTo(150, 9);
    clock.advance(150);
    expect(b.tryAcquire(1).allowed).toBe(true);
    expect(b.tryAcquire(1).allowed).toBe(false);
    clock.advance(60_000);
    expect(b.available()).toBe(10); // capped at capacity
  });

  it('a denied decision consumes nothing; n units need n tokens', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 5, refillPerSecond: 1, clock });
    expect(b.tryAcquire(3).allowed).toBe(true);
    const d = b.tryAcquire(3);
    expect(d).toMatchObject({ allowed: false, remaining: 2, retryAfterMs: 1000 });
    expect(b.tryAcquire(2)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('a clock that steps back creates no tokens', () => {
    let t = 10_000;
    const clock = { now: () => t, setTimer: () => ({ cancel() {} }) };
    const b = new TokenBucket({ capacity: 2, refillPerSecond: 1, clock });
    b.tryAcquire(2);
    t = 5_000;
    const d = b.tryAcquire(1);
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBe(6_000); // back to 10 000, then 1 s for a token
    t = 11_000;
    expect(b.tryAcquire(1).allowed).toBe(true);
  });
});

describe('FixedWindow', () => {
  it('admits limit per aligned window and retries at the next window', () => {
    const clock = new ManualClock(1500);
    const f = new FixedWindow({ limit: 3, windowMs: 1000, clock });
    expect(f.tryAcquire(2)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0, resetAtMs: 2000 });
    expect(f.tryAcquire(2)).toEqual({ allowed: false, remaining: 1, retryAfterMs: 500, resetAtMs: 2000 });
    expect(f.tryAcquire(1).allowed).toBe(true);
    clock.advance(500);
    expect(f.tryAcquire(3).allowed).toBe(true);
  });
});

describe('SlidingLog', () => {
  it('counts weights in the last window exactly', () => {
    const clock = new ManualClock(0);
    const l = new SlidingLog({ limit: 5, windowMs: 1000, clock });
    expect(l.tryAcquire(2).allowed).toBe(true); // t=0
    clock.advance(300);
    expect(l.tryAcquire(3).allowed).toBe(true); // t=300
    clock.advance(100);
    const d = l.tryAcquire(3); // needs both entries gone? no: the first (2) frees 2 of the 3 needed
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBe(900); // t=1300 when the entry of t=300 expires
    expect(l.tryAcquire(2).retryAfterMs).toBe(600); // t=1000 frees 2
    clock.advance(600);
    expect(l.tryAcquire(2)).toMatchObject({ allowed: true, remaining: 0, resetAtMs: 2000 });
  });
});

describe('SlidingWindowCounter', () => {
  it('weights the previous window by its overlap', () => {
    const clock = new ManualClock(0);
    const c = new SlidingWindowCounter({ limit: 10, windowMs: 1000, clock });
    expect(c.tryAcquire(10).allowed).toBe(true);
    clock.set(1250); // previous = 10 weighted 0.75 → 7.5
    expect(c.available()).toBe(2.5);
    expect(c.tryAcquire(2).allowed).toBe(true);
    const d = c.tryAcquire(3); // 7.5 + 2 + 3 > 10: needs prev weight ≤ 0.5 → t = 1500
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBe(250);
    clock.advance(250);
    expect(c.tryAcquire(3).allowed).toBe(true);
  });

  it('when the current window is already too full, waits into the next window', () => {
    const clock = new ManualClock(0);
    const c = new SlidingWindowCounter({ limit: 4, windowMs: 1000, clock });
    clock.set(500);
    c.tryAcquire(4);
    const d = c.tryAcquire(2); // next window: prev=4, needs 4w + 2 ≤ 4 → w ≤ 0.5 → t = 1500
    expect(d.retryAfterMs).toBe(1000);
    clock.advance(d.retryAfterMs);
    expect(c.tryAcquire(2).allowed).toBe(true);
  });
});
