import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, isCircuitOpenError } from '../src/index.js';

type Op =
  | { readonly op: 'call' }
  | { readonly op: 'resolve' | 'reject' | 'ignored' | 'throw'; readonly pick: number }
  | { readonly op: 'advance'; readonly ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ op: 'call' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('resolve' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('reject' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ignored' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('throw' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
);

class Ignored extends Error {}

describe('execute() properties', () => {
  it('through execute too: at most halfOpenMaxCalls probes run at once, and every call is counted exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.array(opArb, { maxLength: 120 }), async (halfOpenMaxCalls, failures, ops) => {
        let t = 0;
        const b = new CircuitBreaker({
          trip: { type: 'consecutive', failures },
          halfOpenMaxCalls,
          successThreshold: 2,
          resetTimeoutMs: 200,
          isFailure: (e) => !(e instanceof Ignored),
          clock: { now: () => t },
        });
        const pending: { settle: (how: 'resolve' | 'reject' | 'ignored') => void; probe: boolean; episode: number }[] = [];
        let episode = 0;
        b.onStateChange(() => {
          episode++;
        });
        let calls = 0;
        let running = 0;
        let maxProbes = 0;
        const outcomes: Promise<unknown>[] = [];
        for (const o of ops) {
          if (o.op === 'call') {
            calls++;
            let started = false;
            const p = b.execute(
              () =>
                new Promise<number>((resolve, reject) => {
                  started = true;
                  running++;
                  const probe = b.state === 'half-open';
                  pending.push({
                    probe,
                    episode,
                    settle: (how) => {
                      running--;
                      if (how === 'resolve') resolve(1);
                      else reject(how === 'ignored' ? new Ignored() : new Error('down'));
                    },
                  });
                }),
            );
            outcomes.push(
              p.then(
                () => 'ok',
                (e: unknown) => (isCircuitOpenError(e) ? (started ? 'bad' : 'rejected') : 'error'),
              ),
            );
          } else if (o.op === 'advance') {
            t += o.ms;
          } else if (o.op === 'throw') {
            calls++;
            outcomes.push(
              b
                .execute(() => {
                  throw new Error('sync');
                })
                .then(
                  () => 'ok',
                  (e: unknown) => (isCircuitOpenError(e) ? 'rejected' : 'error'),
                ),
            );
          } else if (pending.length > 0) {
            const [h] = pending.splice(o.pick % pending.length, 1);
            h!.settle(o.op);
          }
          await Promise.resolve();
          await Promise.resolve();
          const probes = pending.filter((h) => h.probe && h.episode === episode).length;
          if (b.state === 'half-open') {
            expect(probes).toBeLessThanOrEqual(halfOpenMaxCalls);
            maxProbes = Math.max(maxProbes, probes);
          }
        }
        for (const h of pending.splice(0)) h.settle('resolve');
        const results = await Promise.all(outcomes);
        expect(results).not.toContain('bad');
        expect(running).toBe(0);
        const s = b.stats();
        expect(s.successes + s.failures + s.rejections + s.cancelled).toBe(calls);
        expect(s.rejections).toBe(results.filter((r) => r === 'rejected').length);
      }),
      { numRuns: 200 },
    );
  });
});
