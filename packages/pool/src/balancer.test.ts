import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoadBalancer, STRATEGIES, isPoolError, type BalancerEvent, type BalancerOptions } from './index.js';
import { ManualScheduler, flush } from '../test/manual-scheduler.js';
import { rng } from '../test/rng.js';

const eps = (...ids: string[]) => ids.map((id) => ({ id }));

function counts<E>(lb: LoadBalancer<E>, n: number, key?: (i: number) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const e = lb.pick(key?.(i));
    m.set(e.id, (m.get(e.id) ?? 0) + 1);
    lb.recordSuccess(e, 1);
  }
  return m;
}

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isPoolError(e) && e.code === 'INVALID_OPTION' ? (e as unknown as { field: string }).field : `other ${String(e)}`;
  }
  return undefined;
}

describe('LoadBalancer: input validation', () => {
  it('rejects bad input with INVALID_OPTION naming the field', () => {
    const mk = (o: Partial<BalancerOptions<unknown>>) => () => new LoadBalancer({ endpoints: eps('a'), ...o });
    expect(fieldOf(mk({ endpoints: [] }))).toBe('endpoints');
    expect(fieldOf(mk({ endpoints: [{ id: 'a' }, { id: 'b', weight: 0 }] }))).toBe('endpoints[1].weight');
    expect(fieldOf(mk({ endpoints: [{ id: 'a', weight: -1 }] }))).toBe('endpoints[0].weight');
    expect(fieldOf(mk({ endpoints: [{ id: 'a' }, { id: 'a' }] }))).toBe('endpoints[1].id');
    expect(fieldOf(mk({ loadFactor: 0.5 }))).toBe('loadFactor');
    expect(fieldOf(mk({ strategy: 'nope' as never }))).toBe('strategy');
    expect(fieldOf(mk({ outlier: { baseEjectionMs: -1 } }))).toBe('outlier.baseEjectionMs');
    expect(fieldOf(mk({ outlier: { baseEjectionMs: 100, maxEjectionMs: 10 } }))).toBe('outlier.maxEjectionMs');
    const lb = new LoadBalancer({ endpoints: eps('a') });
    expect(fieldOf(() => {
      lb.setWeight('a', 0);
    })).toBe('weight');
    expect(fieldOf(() => {
      lb.add({ id: 'a' });
    })).toBe('endpoint.id');
    expect(() => {
      lb.setWeight('zz', 1);
    }).toThrow(expect.objectContaining({ code: 'UNKNOWN_ENDPOINT' }));
  });

  it('throws NO_ENDPOINTS once every endpoint is removed', () => {
    const lb = new LoadBalancer({ endpoints: eps('a') });
    lb.remove('a');
    expect(() => lb.pick()).toThrow(expect.objectContaining({ code: 'NO_ENDPOINTS' }));
  });
});

