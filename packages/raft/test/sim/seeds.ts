import { expect, it } from 'vitest';
import { runSimulation } from '../../src/testing/index.js';

/** Register one test per block of seeds; a failure names the seeds and how to replay them. */
export function simulateSeeds(from: number, to: number, block = 25): void {
  for (let start = from; start <= to; start += block) {
    const end = Math.min(to, start + block - 1);
    it(`seeds ${start}..${end}: safe, linearizable, live`, () => {
      const failures: string[] = [];
      for (let seed = start; seed <= end; seed++) {
        const res = runSimulation({ seed });
        if (!res.ok) failures.push(`seed ${seed}: ${String(res.failure)} — replay: pnpm --filter @abi/raft sim --seed ${seed} --verbose`);
      }
      expect(failures).toEqual([]);
    });
  }
}
