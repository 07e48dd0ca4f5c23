import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backoff, retry, type BackoffOptions, type BackoffStrategy, type Jitter } from '../src/index.js';

const strategies: BackoffStrategy[] = ['fixed', 'linear', 'exponential', 'fibonacci', 'immediate', 'decorrelated-jitter'];
const jitterArb: fc.Arbitrary<Jitter> = fc.oneof(
  fc.constantFrom<Jitter>('none', 'full', 'equal'),
  fc.record({ ratio: fc.double({ min: 0, max: 1, noNaN: true }) }),
);
const optionsArb: fc.Arbitrary<BackoffOptions> = fc
  .record({
    strategy: fc.constantFrom(...strategies),
    initialDelayMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
    extra: fc.double({ min: 0, max: 100_000, noNaN: true }),
    multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: jitterArb,
  })
  .map(({ extra, ...o }) => ({ ...o, maxDelayMs: o.initialDelayMs + extra }));

describe('retry properties', () => {
  it('every strategy and jitter mode keeps every delay inside its bounds and [0, maxDelayMs]', () => {
    fc.assert(
      fc.property(
        optionsArb,
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 200_000, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (opts, k, previous, u) => {
          const b = new Backoff(opts);
          const max = b.maxDelayMs;
          const d = b.delay(k, previous, () => u);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(max);
          if (b.strategy === 'decorrelated-jitter') {
            expect(d).toBeGreaterThanOrEqual(b.initialDelayMs);
            return;
          }
          const base = b.base(k);
          expect(base).toBeLessThanOrEqual(max);
          if (k > 1 && b.strategy !== 'immediate') expect(base).toBeGreaterThanOrEqual(b.base(k - 1));
          const j = b.jitter;
          if (j === 'none') expect(d).toBe(base);
          else if (j === 'full') expect(d).toBeLessThanOrEqual(base);
          else if (j === 'equal') {
            expect(d).toBeGreaterThanOrEqual(base / 2);
            expect(d).toBeLessThanOrEqual(base);
          } else {
            expect(d).toBeGreaterThanOrEqual(base * (1 - j.ratio) - 1e-9);
            expect(d).toBeLessThanOrEqual(Math.min(max, base * (1 + j.ratio)) + 1e-9);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  describe('with fake timers', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('an abort during any wait settles the loop at once, before any timer fires', async () => {
      await fc.assert(
        fc.asyncProperty(optionsArb, fc.integer({ min: 1, max: 5 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), async (opts, abortAfter, u) => {
          vi.clearAllTimers();
          const ac = new AbortController();
          let calls = 0;
          let settled = false;
          const p = retry(
            () => {
              calls++;
              return Promise.reject(new Error('x'));
            },
            { ...opts, maxRetries: 10, random: () => u, signal: ac.signal },
          ).then((r) => {
            settled = true;
            return r;
          });
          // Let attempts run until `abortAfter` attempts have failed or the loop is waiting.
          for (let i = 1; i < abortAfter && !(settled as boolean); i++) {
            await vi.advanceTimersToNextTimerAsync();
          }
          await vi.advanceTimersByTimeAsync(0);
          const before = calls;
          ac.abort();
          await Promise.resolve();
          await Promise.resolve();
          await Promise.resolve();
          expect(settled).toBe(true);
          const r = await p;
          expect(r.ok).toBe(false);
          expect(calls).toBe(before);
          expect(vi.getTimerCount()).toBe(0);
        }),
        { numRuns: 200 },
      );
    });
  });
});
