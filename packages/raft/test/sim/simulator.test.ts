import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/testing/index.js';

describe('simulator', () => {
  it('is deterministic: a seed replays exactly', () => {
    const a = runSimulation({ seed: 4242 });
    const b = runSimulation({ seed: 4242 });
    expect(a.ok).toBe(true);
    expect(b.stats).toEqual(a.stats);
    expect(b.history).toEqual(a.history);
    expect(b.params).toEqual(a.params);
  });

  it('exercises faults, snapshots, membership changes and transfers across seeds', () => {
    const total = { crashes: 0, tornWrites: 0, pauses: 0, partitions: 0, confChanges: 0, transfers: 0, snapshotsInstalled: 0, dropped: 0, duplicated: 0, opsOk: 0, opsInfo: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const r = runSimulation({ seed });
      expect(r.ok, `seed ${seed}: ${String(r.failure)}`).toBe(true);
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r.stats[k];
    }
    for (const [k, v] of Object.entries(total)) expect(v, k).toBeGreaterThan(0);
  });

  it('can fail: a driver that acknowledges before persisting is caught', () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 150 && failures.length === 0; seed++) {
      const r = runSimulation({ seed, injectAckBeforePersist: true });
      if (!r.ok) failures.push(`seed ${seed}: ${String(r.failure)}`);
    }
    expect(failures.length).toBeGreaterThan(0);
  });

  it('can fail: leader-local reads (no ReadIndex) are caught by the linearizability checker', () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 150 && failures.length === 0; seed++) {
      const r = runSimulation({ seed, injectLocalReads: true });
      if (!r.ok) failures.push(String(r.failure));
    }
    expect(failures[0]).toMatch(/^linearizability: key \w+ not-linearizable/);
  });

  it('runs without faults too (pure workload), and stays linearizable', () => {
    const r = runSimulation({ seed: 9, faults: false, reconfigure: false });
    expect(r.ok).toBe(true);
    expect(r.stats.opsInfo).toBe(0);
    expect(r.stats.opsOk).toBeGreaterThan(100);
  });
});
