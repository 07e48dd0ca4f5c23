import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedPool, isPoolError, type KeyedFactory } from '../src/index.js';
import { ManualScheduler, flush } from './manual-scheduler.js';

/** Default runs keep the package's test run short; `pnpm --filter @abi/pool test:props` searches longer. */
const RUNS = Number(process.env.POOL_PROPERTY_RUNS ?? 150);

interface Conn {
  readonly key: string;
  readonly id: number;
  destroyed: boolean;
}

class Factory implements KeyedFactory<string, Conn> {
  seq = 0;
  failNext = 0;
  readonly live = new Set<Conn>();
  readonly all: Conn[] = [];
  create(key: string): Promise<Conn> {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('refused'));
    }
    const c = { key, id: ++this.seq, destroyed: false };
    this.live.add(c);
    this.all.push(c);
    return Promise.resolve(c);
  }
  destroy(c: Conn): void {
    if (c.destroyed) throw new Error('double destroy');
    c.destroyed = true;
    this.live.delete(c);
  }
}

const KEYS = ['a', 'b', 'c'];
type Op =
  | { kind: 'acquire'; key: number; timeoutMs: number | undefined }
  | { kind: 'release' | 'destroy'; i: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'fail' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('acquire' as const), key: fc.integer({ min: 0, max: 2 }), timeoutMs: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroy' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fail' as const }) },
);

describe('KeyedPool under random operation sequences', () => {
  it('never exceeds the per-key or global cap, never double-lends, and closes clean', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), async (maxPerKey, maxTotal, ops) => {
        const sched = new ManualScheduler();
        const f = new Factory();
        const poolSched = sched.scoped();
        const pool = new KeyedPool<string, Conn>(f, { maxPerKey, maxTotal, maxWaiters: 4, idleTimeoutMs: 1000, healthCheckIntervalMs: Infinity, evictionIntervalMs: 250, scheduler: poolSched });
        const held: Conn[] = [];
        const problems: string[] = [];
        pool.onError((e) => {
          if (e instanceof Error && e.message === 'double destroy') problems.push('double destroy');
        });
        const pending: Promise<unknown>[] = [];
        for (const [step, op] of ops.entries()) {
          switch (op.kind) {
            case 'acquire':
              pending.push(
                pool.acquire(KEYS[op.key]!, op.timeoutMs === undefined ? undefined : { timeoutMs: op.timeoutMs }).then(
                  (c) => {
                    if (c.key !== KEYS[op.key]) problems.push(`wrong key ${c.key}`);
                    if (held.includes(c)) problems.push(`double lend ${c.id}`);
                    held.push(c);
                  },
                  (e: unknown) => {
                    if (!isPoolError(e)) problems.push(`untyped ${String(e)}`);
                  },
                ),
              );
              break;
            case 'release':
            case 'destroy': {
              if (held.length === 0) break;
              const [c] = held.splice(op.i % held.length, 1);
              if (op.kind === 'release') pool.release(c!);
              else pool.destroy(c!);
              break;
            }
            case 'advance':
              await sched.advance(op.ms);
              break;
            case 'fail':
              f.failNext++;
              break;
          }
          await flush();
          const where = `step ${step} ${op.kind}`;
          expect(f.live.size, where).toBeLessThanOrEqual(maxTotal);
          expect(pool.stats().size, where).toBeLessThanOrEqual(maxTotal);
          for (const k of KEYS) expect([...f.live].filter((c) => c.key === k).length, where).toBeLessThanOrEqual(maxPerKey);
          for (const c of held) expect(c.destroyed, where).toBe(false);
          // liveness: a key with waiters is at its own cap, creating, or the whole pool is full and busy
          const all = pool.stats();
          for (const k of KEYS) {
            const ks = pool.keyStats(k);
            if (ks === undefined || ks.pending === 0) continue;
            expect(ks.idle, where).toBe(0);
            expect(ks.size === maxPerKey || ks.creating > 0 || (all.size === maxTotal && all.idle === 0), where).toBe(true);
          }
          expect(problems, where).toEqual([]);
        }
        for (const c of held.splice(0)) pool.release(c);
        const closing = pool.close({ timeoutMs: 500 });
        await sched.advance(500);
        await closing;
        await Promise.all(pending);
        expect(f.live.size).toBe(0);
        expect(poolSched.pendingTimers).toBe(0);
        expect(problems).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  }, Math.max(20_000, RUNS * 30));
});