describe('LoadBalancer: strategies', () => {
  it('round-robin cycles through the endpoints', () => {
    const lb = new LoadBalancer({ endpoints: eps('a', 'b', 'c') });
    expect(Array.from({ length: 6 }, () => lb.pick().id)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('smooth weighted round-robin interleaves like nginx (5,1,1 → a a b a c a a)', () => {
    const lb = new LoadBalancer({ strategy: 'weighted-round-robin', endpoints: [{ id: 'a', weight: 5 }, { id: 'b', weight: 1 }, { id: 'c', weight: 1 }] });
    expect(Array.from({ length: 7 }, () => lb.pick().id).join(' ')).toBe('a a b a c a a');
  });

  it('smooth weighted round-robin gives each endpoint exactly its weight per cycle (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 12 }), (weights) => {
        const lb = new LoadBalancer({ strategy: 'weighted-round-robin', endpoints: weights.map((weight, i) => ({ id: `n${i}`, weight })) });
        const total = weights.reduce((a, b) => a + b, 0);
        const m = counts(lb, total * 3);
        weights.forEach((w, i) => {
          expect(m.get(`n${i}`) ?? 0).toBe(3 * w);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('smooth weighted round-robin (precomputed cycle) picks exactly what step-by-step nginx picks, across changes', () => {
    type Op = { kind: 'pick'; n: number } | { kind: 'weight'; id: number; w: number } | { kind: 'add' | 'remove'; id: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('pick' as const), n: fc.integer({ min: 1, max: 40 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('weight' as const), id: fc.integer({ min: 0, max: 5 }), w: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(2.5)) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 5 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 5 }) }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60, size: 'max' }), (ops) => {
        const lb = new LoadBalancer({ strategy: 'weighted-round-robin', endpoints: [{ id: 'n0', weight: 3 }, { id: 'n1' }, { id: 'n2', weight: 2 }] });
        // the reference: nginx's algorithm, one step per pick, over the live endpoints in insertion order
        const ref = new Map<string, { w: number; cur: number }>([
          ['n0', { w: 3, cur: 0 }],
          ['n1', { w: 1, cur: 0 }],
          ['n2', { w: 2, cur: 0 }],
        ]);
        const refPick = (): string => {
          let best: string | undefined;
          let total = 0;
          for (const [id, x] of ref) {
            x.cur += x.w;
            total += x.w;
            if (best === undefined || x.cur > ref.get(best)!.cur) best = id;
          }
          if (ref.size > 1) ref.get(best!)!.cur -= total;
          else ref.get(best!)!.cur -= ref.get(best!)!.w; // one endpoint: picked without the algorithm, state unchanged
          return best!;
        };
        const got: string[] = [];
        const want: string[] = [];
        for (const op of ops) {
          const id = op.kind === 'pick' ? '' : `n${op.id}`;
          if (op.kind === 'pick') {
            if (ref.size === 0) continue;
            for (let i = 0; i < op.n; i++) {
              got.push(lb.pick().id);
              want.push(refPick());
            }
          } else if (op.kind === 'weight') {
            if (!ref.has(id)) continue;
            lb.setWeight(id, op.w);
            ref.get(id)!.w = op.w;
          } else if (op.kind === 'add') {
            if (ref.has(id)) continue;
            lb.add({ id });
            ref.set(id, { w: 1, cur: 0 });
          } else {
            lb.remove(id);
            ref.delete(id);
          }
        }
        expect(got).toEqual(want);
      }),
      { numRuns: Number(process.env.POOL_PROPERTY_RUNS ?? 300) },
    );
  }, 120_000);

  it('weighted random follows the weights within tolerance', () => {
    const lb = new LoadBalancer({ strategy: 'random', random: rng(42), endpoints: [{ id: 'a', weight: 3 }, { id: 'b', weight: 1 }, { id: 'c', weight: 6 }] });
    const n = 50_000;
    const m = counts(lb, n);
    expect(Math.abs((m.get('a') ?? 0) / n - 0.3)).toBeLessThan(0.01);
    expect(Math.abs((m.get('b') ?? 0) / n - 0.1)).toBeLessThan(0.01);
    expect(Math.abs((m.get('c') ?? 0) / n - 0.6)).toBeLessThan(0.01);
  });

  it('least-connections picks the endpoint with the fewest requests in flight per weight', () => {
    const lb = new LoadBalancer({ strategy: 'least-connections', endpoints: [{ id: 'a' }, { id: 'b' }, { id: 'c', weight: 2 }] });
    const held = Array.from({ length: 8 }, () => lb.pick());
    const per = new Map<string, number>();
    for (const e of held) per.set(e.id, (per.get(e.id) ?? 0) + 1);
    expect(Object.fromEntries(per)).toEqual({ a: 2, b: 2, c: 4 });
    const b = held.find((e) => e.id === 'b')!;
    lb.recordSuccess(b);
    expect(lb.pick().id).toBe('b');
  });

  it('p2c with peak EWMA steers traffic away from a slow endpoint', () => {
    const sched = new ManualScheduler();
    const lat: Record<string, number> = { fast: 5, mid: 20, slow: 200 };
    const lb = new LoadBalancer({ strategy: 'p2c-ewma', random: rng(7), scheduler: sched, endpoints: eps('fast', 'mid', 'slow') });
    const m = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const e = lb.pick();
      m.set(e.id, (m.get(e.id) ?? 0) + 1);
      lb.recordSuccess(e, lat[e.id]);
    }
    expect(m.get('slow') ?? 0).toBeLessThan(300);
    expect(m.get('fast') ?? 0).toBeGreaterThan(m.get('mid') ?? 0);
    expect(lb.nodeStats('slow')!.latencyEwmaMs).toBeCloseTo(200, 5);
  });

  it('every strategy only returns eligible endpoints and keeps in-flight counts', () => {
    for (const strategy of STRATEGIES) {
      const lb = new LoadBalancer({ strategy, random: rng(1), endpoints: eps('a', 'b', 'c', 'd') });
      const held = Array.from({ length: 20 }, (_, i) => lb.pick(`k${i}`));
      expect(lb.stats().reduce((s, x) => s + x.inFlight, 0)).toBe(20);
      for (const e of held) lb.recordSuccess(e, 1);
      expect(lb.stats().every((x) => x.inFlight === 0)).toBe(true);
    }
  });
});

