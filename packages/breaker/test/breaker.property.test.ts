import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitState, type Permit, type TripPolicy } from '../src/index.js';

type Op =
  | { readonly op: 'acquire' }
  | { readonly op: 'success' | 'failure' | 'cancel' | 'double'; readonly pick: number }
  | { readonly op: 'advance'; readonly ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ op: 'acquire' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('success' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('failure' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('double' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }) },
);

const tripArb: fc.Arbitrary<TripPolicy> = fc.oneof(
  fc.record({ type: fc.constant('consecutive' as const), failures: fc.integer({ min: 1, max: 4 }) }),
  fc.integer({ min: 1, max: 8 }).chain((size) =>
    fc.record({
      type: fc.constant('count' as const),
      size: fc.constant(size),
      failureRate: fc.double({ min: 0.1, max: 1, noNaN: true }),
      minimumCalls: fc.integer({ min: 1, max: size }),
    }),
  ),
  fc.record({
    type: fc.constant('time' as const),
    windowMs: fc.integer({ min: 1, max: 2_000 }),
    buckets: fc.integer({ min: 1, max: 8 }),
    failureRate: fc.double({ min: 0.1, max: 1, noNaN: true }),
    minimumCalls: fc.integer({ min: 1, max: 6 }),
  }),
);

const LEGAL: Record<CircuitState, readonly CircuitState[]> = {
  closed: ['open'],
  open: ['half-open'],
  'half-open': ['open', 'closed'],
  isolated: ['closed'],
};

describe('CircuitBreaker properties', () => {
  it('never admits more than halfOpenMaxCalls probes, counts every call exactly once, and only makes legal transitions', () => {
    fc.assert(
      fc.property(
        tripArb,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 1_000 }),
        fc.array(opArb, { maxLength: 200 }),
        (trip, halfOpenMaxCalls, successThreshold, resetTimeoutMs, ops) => {
          let t = 0;
          const b = new CircuitBreaker({
            trip,
            halfOpenMaxCalls,
            successThreshold,
            resetTimeoutMs,
            resetBackoff: { multiplier: 2, maxResetTimeoutMs: resetTimeoutMs * 4 },
            clock: { now: () => t },
          });
          let episode = 0;
          b.onStateChange((e) => {
            expect(LEGAL[e.from]).toContain(e.to);
            episode++;
          });
          // Held permits, each tagged with the half-open episode it was admitted in (or -1).
          const held: { permit: Permit; probeOf: number }[] = [];
          let calls = 0;
          let reports = 0;
          const probesHeld = (): number => held.filter((h) => h.probeOf === episode).length;
          for (const o of ops) {
            switch (o.op) {
              case 'acquire': {
                calls++;
                const r = b.tryAcquire();
                if (r.ok) held.push({ permit: r, probeOf: b.state === 'half-open' ? episode : -1 });
                else expect(r.retryAfterMs).toBeGreaterThanOrEqual(0);
                break;
              }
              case 'advance':
                t += o.ms;
                break;
              default: {
                if (held.length === 0) break;
                const [h] = held.splice(o.pick % held.length, 1);
                reports++;
                if (o.op === 'success') h!.permit.success();
                else if (o.op === 'failure') h!.permit.failure();
                else if (o.op === 'cancel') h!.permit.cancel();
                else if (h!.probeOf !== -1) {
                  // A second report on the same probe must not be counted again. (Closed-state
                  // permits are one shared object, so only reports beyond acquisitions are caught.)
                  h!.permit.success();
                  h!.permit.failure();
                } else h!.permit.success();
              }
            }
            if (b.state === 'half-open') {
              expect(probesHeld()).toBeLessThanOrEqual(halfOpenMaxCalls);
              expect(b.stats().inFlight).toBe(probesHeld());
            }
            const s = b.stats();
            expect(s.successes + s.failures + s.cancelled).toBe(reports);
            expect(s.successes + s.failures + s.cancelled + s.rejections + held.length).toBe(calls);
          }
          for (const h of held.splice(0)) h.permit.success();
          const s = b.stats();
          expect(s.successes + s.failures + s.cancelled + s.rejections).toBe(calls);
          expect(s.transitions).toBe(episode);
          // The state survives a JSON round trip.
          const copy = new CircuitBreaker({
            trip,
            halfOpenMaxCalls,
            successThreshold,
            resetTimeoutMs,
            resetBackoff: { multiplier: 2, maxResetTimeoutMs: resetTimeoutMs * 4 },
            clock: { now: () => t },
            initialState: JSON.parse(JSON.stringify(b)) as ReturnType<CircuitBreaker['toJSON']>,
          });
          expect(copy.toJSON()).toEqual(b.toJSON());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches a reference model of the consecutive-failure breaker', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 150 }), (ops) => {
        let t = 0;
        const threshold = 3;
        const reset = 500;
        const b = new CircuitBreaker({ trip: { type: 'consecutive', failures: threshold }, resetTimeoutMs: reset, halfOpenMaxCalls: 2, successThreshold: 2, clock: { now: () => t } });
        // Model.
        let state = 'closed' as CircuitState;
        let consecutive = 0;
        let openUntil = 0;
        let probes = 0;
        let probeOk = 0;
        let epoch = 0;
        const to = (s: CircuitState): void => {
          state = s;
          epoch++;
          probes = 0;
          probeOk = 0;
          if (s === 'open') openUntil = t + reset;
          if (s === 'closed') consecutive = 0;
        };
        const held: { permit: Permit; epoch: number; probe: boolean }[] = [];
        for (const o of ops) {
          if (o.op === 'acquire') {
            if (state === 'open' && t >= openUntil) to('half-open');
            let admit = state === 'closed';
            if (state === 'half-open' && probes < 2) {
              probes++;
              admit = true;
            }
            const r = b.tryAcquire();
            expect(r.ok).toBe(admit);
            if (r.ok) held.push({ permit: r, epoch, probe: state === 'half-open' });
          } else if (o.op === 'advance') {
            t += o.ms;
          } else if (held.length > 0) {
            const [h] = held.splice(o.pick % held.length, 1);
            const kind = o.op === 'double' ? 'success' : o.op;
            if (kind === 'success') h!.permit.success();
            else if (kind === 'failure') h!.permit.failure();
            else h!.permit.cancel();
            if (h!.epoch === epoch) {
              if (h!.probe) {
                probes--;
                if (kind === 'success' && ++probeOk >= 2) to('closed');
                else if (kind === 'failure') to('open');
              } else if (kind === 'success') consecutive = 0;
              else if (kind === 'failure' && ++consecutive >= threshold) to('open');
            }
          }
          expect(b.state).toBe(state);
        }
      }),
      { numRuns: 300 },
    );
  });
});
