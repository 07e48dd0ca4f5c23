import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, RateLimiter, type Algorithm } from '../src/index.js';

/** Random limit and call sequence: steps of (time advance, units), times starting near the Unix epoch now. */
const scenario = fc.record({
  requestsPerSecond: fc.oneof(fc.constantFrom(0.5, 1, 3, 10, 1000), fc.double({ min: 0.05, max: 5000, noNaN: true })),
  burst: fc.integer({ min: 1, max: 12 }),
  start: fc.oneof(fc.constant(0), fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), fc.double({ min: 0, max: 1e9, noNaN: true })),
  steps: fc.array(
    fc.record({
      dt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 50, noNaN: true }), fc.double({ min: 0, max: 5000, noNaN: true })),
      n: fc.integer({ min: 1, max: 12 }),
      retry: fc.boolean(),
    }),
    { minLength: 1, maxLength: 80 },
  ),
});

interface Admit {
  readonly t: number;
  readonly n: number;
}

/** Largest excess of admitted units over `slackBursts × burst + rate × (t_j − t_i)` over every closed interval. */
function worstExcess(admits: readonly Admit[], burst: number, ratePerMs: number, slackBursts: number): number {
  let worst = -Infinity;
  for (let i = 0; i < admits.length; i++) {
    let sum = 0;
    for (let j = i; j < admits.length; j++) {
      sum += admits[j]!.n;
      worst = Math.max(worst, sum - (slackBursts * burst + ratePerMs * (admits[j]!.t - admits[i]!.t)));
    }
  }
  return worst;
}

const bounds: [Algorithm, number][] = [
  ['token-bucket', 1],
  ['sliding-log', 1],
  ['sliding-window', 1],
  ['fixed-window', 2], // two windows can meet at a boundary: 2 × burst + rate × elapsed
];

describe.each(bounds)('%s properties', (algorithm, slackBursts) => {
  it(`never admits more than ${slackBursts === 1 ? '' : `${slackBursts} × `}burst + rate × elapsed in any interval`, () => {
    fc.assert(
      fc.property(scenario, ({ requestsPerSecond, burst, start, steps }) => {
        const clock = new ManualClock(start);
        const rl = new RateLimiter({ requestsPerSecond, burst, algorithm, clock });
        const admits: Admit[] = [];
        for (const s of steps) {
          clock.advance(s.dt);
          const n = Math.min(s.n, burst);
          if (rl.tryAcquire('k', n).allowed) admits.push({ t: clock.now(), n });
        }
        const excess = worstExcess(admits, burst, requestsPerSecond / 1000, slackBursts);
        expect(excess).toBeLessThanOrEqual(1e-6);
      }),
      { numRuns: 300 },
    );
  });

  it('acquiring again exactly retryAfterMs later succeeds', () => {
    fc.assert(
      fc.property(scenario, ({ requestsPerSecond, burst, start, steps }) => {
        const clock = new ManualClock(start);
        const rl = new RateLimiter({ requestsPerSecond, burst, algorithm, clock });
        let checked = 0;
        for (const s of steps) {
          clock.advance(s.dt);
          const n = Math.min(s.n, burst);
          const d = rl.tryAcquire('k', n);
          expect(d.retryAfterMs).toBe(d.allowed ? 0 : d.retryAfterMs);
          if (!d.allowed) {
            expect(d.retryAfterMs).toBeGreaterThan(0);
            if (s.retry) {
              clock.set(clock.now() + d.retryAfterMs);
              const again = rl.tryAcquire('k', n);
              expect(again.allowed).toBe(true);
              checked++;
            }
          }
        }
        return checked >= 0;
      }),
      { numRuns: 300 },
    );
  });
});

describe('sliding log against a naive model', () => {
  it('admits exactly when the weights of the last window plus n fit (long logs, compaction)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.array(fc.record({ dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 })), n: fc.integer({ min: 1, max: 5 }) }), { maxLength: 400 }),
        (limit, windowMs, steps) => {
          const clock = new ManualClock(1000);
          const rl = new RateLimiter({ requestsPerSecond: (limit / windowMs) * 1000, burst: limit, algorithm: 'sliding-log', clock });
          const W = (limit / ((limit / windowMs) * 1000)) * 1000;
          let model: { t: number; n: number }[] = [];
          for (const s of steps) {
            clock.advance(s.dt);
            const now = clock.now();
            const n = Math.min(s.n, limit);
            model = model.filter((e) => !(now - e.t >= W));
            const used = model.reduce((a, e) => a + e.n, 0);
            const d = rl.tryAcquire('k', n);
            expect(d.allowed).toBe(used + n <= limit);
            if (d.allowed) model.push({ t: now, n });
            expect(d.remaining).toBe(limit - model.reduce((a, e) => a + e.n, 0));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('acquire properties', () => {
  it('serves each key FIFO and never admits more than burst + rate × elapsed (token bucket, fake clock)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(1, 2.5, 10),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 400 }), n: fc.integer({ min: 1, max: 6 }), key: fc.constantFrom('a', 'b') }), { minLength: 1, maxLength: 25 }),
        async (burst, rate, calls) => {
          const clock = new ManualClock(0);
          const rl = new RateLimiter({ requestsPerSecond: rate, burst, clock });
          const served: { key: string; seq: number; t: number; n: number }[] = [];
          const pending: Promise<unknown>[] = [];
          let seq = 0;
          for (const c of calls) {
            const until = clock.now() + c.dt;
            // Run the timers due before this arrival one at a time (each admission is then
            // recorded at the time it was made), then arrive.
            for (let at = clock.nextTimerAt; at !== undefined && at <= until; at = clock.nextTimerAt) {
              clock.runNext();
              await new Promise((r) => setImmediate(r));
            }
            clock.set(until);
            const n = Math.min(c.n, burst);
            const me = seq++;
            pending.push(rl.acquire(c.key, n).then(() => served.push({ key: c.key, seq: me, t: clock.now(), n })));
            await Promise.resolve();
          }
          // Step from timer to timer, so each admission is recorded at the time it was made.
          while (clock.runNext()) await new Promise((r) => setImmediate(r));
          await Promise.all(pending);
          expect(served).toHaveLength(calls.length);
          for (const key of ['a', 'b']) {
            const order = served.filter((s) => s.key === key).map((s) => s.seq);
            expect(order).toEqual([...order].sort((x, y) => x - y));
            const admits = served.filter((s) => s.key === key).sort((x, y) => x.t - y.t);
            expect(worstExcess(admits, burst, rate / 1000, 1)).toBeLessThanOrEqual(1e-6);
          }
          expect(rl.stats()).toMatchObject({ waiting: 0, waitingKeys: 0 });
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
