// pnpm sim [--seeds N] [--from S] [--seed S] [--ticks T] [--verbose]
// Runs N seeded simulations; a failure prints the seed and the command that replays it.
import { runSimulation } from '../../src/testing/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function num(name: string, dflt: number): number {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer (got ${v})`);
    process.exit(2);
  }
  return n;
}

const single = arg('seed');
const from = single === undefined ? num('from', 1) : num('seed', 1);
const count = single === undefined ? num('seeds', 100) : 1;
const faultTicks = num('ticks', 300);
const verbose = process.argv.includes('--verbose');
const started = Date.now();
let failed = 0;
for (let seed = from; seed < from + count; seed++) {
  const res = runSimulation({ seed, faultTicks });
  if (verbose || !res.ok) {
    console.log(`seed ${seed}: ${res.ok ? 'ok' : 'FAIL'} ${JSON.stringify(res.params)} ${JSON.stringify(res.stats)}`);
  }
  if (!res.ok) {
    failed++;
    console.log(`  failure: ${String(res.failure)}`);
    console.log(`  replay: pnpm --filter @abi/raft sim --seed ${seed}${faultTicks === 300 ? '' : ` --ticks ${faultTicks}`} --verbose`);
  }
}
console.log(`${count - failed}/${count} seeds passed (${from}..${from + count - 1}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed > 0 ? 1 : 0);
