/**
 * Benchmarks of @abi/breaker against a minimal hand-written breaker, cockatiel 3.2.1 and
 * opossum 9.0.0, in one process (bench-kit alternates samples). Run under the bench lock:
 *   flock /tmp/abi-bench.lock pnpm --filter @abi/breaker bench
 */
import { compare, machine, row, writeReport, type Goal, type Group } from '@abi/bench-kit';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleAll, retry as cRetry, wrap as cWrap } from 'cockatiel';
import Opossum from 'opossum';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MinimalBreaker, MinimalThenBreaker } from './minimal.js';

const pkgDir = path.resolve(import.meta.dirname, '..');
// Measure what users run: the compiled dist/ (the bench script builds it first). Loading src/
// through tsx would also measure tsx's keep-names helper, which wraps every closure we create.
const { CircuitBreaker, RetryExecutor, wrap } = (await import(pathToFileURL(path.join(pkgDir, 'dist/index.js')).href)) as typeof import('../src/index.js');
const quick = process.argv.includes('--quick');
const opts = quick ? { samples: 3, sampleMs: 50, warmupMs: 100 } : { samples: 15, sampleMs: 200, warmupMs: 300 };

const work = async (): Promise<number> => 1;
const fail = async (): Promise<number> => {
  throw new Error('down');
};
const swallow = (): void => {};

// --- contenders -------------------------------------------------------------------------------
const ours = new CircuitBreaker({ name: 'bench', resetTimeoutMs: 3_600_000 });
const oursTimeout = new CircuitBreaker({ name: 'bench-timeout', resetTimeoutMs: 3_600_000, timeoutMs: 10_000 });
const minimal = new MinimalBreaker(5, 3_600_000);
const minimalThen = new MinimalThenBreaker(5, 3_600_000);
const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 3_600_000, breaker: new ConsecutiveBreaker(5) });
const opossumDefault = new Opossum(work);
const opossumNoTimeout = new Opossum(work, { timeout: false });

const oursOpen = new CircuitBreaker({ name: 'open', resetTimeoutMs: 3_600_000 });
const minimalOpen = new MinimalBreaker(5, 3_600_000);
const cockatielOpen = circuitBreaker(handleAll, { halfOpenAfter: 3_600_000, breaker: new ConsecutiveBreaker(5) });
const opossumOpen = new Opossum(fail, { timeout: false });

async function tripAll(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await oursOpen.execute(fail).catch(swallow);
    await minimalOpen.execute(fail).catch(swallow);
    await cockatielOpen.execute(fail).catch(swallow);
  }
  opossumOpen.open();
  if (oursOpen.state !== 'open') throw new Error('ours did not trip');
}

const ourRetry = new RetryExecutor();
const ourComposed = wrap(ourRetry, new CircuitBreaker({ name: 'composed', resetTimeoutMs: 3_600_000 }));
const cComposed = cWrap(
  cRetry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
  circuitBreaker(handleAll, { halfOpenAfter: 3_600_000, breaker: new ConsecutiveBreaker(5) }),
);

