import { describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, type CircuitBreakerOptions, type Permit, type Rejection, type StateChange } from './index.js';

function fakeClock(start = 1_000): { now(): number; t: number; advance(ms: number): void } {
  const c = {
    t: start,
    now: () => c.t,
    advance: (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

function make(opts: CircuitBreakerOptions = {}) {
  const clock = fakeClock();
  const b = new CircuitBreaker({ resetTimeoutMs: 1_000, clock, ...opts });
  return { b, clock };
}

function permit(r: Permit | Rejection): Permit {
  if (!r.ok) throw new Error(`expected a permit, got rejection ${r.reason}`);
  return r;
}

function fail(b: CircuitBreaker, n: number): void {
  for (let i = 0; i < n; i++) permit(b.tryAcquire()).failure(new Error('x'));
}

describe('CircuitBreaker state machine (tryAcquire)', () => {
  it('trips after 5 consecutive failures by default, and a success resets the count', () => {
    const { b } = make();
    fail(b, 4);
    permit(b.tryAcquire()).success();
    fail(b, 4);
    expect(b.state).toBe('closed');
    fail(b, 1);
    expect(b.state).toBe('open');
  });

  it('rejects while open with retryAfterMs, then admits probes after resetTimeoutMs', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 } });
    fail(b, 1);
    clock.advance(400);
    const r = b.tryAcquire();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('open');
    expect(r.retryAfterMs).toBe(600);
    expect(r.toError().code).toBe('CIRCUIT_OPEN');
    expect(r.toError().retryAfterMs).toBe(600);
    expect(b.retryAfterMs()).toBe(600);
    clock.advance(600);
    expect(b.tryAcquire().ok).toBe(true);
    expect(b.state).toBe('half-open');
  });

  it('admits at most halfOpenMaxCalls probes at once; every outcome frees its permit', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 }, halfOpenMaxCalls: 2, successThreshold: 3 });
    fail(b, 1);
    clock.advance(1_000);
    const p1 = permit(b.tryAcquire());
    const p2 = permit(b.tryAcquire());
    const r = b.tryAcquire();
    expect(r.ok ? null : r.reason).toBe('half-open-full');
    p1.success();
    const p3 = permit(b.tryAcquire());
    expect(b.tryAcquire().ok).toBe(false);
    p2.cancel();
    const p4 = permit(b.tryAcquire());
    p3.success();
    expect(b.state).toBe('half-open');
    p4.success();
    expect(b.state).toBe('closed');
  });

  it('closes after successThreshold successful probes (default 2)', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 } });
    fail(b, 1);
    clock.advance(1_000);
    permit(b.tryAcquire()).success();
    expect(b.state).toBe('half-open');
    permit(b.tryAcquire()).success();
    expect(b.state).toBe('closed');
  });

  it('a failed probe reopens, and the open period grows with resetBackoff up to its max, reset on close', () => {
    const { b, clock } = make({
      trip: { type: 'consecutive', failures: 1 },
      successThreshold: 1,
      resetBackoff: { multiplier: 3, maxResetTimeoutMs: 5_000 },
    });
    fail(b, 1);
    expect(b.retryAfterMs()).toBe(1_000);
    const periods: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(b.retryAfterMs());
      permit(b.tryAcquire()).failure();
      expect(b.state).toBe('open');
      periods.push(b.retryAfterMs());
    }
    expect(periods).toEqual([3_000, 5_000, 5_000, 5_000]);
    clock.advance(5_000);
    permit(b.tryAcquire()).success();
    expect(b.state).toBe('closed');
    fail(b, 1);
    expect(b.retryAfterMs()).toBe(1_000);
  });

  it('without resetBackoff the open period stays the same', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 } });
    fail(b, 1);
    clock.advance(1_000);
    permit(b.tryAcquire()).failure();
    expect(b.retryAfterMs()).toBe(1_000);
  });

  it('an outcome from an earlier period is counted but changes no state', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 }, successThreshold: 1 });
    const old = permit(b.tryAcquire());
    fail(b, 1);
    expect(b.state).toBe('open');
    clock.advance(1_000);
    const probe = permit(b.tryAcquire());
    old.success(); // stale: must not count as a probe success
    expect(b.state).toBe('half-open');
    probe.success();
    expect(b.state).toBe('closed');
    expect(b.stats().successes).toBe(2);
  });

  it('a stale failure arriving while open does not extend the open period', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 } });
    const late = permit(b.tryAcquire());
    fail(b, 1);
    clock.advance(900);
    late.failure();
    expect(b.retryAfterMs()).toBe(100);
  });

  it('a probe from an earlier half-open period neither frees a permit nor counts as a probe success', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 }, halfOpenMaxCalls: 2, successThreshold: 1 });
    fail(b, 1);
    clock.advance(1_000);
    const p1 = permit(b.tryAcquire());
    const p2 = permit(b.tryAcquire());
    p1.failure(); // back to open
    clock.advance(1_000);
    const p3 = permit(b.tryAcquire());
    const p4 = permit(b.tryAcquire());
    p2.success(); // stale
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire().ok).toBe(false);
    p3.cancel();
    p4.success();
    expect(b.state).toBe('closed');
  });

  it('ignores a second outcome report on a probe permit and extra reports on the closed permit', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 2 } });
    const p = permit(b.tryAcquire());
    p.failure();
    p.failure();
    expect(b.state).toBe('closed');
    expect(b.stats().failures).toBe(1);
    fail(b, 1);
    clock.advance(1_000);
    const probe = permit(b.tryAcquire());
    probe.success();
    probe.success();
    expect(b.state).toBe('half-open');
    expect(b.stats().successes).toBe(1);
  });

  it('returns the same permit and the same rejection object (no allocation on the hot path)', () => {
    const { b } = make({ trip: { type: 'consecutive', failures: 1 } });
    const a = b.tryAcquire();
    const c = b.tryAcquire();
    expect(a).toBe(c);
    permit(a).success();
    permit(c).failure();
    expect(b.tryAcquire()).toBe(b.tryAcquire());
  });

  it('count window: trips on the failure rate over the last N calls once minimumCalls is reached', () => {
    const { b } = make({ trip: { type: 'count', size: 10, failureRate: 0.5, minimumCalls: 6 } });
    fail(b, 4);
    expect(b.state).toBe('closed'); // 4 calls < minimumCalls
    permit(b.tryAcquire()).success();
    expect(b.state).toBe('closed');
    fail(b, 1); // 5 of 6 failed
    expect(b.state).toBe('open');
  });

  it('count window: old outcomes slide out', () => {
    const { b } = make({ trip: { type: 'count', size: 4, failureRate: 0.75, minimumCalls: 4 } });
    fail(b, 2);
    for (let i = 0; i < 4; i++) permit(b.tryAcquire()).success();
    fail(b, 2); // window = [s, s, f, f] → 50 %
    expect(b.state).toBe('closed');
    fail(b, 1); // [s, f, f, f] → 75 %
    expect(b.state).toBe('open');
  });

  it('time window: counts only calls inside windowMs', () => {
    const { b, clock } = make({ trip: { type: 'time', windowMs: 1_000, buckets: 10, failureRate: 0.5, minimumCalls: 4 } });
    fail(b, 3);
    clock.advance(1_000); // the three failures age out
    for (let i = 0; i < 3; i++) permit(b.tryAcquire()).success();
    fail(b, 2); // 2 of 5
    expect(b.state).toBe('closed');
    fail(b, 1); // 3 of 6
    expect(b.state).toBe('open');
  });

  it('a saturated half-open breaker rejects with reason half-open-full and retryAfterMs 0', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 }, halfOpenMaxCalls: 1 });
    fail(b, 1);
    clock.advance(1_000);
    permit(b.tryAcquire());
    const r = b.tryAcquire();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect([r.reason, r.retryAfterMs]).toEqual(['half-open-full', 0]);
    expect(r.toError()).toMatchObject({ code: 'CIRCUIT_OPEN', reason: 'half-open-full', retryAfterMs: 0 });
    expect(b.retryAfterMs()).toBe(0);
  });

  it('a state-change listener that isolates the breaker on half-open is respected by the admitting call', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 } });
    b.onStateChange((e) => {
      if (e.to === 'half-open') b.isolate();
    });
    fail(b, 1);
    clock.advance(1_000);
    const r = b.tryAcquire();
    expect(r.ok ? null : r.reason).toBe('isolated');
    expect(b.state).toBe('isolated');
  });

  it('isolate() holds the breaker until every handle is released; reset() drops holds', () => {
    const { b } = make();
    const h1 = b.isolate();
    const h2 = b.isolate();
    const r = b.tryAcquire();
    expect(r.ok ? null : [r.reason, r.retryAfterMs]).toEqual(['isolated', Infinity]);
    h1[Symbol.dispose]();
    h1[Symbol.dispose]();
    expect(b.state).toBe('isolated');
    h2[Symbol.dispose]();
    expect(b.state).toBe('closed');
    b.isolate();
    b.reset();
    expect(b.state).toBe('closed');
  });

  it('reset() closes an open breaker and clears the failure count', () => {
    const { b } = make({ trip: { type: 'consecutive', failures: 2 } });
    fail(b, 2);
    b.reset();
    expect(b.state).toBe('closed');
    fail(b, 1);
    b.reset();
    fail(b, 1);
    expect(b.state).toBe('closed');
  });

  it('stats count successes, failures, rejections, cancels and transitions once each', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 2 }, successThreshold: 1 });
    permit(b.tryAcquire()).success();
    permit(b.tryAcquire()).cancel();
    fail(b, 2);
    b.tryAcquire();
    b.tryAcquire();
    clock.advance(1_000);
    permit(b.tryAcquire()).success();
    expect(b.stats()).toEqual({
      name: 'breaker',
      state: 'closed',
      successes: 2,
      failures: 2,
      rejections: 2,
      cancelled: 1,
      timeouts: 0,
      transitions: 3,
      inFlight: 0,
    });
  });

  it('emits typed state-change and rejection events; disposing unsubscribes', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 }, successThreshold: 1, name: 'svc' });
    const changes: StateChange[] = [];
    const sub = b.onStateChange((e) => changes.push(e));
    const rejections: number[] = [];
    using _r = b.onRejection((e) => rejections.push(e.retryAfterMs));
    fail(b, 1);
    b.tryAcquire();
    clock.advance(1_000);
    permit(b.tryAcquire()).success();
    sub[Symbol.dispose]();
    fail(b, 1);
    expect(changes.map((c) => `${c.from}>${c.to}@${c.at}`)).toEqual(['closed>open@1000', 'open>half-open@2000', 'half-open>closed@2000']);
    expect(changes[0]!.breaker).toBe('svc');
    expect(rejections).toEqual([1_000]);
  });

  it('a throwing listener does not break the breaker or other listeners', () => {
    vi.useFakeTimers();
    try {
      const { b } = make({ trip: { type: 'consecutive', failures: 1 } });
      const seen: string[] = [];
      b.onStateChange(() => {
        throw new Error('listener');
      });
      b.onStateChange((e) => seen.push(e.to));
      const thrown: unknown[] = [];
      const onUncaught = (e: unknown) => thrown.push(e);
      const spy = vi.spyOn(process, 'nextTick').mockImplementation((f) => {
        try {
          (f as () => void)();
        } catch (e) {
          onUncaught(e);
        }
      });
      try {
        fail(b, 1);
      } finally {
        spy.mockRestore();
      }
      expect(b.state).toBe('open');
      expect(seen).toEqual(['open']);
      expect(thrown).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('snapshots', () => {
  const configs: CircuitBreakerOptions[] = [
    { trip: { type: 'consecutive', failures: 3 } },
    { trip: { type: 'count', size: 5, minimumCalls: 5, failureRate: 0.8 } },
    { trip: { type: 'time', windowMs: 1_000, buckets: 4, minimumCalls: 5, failureRate: 0.8 } },
  ];
  for (const cfg of configs) {
    it(`round-trips through toJSON (${cfg.trip?.type ?? ''})`, () => {
      const { b, clock } = make({ ...cfg, resetBackoff: { maxResetTimeoutMs: 10_000 } });
      fail(b, 2);
      permit(b.tryAcquire()).success();
      clock.advance(300);
      fail(b, 1);
      const closed = JSON.parse(JSON.stringify(b)) as ReturnType<CircuitBreaker['toJSON']>;
      const b2 = new CircuitBreaker({ resetTimeoutMs: 1_000, clock, ...cfg, resetBackoff: { maxResetTimeoutMs: 10_000 }, initialState: closed });
      expect(b2.toJSON()).toEqual(b.toJSON());
      // The restored window behaves like the original.
      while (b.state === 'closed') {
        fail(b, 1);
        fail(b2, 1);
        expect(b2.state).toBe(b.state);
      }
      clock.advance(1_000);
      permit(b.tryAcquire()).failure();
      const open = b.toJSON();
      expect(open.resetTimeoutMs).toBe(2_000);
      const b3 = new CircuitBreaker({ resetTimeoutMs: 1_000, clock, ...cfg, resetBackoff: { maxResetTimeoutMs: 10_000 }, initialState: open });
      expect(b3.toJSON()).toEqual(open);
      expect(b3.state).toBe('open');
      expect(b3.retryAfterMs()).toBe(2_000);
    });
  }

  it('restores half-open with its probe successes', () => {
    const { b, clock } = make({ trip: { type: 'consecutive', failures: 1 }, successThreshold: 3 });
    fail(b, 1);
    clock.advance(1_000);
    permit(b.tryAcquire()).success();
    const s = b.toJSON();
    expect(s.state).toBe('half-open');
    expect(s.halfOpenSuccesses).toBe(1);
    const b2 = new CircuitBreaker({ trip: { type: "consecutive", failures: 1 }, successThreshold: 3, resetTimeoutMs: 1_000, clock, initialState: s });
    permit(b2.tryAcquire()).success();
    permit(b2.tryAcquire()).success();
    expect(b2.state).toBe('closed');
  });

  it.each([
    [{ version: 2 }, 'initialState.version'],
    [{ state: 'ajar' }, 'initialState.state'],
    [{ openUntil: Number.NaN }, 'initialState.openUntil'],
    [{ resetTimeoutMs: 5 }, 'initialState.resetTimeoutMs'],
    [{ halfOpenSuccesses: -1 }, 'initialState.halfOpenSuccesses'],
    [{ isolations: 1 }, 'initialState.isolations'],
    [{ window: { type: 'count', outcomes: [] } }, 'initialState.window.type'],
    [{ window: { type: 'consecutive', failures: 1.5 } }, 'initialState.window.failures'],
  ])('rejects a bad snapshot field %j', (patch, field) => {
    const good = new CircuitBreaker({ resetTimeoutMs: 1_000 }).toJSON();
    const bad = { ...good, ...patch } as unknown as typeof good;
    expect(() => new CircuitBreaker({ resetTimeoutMs: 1_000, initialState: bad })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field }));
  });
});

describe('config validation', () => {
  it.each([
    [{ halfOpenMaxCalls: 0 }, 'halfOpenMaxCalls'],
    [{ successThreshold: 1.5 }, 'successThreshold'],
    [{ resetTimeoutMs: -1 }, 'resetTimeoutMs'],
    [{ resetTimeoutMs: Number.NaN }, 'resetTimeoutMs'],
    [{ timeoutMs: Infinity }, 'timeoutMs'],
    [{ name: '' }, 'name'],
    [{ isFailure: 3 }, 'isFailure'],
    [{ clock: {} }, 'clock'],
    [{ resetBackoff: { maxResetTimeoutMs: 10 } }, 'resetBackoff.maxResetTimeoutMs'],
    [{ resetBackoff: { multiplier: 0.5, maxResetTimeoutMs: 1e6 } }, 'resetBackoff.multiplier'],
    [{ trip: { type: 'consecutive', failures: 0 } }, 'trip.failures'],
    [{ trip: { type: 'count', size: 0 } }, 'trip.size'],
    [{ trip: { type: 'count', size: 10, failureRate: 1.5 } }, 'trip.failureRate'],
    [{ trip: { type: 'count', size: 10, failureRate: 0 } }, 'trip.failureRate'],
    [{ trip: { type: 'count', size: 10, minimumCalls: 11 } }, 'trip.minimumCalls'],
    [{ trip: { type: 'time', windowMs: 0 } }, 'trip.windowMs'],
    [{ trip: { type: 'time', windowMs: 10, buckets: 0 } }, 'trip.buckets'],
    [{ trip: { type: 'sometimes' } }, 'trip.type'],
  ])('%j → INVALID_CONFIG naming %s', (opts, field) => {
    expect(() => new CircuitBreaker(opts as unknown as CircuitBreakerOptions)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field }));
  });
});
