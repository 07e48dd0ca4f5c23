import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkKvHistory } from '../../src/testing/index.js';
import { Harness, finalReads, rng, workload } from './harness.js';

const open: Harness[] = [];
const dirs: string[] = [];
// Its own timeout: closing SIGKILLs every process in parallel and never waits for an exit that
// already happened, so it ends within seconds even when a test failed mid-restart.
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}, 60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KEYS = 4;
/** A cluster that acknowledges nothing for this long fails the test (liveness after a fault heals). */
const PROGRESS_MS = 60_000;

function report(h: Harness): string {
  return `history ${h.history.length} ops, delivered ${h.delivered}, dropped ${h.dropped}, kills ${h.kills}, retried starts ${JSON.stringify(h.retriedStarts)}\n${h.stderr.slice(0, 2000)}`;
}

/** Runs `nemesis` while the workload runs; the workload stops when the nemesis ends or fails. */
async function during(h: Harness, seed: number, clients: number, nemesis: () => Promise<void>): Promise<{ ok: number; total: number }> {
  const run = { stop: false };
  const load = workload(h, { clients, keys: KEYS, durationMs: 0, seed, until: run });
  try {
    await nemesis();
  } finally {
    run.stop = true;
    await load.catch(() => undefined);
  }
  return load;
}

describe('Maelstrom lin-kv nodes driven through a Maelstrom-like harness', () => {
  it('3 in-memory lin-kv processes under partitions: the history is linearizable', async () => {
    const h = new Harness({ nodes: 3 });
    open.push(h);
    await h.start();
    const r = rng(7);
    // a fixed number of partition rounds, each after at least 700 ms and 8 acknowledged operations
    const res = await during(h, 11, 6, async () => {
      for (let round = 1; round <= 5; round++) {
        await Promise.all([sleep(700), h.okOps.more(8, PROGRESS_MS, `operations before partition ${round}`)]);
        const victim = h.ids[r(h.ids.length)]!;
        h.isolate(victim);
        await sleep(500); // the partition's duration
        h.heal();
      }
      await h.okOps.more(8, PROGRESS_MS, 'operations after the last heal');
    });
    await finalReads(h, KEYS);
    expect(res.ok, report(h)).toBeGreaterThanOrEqual(6 * 8);
    const check = checkKvHistory(h.history);
    expect(check, report(h)).toMatchObject({ ok: true });
  }, 300_000); // normally ~5 s; generous for a loaded CI machine, still bounded

  for (const n of [3, 5]) {
    it(`${n} lin-kv processes with data dirs: kill -9 leaders and followers repeatedly, restart them; no acknowledged write lost, history linearizable`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'raft-linkv-'));
      dirs.push(dir);
      const h = new Harness({ nodes: n, dataDir: dir });
      open.push(h);
      await h.start();
      const r = rng(n * 101);
      // a fixed number of rounds, however slow the machine: each kill waits for the cluster to
      // have acknowledged more operations since the last restart
      const res = await during(h, n, 2 * n, async () => {
        for (let round = 1; round <= 4; round++) {
          await Promise.all([sleep(600), h.okOps.more(10, PROGRESS_MS, `operations before kill round ${round}`)]);
          // alternate: kill the leader, then a follower (on 5 nodes sometimes two at once)
          const leader = await h.leader();
          const victims: string[] = [];
          if (round % 2 === 1 && leader !== undefined) victims.push(leader);
          else victims.push(h.ids.filter((id) => id !== leader)[r(n - 1)]!);
          if (n === 5 && round % 3 === 0) victims.push(h.ids.filter((id) => !victims.includes(id))[r(n - 1)]!);
          await Promise.all(victims.map((v) => h.kill(v)));
          await sleep(200 + r(300)); // the victims' downtime
          await Promise.all(victims.map((v) => h.startNode(v)));
        }
        await h.okOps.more(10, PROGRESS_MS, 'operations after the last restart');
      });
      await finalReads(h, KEYS);
      expect(h.kills, report(h)).toBeGreaterThanOrEqual(4);
      expect(res.ok, report(h)).toBeGreaterThanOrEqual(5 * 10);
      const check = checkKvHistory(h.history);
      expect(check, report(h)).toMatchObject({ ok: true });
    }, 300_000);
  }
});
