import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionPool, isPoolError } from '../src/index.js';
import { FakeFactory, type Res } from './fake-factory.js';
import { ManualScheduler, flush } from './manual-scheduler.js';

/** Default runs keep the package's test run short; `pnpm --filter @abi/pool test:props` searches longer. */
const RUNS = Number(process.env.POOL_PROPERTY_RUNS ?? 200);

type Op =
  | { kind: 'acquire'; timeoutMs: number | undefined; abortable: boolean }
  | { kind: 'release'; i: number }
  | { kind: 'destroy'; i: number }
  | { kind: 'abort'; i: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'failNext' }
  | { kind: 'hangNext' }
  | { kind: 'releaseHung' }
  | { kind: 'breakIdle' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('acquire' as const), timeoutMs: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }), abortable: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroy' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 4000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'failNext' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hangNext' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'releaseHung' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'breakIdle' as const }) },
);

const configArb = fc.record({
  testOnBorrow: fc.boolean(),
  validateDelays: fc.option(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 5 }), { nil: undefined }),
  validateTimeoutMs: fc.integer({ min: 50, max: 1000 }),
  max: fc.integer({ min: 1, max: 4 }),
  min: fc.integer({ min: 0, max: 2 }),
  maxWaiters: fc.integer({ min: 0, max: 6 }),
  idleTimeoutMs: fc.integer({ min: 500, max: 5000 }),
  maxLifetimeMs: fc.integer({ min: 1000, max: 20000 }),
  createTimeoutMs: fc.integer({ min: 100, max: 3000 }),
  healthCheckIntervalMs: fc.integer({ min: 500, max: 5000 }),
});

interface WaiterRec {
  readonly seq: number;
  settled: boolean;
  fast: boolean;
  ctl: AbortController | undefined;
}

describe('ConnectionPool under random operation sequences (model-based)', () => {
  it('keeps its invariants: caps, exclusive holders, FIFO service, clean close, no leaked timers', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }), async (cfg, ops) => {
        const { validateDelays, ...options } = cfg;
        const min = Math.min(cfg.min, cfg.max);
        const sched = new ManualScheduler();
        const factory = new FakeFactory();
        if (validateDelays !== undefined) {
          factory.scheduler = sched;
          factory.validateDelay = (r) => validateDelays[r.id % validateDelays.length] ?? 0;
        }
        const poolSched = sched.scoped(); // the factory's own timers are not the pool's
        const pool = new ConnectionPool<Res>(factory, { ...options, min, scheduler: poolSched, evictionIntervalMs: 500 });
        const held: Res[] = [];
        const waiters: WaiterRec[] = [];
        let seq = 0;
        const failures: string[] = [];
        // destroy() throws on a double destroy; the pool reports that through onError
        pool.onError((e) => {
          if (e instanceof Error && e.message.startsWith('double destroy')) failures.push(e.message);
        });

        const check = (where: string): void => {
          const s = pool.stats();
          expect(s.size, where).toBeLessThanOrEqual(cfg.max);
          expect(factory.live.size, where).toBeLessThanOrEqual(cfg.max);
          expect(s.pending, where).toBeLessThanOrEqual(cfg.maxWaiters);
          expect(new Set(held).size, where).toBe(held.length);
          expect(s.borrowed, where).toBe(held.length);
          for (const r of held) {
            expect(r.destroyed, where).toBe(false);
            expect(pool.info(r)?.state, where).toBe('active');
          }
          expect(s.idle + s.borrowed + s.validating + s.creating, where).toBe(s.size);
          // liveness: a queued waiter always has something that will serve it
          if (s.pending > 0 && !cfg.testOnBorrow) expect(s.idle, where).toBe(0);
          if (s.pending > 0) expect(s.size === cfg.max || s.creating > 0 || s.validating > 0, where).toBe(true);
          expect(failures, where).toEqual([]);
        };

        for (const [step, op] of ops.entries()) {
          switch (op.kind) {
            case 'acquire': {
              const w: WaiterRec = { seq: seq++, settled: false, fast: pool.stats().pending === 0, ctl: op.abortable ? new AbortController() : undefined };
              waiters.push(w);
              pool
                .acquire({
                  ...(op.timeoutMs !== undefined ? { timeoutMs: op.timeoutMs } : {}),
                  ...(w.ctl !== undefined ? { signal: w.ctl.signal } : {}),
                })
                .then(
                  (r) => {
                    // FIFO: every queued waiter that came earlier is already settled.
                    for (const o of waiters) if (o.seq < w.seq && !o.settled && !o.fast) failures.push(`waiter ${w.seq} served before ${o.seq}`);
                    w.settled = true;
                    if (held.includes(r)) failures.push(`resource ${r.id} handed to two holders`);
                    held.push(r);
                  },
                  (e: unknown) => {
                    w.settled = true;
                    if (!(isPoolError(e) || (e instanceof Error && e.name === 'AbortError'))) failures.push(`untyped error ${String(e)}`);
                  },
                );
              break;
            }
            case 'release':
            case 'destroy': {
              if (held.length === 0) break;
              const [r] = held.splice(op.i % held.length, 1);
              if (op.kind === 'release') pool.release(r!);
              else pool.destroy(r!);
              break;
            }
            case 'abort': {
              const open = waiters.filter((w) => !w.settled && w.ctl !== undefined);
              if (open.length > 0) open[op.i % open.length]!.ctl!.abort();
              break;
            }
            case 'advance':
              await sched.advance(op.ms);
              break;
            case 'failNext':
              factory.failNext++;
              break;
            case 'hangNext':
              factory.hangNext++;
              break;
            case 'releaseHung':
              factory.releaseHung();
              break;
            case 'breakIdle':
              for (const r of factory.live) if (!held.includes(r)) r.healthy = false;
              break;
          }
          await flush();
          check(`step ${step} ${op.kind}`);
        }

        // close: every created resource destroyed, every waiter settled, no timers left
        for (const r of held.splice(0)) pool.release(r);
        const closing = pool.close({ timeoutMs: 1000 });
        factory.releaseHung();
        await sched.advance(1000);
        await closing;
        await flush();
        expect(factory.live.size, 'live after close').toBe(0);
        for (const r of factory.all) expect(r.destroyed, 'destroyed after close').toBe(true);
        expect(waiters.every((w) => w.settled), 'waiters settled').toBe(true);
        expect(poolSched.pendingTimers, 'pool timers after close').toBe(0);
        expect(failures).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  }, Math.max(20_000, RUNS * 30));
});