describe('LoadBalancer: consistent hashing', () => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
  const assign = <E,>(lb: LoadBalancer<E>) =>
    keys.map((k) => {
      const e = lb.pick(k);
      lb.recordSuccess(e);
      return e.id;
    });

  it('moves about 1/N of the keys when an endpoint joins, all of them to the newcomer', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `n${i}`);
    const lb = new LoadBalancer({ strategy: 'consistent-hash', endpoints: eps(...ids) });
    const before = assign(lb);
    lb.add({ id: 'n10' });
    const after = assign(lb);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        expect(after[i]).toBe('n10');
      }
    }
    const frac = moved / keys.length;
    expect(frac).toBeGreaterThan(0.5 / 11);
    expect(frac).toBeLessThan(1.5 / 11);
  });

  it('moves only the leaving endpoint’s keys when one leaves', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `n${i}`);
    const lb = new LoadBalancer({ strategy: 'consistent-hash', endpoints: eps(...ids) });
    const before = assign(lb);
    lb.remove('n3');
    const after = assign(lb);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        expect(before[i]).toBe('n3');
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.5 / 10);
    expect(moved / keys.length).toBeLessThan(1.5 / 10);
  });

  it('bounds the load: no endpoint exceeds ⌈c × average⌉ in flight even for one hot key', () => {
    const lb = new LoadBalancer({ strategy: 'consistent-hash', loadFactor: 1.25, endpoints: eps('a', 'b', 'c', 'd') });
    for (let i = 0; i < 100; i++) lb.pick('hot');
    const max = Math.max(...lb.stats().map((s) => s.inFlight));
    expect(max).toBeLessThanOrEqual(Math.ceil((1.25 * 100) / 4));
  });
});

