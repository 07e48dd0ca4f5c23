/**
 * Randomised simulation: many seeds, each a random schedule of faults (drop, duplicate, reorder,
 * delay), partitions (both ways and one way) and heals, with concurrent calls in both directions.
 * Every call must settle with the right answer or a typed error, and after a final heal the nodes
 * must talk again. Seeds run in virtual time; a failure names its seed (replay with SIM_SEED=n).
 *
 * CI runs 12 seeds; `pnpm --filter @abi/transport sim` runs 1 000 (`SIM_SEEDS`, `SIM_SEED` to choose).
 */
import { describe, expect, it } from 'vitest';
import { isTransportError, MemoryNetwork, seededRandom } from '../src/index.js';
import type { Connection } from '../src/index.js';

const SEEDS = Number(process.env.SIM_SEEDS ?? 12);
const FIRST = Number(process.env.SIM_SEED ?? 1);
const allowed = new Set(['DEADLINE_EXCEEDED', 'CONNECTION_LOST', 'CONNECTION_CLOSED', 'GOING_AWAY', 'PEER_TIMEOUT', 'CONNECT_TIMEOUT', 'CONNECTION_REFUSED', 'ABORTED']);

async function scenario(seed: number): Promise<{ ok: number; failed: number }> {
  const rnd = seededRandom(seed * 7919);
  const int = (n: number): number => Math.floor(rnd() * n);
  const net = new MemoryNetwork({ seed, clock: 'virtual' });
  const init = { keepAliveMs: 200, keepAliveTimeoutMs: 200, connectTimeoutMs: 300 };
  const a = net.transport('a', init);
  const b = net.transport('b', init);
  for (const t of [a, b]) {
    t.handle('add', async (p) => {
      const [x, y] = p as [number, number];
      return x + y;
    });
    t.handle('note', () => undefined);
  }
  await a.listen('a');
  await b.listen('b');
  let conn: Connection = await net.run(a.dial('b'));
  let ok = 0;
  let failed = 0;
  const check = async (p: Promise<unknown>, expected: number): Promise<void> => {
    try {
      const v = await p;
      if (v !== expected) throw new Error(`seed ${seed}: wrong answer ${String(v)} for ${expected}`);
      ok++;
    } catch (e) {
      if (!isTransportError(e) || !allowed.has(e.code)) throw new Error(`seed ${seed}: unexpected failure`, { cause: e });
      failed++;
    }
  };
  const pending: Promise<void>[] = [];
  for (let step = 0; step < 60; step++) {
    const action = int(10);
    if (action === 0) net.setFaults({ drop: rnd() * 0.3, duplicate: rnd() * 0.2, reorder: rnd() * 0.2, delayMs: [0, 1 + int(20)] });
    else if (action === 1) net.partition('a', 'b');
    else if (action === 2) net.partitionOneWay(int(2) === 0 ? 'a' : 'b', int(2) === 0 ? 'b' : 'a');
    else if (action === 3) net.heal();
    else if (conn.state !== 'open') {
      // Reconnect; the dial itself may fail under faults.
      const c = conn;
      pending.push(
        net.run(a.dial('b').then((n) => {
          if (conn === c) conn = n;
        })).catch((e: unknown) => {
          if (!isTransportError(e) || !allowed.has(e.code)) throw new Error(`seed ${seed}: bad dial failure`, { cause: e });
        }),
      );
    } else {
      const x = int(1000);
      const y = int(1000);
      pending.push(check(conn.request('add', [x, y], { deadlineMs: 50 + int(200) }), x + y));
      void conn.send('note', x).catch(() => undefined);
    }
    await net.runFor(int(40));
  }
  await net.run(Promise.all(pending), { maxMs: 60_000 });
  // Heal: the nodes must be able to talk again.
  net.heal();
  const fresh = await net.run(a.dial('b'));
  expect(await net.run(fresh.request('add', [2, 3]))).toBe(5);
  await net.run(Promise.all([a.close(), b.close()]), { maxMs: 60_000 });
  return { ok, failed };
}

describe('simulation fuzz - random faults, partitions and heals', () => {
  it(`${SEEDS} seeds from ${FIRST}: every call settles correctly or with a typed error; heal restores service`, { timeout: 600_000 }, async () => {
    let ok = 0;
    let failed = 0;
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      const r = await scenario(seed);
      ok += r.ok;
      failed += r.failed;
    }
    console.log(`sim fuzz: ${ok} calls answered, ${failed} failed with typed errors`);
    expect(ok).toBeGreaterThan(0);
    expect(ok + failed).toBeGreaterThan(SEEDS * 10);
  });
});
