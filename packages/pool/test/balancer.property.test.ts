import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoadBalancer, STRATEGIES, type Endpoint } from '../src/index.js';
import { ManualScheduler } from './manual-scheduler.js';
import { rng } from './rng.js';

/** Default runs keep the package's test run short; `pnpm --filter @abi/pool test:props` searches longer. */
const RUNS = Number(process.env.POOL_PROPERTY_RUNS ?? 200);

type Op = { kind: 'pick'; key: number } | { kind: 'ok' | 'fail'; i: number } | { kind: 'advance'; ms: number } | { kind: 'add' | 'remove'; id: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('pick' as const), key: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ok' as const), i: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('fail' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 7 }) }) },
);

describe('LoadBalancer under random traffic', () => {
  it('never routes to an ejected endpoint before its re-admission time, and keeps in-flight counts exact', () => {
    const stats = { ejections: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...STRATEGIES), fc.integer(), fc.array(opArb, { minLength: 1, maxLength: 120, size: 'max' }), (strategy, seed, ops) => {
        const sched = new ManualScheduler();
        const lb = new LoadBalancer({
          strategy,
          scheduler: sched,
          random: rng(seed),
          endpoints: [0, 1, 2, 3].map((i) => ({ id: `e${i}`, weight: 1 + (i % 3) })),
          outlier: { consecutiveFailures: 2, baseEjectionMs: 1000, maxEjectionMs: 4000 },
        });
        const ejectedUntil = new Map<string, number>();
        const early: string[] = [];
        let ejections = 0;
        lb.onChange((e) => {
          if (e.kind === 'ejected') {
            ejectedUntil.set(e.id, e.untilMs);
            ejections++;
          }
          // re-admission never comes early (listener errors are swallowed, so record instead of throwing)
          if (e.kind === 'readmitted' && sched.now() < (ejectedUntil.get(e.id) ?? 0)) early.push(e.id);
          if (e.kind === 'removed') ejectedUntil.delete(e.id);
        });
        const inflight: Endpoint<undefined>[] = [];
        const current = new Map<string, Endpoint<undefined>>();
        for (const op of ops) {
          switch (op.kind) {
            case 'pick': {
              let e: Endpoint<undefined>;
              try {
                e = lb.pick(`k${op.key}`);
              } catch (err) {
                const code = (err as { code?: string }).code;
                expect(['NO_ENDPOINTS', 'NO_HEALTHY_ENDPOINT']).toContain(code);
                if (code === 'NO_HEALTHY_ENDPOINT') expect(lb.stats().every((x) => x.ejected)).toBe(true);
                break;
              }
              const until = ejectedUntil.get(e.id);
              // an ejected endpoint is picked only once its ejection is over (lazy re-admission)
              if (until !== undefined) expect(sched.now()).toBeGreaterThanOrEqual(until);
              inflight.push(e);
              current.set(e.id, e);
              break;
            }
            case 'ok':
            case 'fail': {
              if (inflight.length === 0) break;
              const [e] = inflight.splice(op.i % inflight.length, 1);
              if (op.kind === 'ok') lb.recordSuccess(e!, 5);
              else lb.recordFailure(e!, 5);
              break;
            }
            case 'advance':
              sched.advanceClock(op.ms); // the balancer sets no timers without probes
              break;
            case 'add':
              if (lb.nodeStats(`e${op.id}`) === undefined) lb.add({ id: `e${op.id}` });
              break;
            case 'remove':
              lb.remove(`e${op.id}`);
              current.delete(`e${op.id}`);
              break;
          }
          expect(early).toEqual([]);
          for (const st of lb.stats()) {
            const node = current.get(st.id);
            expect(st.inFlight).toBe(node === undefined ? 0 : inflight.filter((e) => e === node).length);
          }
        }
        stats.ejections += ejections;
      }),
      { numRuns: RUNS },
    );
    expect(stats.ejections).toBeGreaterThan(0); // the generator does exercise ejection
  }, Math.max(20_000, RUNS * 30));
});