describe('LoadBalancer: health', () => {
  it('ejects after consecutive failures, sends no traffic until re-admission, backs off longer each time', async () => {
    const sched = new ManualScheduler();
    const events: BalancerEvent[] = [];
    const lb = new LoadBalancer({ endpoints: eps('a', 'b', 'c'), scheduler: sched, outlier: { consecutiveFailures: 3, baseEjectionMs: 1000 } });
    lb.onChange((e) => events.push(e));
    const failB = (): void => {
      for (let i = 0; i < 20; i++) {
        const e = lb.pick();
        if (e.id === 'b') lb.recordFailure(e);
        else lb.recordSuccess(e);
        if (lb.nodeStats('b')!.ejected) return;
      }
    };
    failB();
    expect(lb.nodeStats('b')).toMatchObject({ ejected: true, ejections: 1, eligible: false });
    expect(events.at(-1)).toEqual({ kind: 'ejected', id: 'b', untilMs: 1000 });
    for (let i = 0; i < 300; i++) {
      const e = lb.pick();
      expect(e.id).not.toBe('b');
      lb.recordSuccess(e);
    }
    await sched.advance(999);
    expect(counts(lb, 100).get('b')).toBeUndefined();
    await sched.advance(1);
    // re-admitted, it gets traffic again; it fails again right away: the second ejection lasts twice as long
    failB();
    expect(events.slice(-2)).toEqual([
      { kind: 'readmitted', id: 'b' },
      { kind: 'ejected', id: 'b', untilMs: 3000 },
    ]);
    expect(lb.nodeStats('b')).toMatchObject({ ejected: true, ejections: 2 });
    await sched.advance(1999);
    expect(counts(lb, 100).get('b')).toBeUndefined();
    await sched.advance(1);
    // recovers: the back-off resets after recoverySuccesses
    expect(counts(lb, 30).get('b')).toBeGreaterThan(0);
    expect(lb.nodeStats('b')!.ejections).toBe(0);
  });

  it('reports NO_HEALTHY_ENDPOINT with retryAfterMs when everything is ejected', () => {
    const sched = new ManualScheduler();
    const lb = new LoadBalancer({ endpoints: eps('a'), scheduler: sched, outlier: { consecutiveFailures: 1, baseEjectionMs: 500 } });
    lb.recordFailure(lb.pick());
    const err = (() => {
      try {
        lb.pick();
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toMatchObject({ code: 'NO_HEALTHY_ENDPOINT', retryAfterMs: 500 });
  });

  it('respects maxEjectedPercent', () => {
    const lb = new LoadBalancer({ endpoints: eps('a', 'b'), outlier: { consecutiveFailures: 1, maxEjectedPercent: 50 } });
    lb.recordFailure(lb.pick());
    lb.recordFailure(lb.pick());
    expect(lb.stats().filter((s) => s.ejected)).toHaveLength(1);
  });

  it('active probes take a failing endpoint out and bring it back', async () => {
    const sched = new ManualScheduler();
    const down = new Set<string>();
    const lb = new LoadBalancer({
      endpoints: eps('a', 'b'),
      scheduler: sched,
      probe: { intervalMs: 100, check: (e) => !down.has(e.id), unhealthyThreshold: 2, healthyThreshold: 2 },
    });
    down.add('b');
    await sched.advance(100);
    expect(lb.nodeStats('b')!.probeHealthy).toBe(true);
    await sched.advance(100);
    expect(lb.nodeStats('b')!.probeHealthy).toBe(false);
    expect(counts(lb, 50).get('b')).toBeUndefined();
    down.delete('b');
    await sched.advance(200);
    expect(lb.nodeStats('b')!.probeHealthy).toBe(true);
    expect(counts(lb, 50).get('b')).toBe(25);
    lb.close();
    await flush();
    expect(sched.pendingTimers).toBe(0);
  });

  it('a hanging probe times out and counts as a failure', async () => {
    const sched = new ManualScheduler();
    const lb = new LoadBalancer({
      endpoints: eps('a', 'b'),
      scheduler: sched,
      probe: { intervalMs: 100, timeoutMs: 50, check: (e) => (e.id === 'b' ? new Promise<boolean>(() => undefined) : true), unhealthyThreshold: 1 },
    });
    await sched.advance(150);
    expect(lb.nodeStats('b')!.probeHealthy).toBe(false);
    lb.close();
  });

  it('execute() records latency and outcome, and rethrows failures', async () => {
    const sched = new ManualScheduler();
    const lb = new LoadBalancer({ endpoints: eps('a'), scheduler: sched, outlier: false });
    const v = await lb.execute(async (e) => {
      await sched.advance(30);
      return e.id;
    });
    expect(v).toBe('a');
    await expect(
      lb.execute(() => Promise.reject(new Error('nope'))),
    ).rejects.toThrow('nope');
    expect(lb.nodeStats('a')).toMatchObject({ requests: 2, failures: 1, inFlight: 0, latencyEwmaMs: 27, ejected: false });
    await expect(lb.execute(() => Promise.resolve(1), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('ignores reports for an endpoint removed while the request was in flight', () => {
    const lb = new LoadBalancer({ endpoints: eps('a', 'b') });
    const e = lb.pick();
    lb.remove(e.id);
    lb.add({ id: e.id });
    lb.recordFailure(e);
    expect(lb.nodeStats(e.id)).toMatchObject({ requests: 0, failures: 0, inFlight: 0 });
  });

  it('adds and removes endpoints without resetting the others', () => {
    const lb = new LoadBalancer({ endpoints: eps('a', 'b'), outlier: { consecutiveFailures: 2 } });
    counts(lb, 10);
    const a = lb.pick();
    lb.recordFailure(a);
    lb.add({ id: 'c', weight: 2 });
    lb.remove('b');
    lb.setEndpoints([{ id: 'a' }, { id: 'c', weight: 3 }, { id: 'd' }]);
    const sa = lb.nodeStats('a')!;
    expect(sa.requests).toBe(6);
    expect(sa.failures).toBe(1);
    expect(sa.consecutiveFailures).toBe(1);
    expect(lb.nodeStats('c')!.weight).toBe(3);
    expect(lb.nodeStats('b')).toBeUndefined();
    expect(lb.size).toBe(3);
  });
});
