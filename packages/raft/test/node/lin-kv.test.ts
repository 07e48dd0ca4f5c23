import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkKvHistory } from '../../src/testing/index.js';
import { Harness, finalReads, rng, workload } from './harness.js';

const open: Harness[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KEYS = 4;

function report(h: Harness): string {
  return `history ${h.history.length} ops, delivered ${h.delivered}, dropped ${h.dropped}, kills ${h.kills}\n${h.stderr.slice(0, 2000)}`;
}

describe('Maelstrom lin-kv nodes driven through a Maelstrom-like harness', () => {
  it('3 in-memory lin-kv processes under partitions: the history is linearizable', async () => {
    const h = new Harness({ nodes: 3 });
    open.push(h);
    await h.start();
    const r = rng(7);
    const run = { stop: false };
    const nemesis = (async () => {
      while (!run.stop) {
        await sleep(700);
        if (run.stop as boolean) break; // set while we slept
        const victim = h.ids[r(h.ids.length)]!;
        h.isolate(victim);
        await sleep(500);
        h.heal();
      }
    })();
    const res = await workload(h, { clients: 6, keys: KEYS, durationMs: 4000, seed: 11 });
    run.stop = true;
    await nemesis;
    h.heal();
    await finalReads(h, KEYS);
    expect(res.ok, report(h)).toBeGreaterThan(30);
    const check = checkKvHistory(h.history);
    expect(check, report(h)).toMatchObject({ ok: true });
  }, 60_000);

  for (const n of [3, 5]) {
    it(`${n} lin-kv processes with data dirs: kill -9 leaders and followers repeatedly, restart them; no acknowledged write lost, history linearizable`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'raft-linkv-'));
      dirs.push(dir);
      const h = new Harness({ nodes: n, dataDir: dir });
      open.push(h);
      await h.start();
      const r = rng(n * 101);
      const run = { stop: false };
      const nemesis = (async () => {
        // a fixed number of rounds, however slow the machine: the workload runs until they are done
        for (let round = 1; round <= 4; round++) {
          await sleep(600);
          // alternate: kill the leader, then a follower (on 5 nodes sometimes two at once)
          const leader = await h.leader();
          const victims: string[] = [];
          if (round % 2 === 1 && leader !== undefined) victims.push(leader);
          else victims.push(h.ids.filter((id) => id !== leader)[r(n - 1)]!);
          if (n === 5 && round % 3 === 0) victims.push(h.ids.filter((id) => !victims.includes(id))[r(n - 1)]!);
          await Promise.all(victims.map((v) => h.kill(v)));
          await sleep(200 + r(300));
          await Promise.all(victims.map((v) => h.startNode(v)));
        }
        await sleep(300);
        run.stop = true;
      })();
      const res = await workload(h, { clients: 2 * n, keys: KEYS, durationMs: 0, seed: n, until: run });
      await nemesis;
      await finalReads(h, KEYS);
      expect(h.kills, report(h)).toBeGreaterThanOrEqual(4);
      expect(res.ok, report(h)).toBeGreaterThan(30);
      const check = checkKvHistory(h.history);
    expect(check, report(h)).toMatchObject({ ok: true });
    }, 90_000);
  }
});