async function main(): Promise<void> {
  await tripAll();
  const groups: Group[] = [];

  const success = await compare(
    'execute on success (async () => 1, awaited in a loop)',
    [
      {
        name: '@abi/breaker execute',
        run: async (n) => {
          for (let i = 0; i < n; i++) await ours.execute(work);
        },
      },
      {
        name: 'minimal hand-written breaker',
        note: 'bench/minimal.ts, async/await',
        run: async (n) => {
          for (let i = 0; i < n; i++) await minimal.execute(work);
        },
      },
      {
        name: 'minimal hand-written breaker (.then)',
        note: 'bench/minimal.ts, promise chaining instead of async/await',
        run: async (n) => {
          for (let i = 0; i < n; i++) await minimalThen.execute(work);
        },
      },
      {
        name: 'cockatiel 3.2.1',
        note: 'circuitBreaker(handleAll, ConsecutiveBreaker(5))',
        run: async (n) => {
          for (let i = 0; i < n; i++) await cockatiel.execute(work);
        },
      },
      {
        name: 'opossum 9.0.0 (defaults)',
        note: '10 s timeout: a timer per call',
        run: async (n) => {
          for (let i = 0; i < n; i++) await opossumDefault.fire();
        },
      },
      {
        name: 'opossum 9.0.0 (timeout: false)',
        run: async (n) => {
          for (let i = 0; i < n; i++) await opossumNoTimeout.fire();
        },
      },
      {
        name: '@abi/breaker execute (timeoutMs: 10 000)',
        note: 'a timer per call, like opossum\'s defaults',
        run: async (n) => {
          for (let i = 0; i < n; i++) await oursTimeout.execute(work);
        },
      },
      {
        name: 'bare await (floor)',
        run: async (n) => {
          for (let i = 0; i < n; i++) await work();
        },
      },
    ],
    opts,
  );
  groups.push(success);

  const rejection = await compare(
    'rejection while open (awaited, caught)',
    [
      {
        name: '@abi/breaker execute (CircuitOpenError)',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            try {
              await oursOpen.execute(work);
            } catch {
              /* rejected */
            }
          }
        },
      },
      {
        name: 'minimal breaker (preallocated error)',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            try {
              await minimalOpen.execute(work);
            } catch {
              /* rejected */
            }
          }
        },
      },
      {
        name: 'cockatiel 3.2.1 (BrokenCircuitError)',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            try {
              await cockatielOpen.execute(work);
            } catch {
              /* rejected */
            }
          }
        },
      },
      {
        name: 'opossum 9.0.0',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            try {
              await opossumOpen.fire();
            } catch {
              /* rejected */
            }
          }
        },
      },
    ],
    opts,
  );
  groups.push(rejection);

  const sync = await compare(
    'synchronous admission + outcome (no promise)',
    [
      {
        name: '@abi/breaker tryAcquire + success',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            const p = ours.tryAcquire();
            if (p.ok) p.success();
          }
        },
      },
      {
        name: '@abi/breaker tryAcquire while open',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            const p = oursOpen.tryAcquire();
            if (p.ok) p.success();
          }
        },
      },
      {
        name: 'minimal canCall + success',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            if (minimal.canCall()) minimal.success();
          }
        },
      },
    ],
    opts,
  );
  groups.push(sync);

  const composed = await compare(
    'retry around breaker, success path',
    [
      {
        name: '@abi/breaker wrap(retry, breaker)',
        run: async (n) => {
          for (let i = 0; i < n; i++) await ourComposed.execute(work);
        },
      },
      {
        name: 'cockatiel 3.2.1 wrap(retry, breaker)',
        run: async (n) => {
          for (let i = 0; i < n; i++) await cComposed.execute(work);
        },
      },
    ],
    opts,
  );
  groups.push(composed);

  opossumDefault.shutdown();
  opossumNoTimeout.shutdown();
  opossumOpen.shutdown();

  const us = row(success, '@abi/breaker execute').nsPerOp;
  // Against the faster of the two minimal breakers.
  const minimalNs = Math.min(row(success, 'minimal hand-written breaker').nsPerOp, row(success, 'minimal hand-written breaker (.then)').nsPerOp);
  const vsMinimal = us / minimalNs;
  const vsCockatiel = row(success, 'cockatiel 3.2.1').nsPerOp / us;
  const vsOpossum = row(success, 'opossum 9.0.0 (defaults)').nsPerOp / us;
  const vsOpossumNoTimeout = row(success, 'opossum 9.0.0 (timeout: false)').nsPerOp / us;
  const withTimer = row(success, '@abi/breaker execute (timeoutMs: 10 000)').nsPerOp;
  const open = row(rejection, '@abi/breaker execute (CircuitOpenError)').nsPerOp;
  const openVsCockatiel = row(rejection, 'cockatiel 3.2.1 (BrokenCircuitError)').nsPerOp / open;
  const tryAcquire = row(sync, '@abi/breaker tryAcquire + success').nsPerOp;
  const goals: Goal[] = [
    { goal: 'execute on success ≤ 1.2× minimal hand-written breaker', measured: `${vsMinimal.toFixed(2)}× (${us.toFixed(1)} ns)`, met: vsMinimal <= 1.2 },
    { goal: 'execute on success ≥ 1.5× faster than cockatiel 3.2.1', measured: `${vsCockatiel.toFixed(2)}× faster`, met: vsCockatiel >= 1.5 },
    {
      goal: 'execute on success ≥ 8× faster than opossum 9.0.0 (defaults)',
      measured: `${vsOpossum.toFixed(2)}× faster (opossum with timeout: false ${vsOpossumNoTimeout.toFixed(2)}×; both with a 10 s per-call timeout ${(row(success, 'opossum 9.0.0 (defaults)').nsPerOp / withTimer).toFixed(2)}×)`,
      met: vsOpossum >= 8,
    },
    { goal: 'rejection while open ≥ 4× faster than cockatiel 3.2.1', measured: `${openVsCockatiel.toFixed(2)}× faster (${open.toFixed(0)} ns)`, met: openVsCockatiel >= 4 },
    { goal: 'sync tryAcquire + success ≤ 50 ns', measured: `${tryAcquire.toFixed(1)} ns`, met: tryAcquire <= 50 },
  ];
  for (const g of goals) console.log(`${g.met ? 'MET    ' : 'NOT MET'}  ${g.goal}: ${g.measured}`);
  writeReport(pkgDir, {
    package: '@abi/breaker',
    machine: machine(),
    groups,
    goals,
    notes: [
      'Our contender is the compiled dist/ (as published), loaded beside the peers from node_modules.',
      'Each async case awaits one call at a time in a loop, so ns/op includes the caller\'s own await (~30 ns floor, see "bare await").',
      'opossum\'s defaults arm a 10 s timer per call; its `timeout: false` row shows it without that timer.',
      'Rejections are bounded below by the cost of a rejected promise (~0.65 µs on Node 20); CircuitOpenError is created without a stack trace.',
    ],
  });
}

await main();
