import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TcpTransport } from '@abi/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/index.js';
import type { KvReply } from '../../src/node/index.js';
import { checkKvHistory } from '../../src/testing/index.js';
import type { KvOp } from '../../src/testing/index.js';
import { rng } from './harness.js';
import { freePorts } from './ports.js';
import { Progress } from './procs-util.js';
import { ProcessCluster } from './tcp-procs.js';

const open: { close(): Promise<void> }[] = [];
const dirs: string[] = [];
// Its own timeout: closing kills every process (SIGKILL, in parallel, never waiting for an exit
// that already happened), so it ends within seconds even when the test failed mid-restart.
afterEach(async () => {
  const results = await Promise.allSettled(open.splice(0).reverse().map((c) => c.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}, 60_000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function leaderOf(cluster: ProcessCluster, t: TcpTransport): Promise<string | undefined> {
  let best: { id: string; term: number } | undefined;
  for (const id of cluster.ids) {
    if (!cluster.isUp(id)) continue;
    try {
      const c = await t.dial(cluster.addresses[id]!, { timeoutMs: 500 });
      const st = await c.request<{ role: string; term: number; id: string }>('kv.status', {}, { deadlineMs: 500 });
      c.abort();
      if (st.role === 'leader' && (best === undefined || st.term > best.term)) best = { id: st.id, term: st.term };
    } catch {
      // down or slow: not the leader we are looking for
    }
  }
  return best?.id;
}

describe('multi-process cluster over TCP with real data dirs', () => {
  for (const n of [3, 5]) {
    it(`${n} kv-server processes: kill -9 leaders and followers repeatedly during a client workload; no acknowledged write lost, history linearizable`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'raft-procs-'));
      dirs.push(dir);
      const cluster = new ProcessCluster(await freePorts(n), dir);
      open.push(cluster);
      await cluster.startAll();
      const t = new TcpTransport();
      open.push(t);
      const history: KvOp[] = [];
      const t0 = performance.now();
      const now = (): number => performance.now() - t0;
      const keys = 4;
      const r = rng(n * 7);
      let value = 1;
      const last = new Map<number, string>();
      const run = { stop: false };
      // acknowledged writes, as an awaitable counter: the nemesis waits for progress, not for time
      const acked = new Progress();

      const client = async (c: number): Promise<void> => {
        const kv = new KvClient({ servers: cluster.addresses, transport: t, requestTimeoutMs: 1500, attempts: 8 });
        try {
          while (!run.stop) {
            const key = r(keys);
            const k = String(key);
            const roll = r(10);
            const call = now();
            let res: KvReply;
            if (roll < 4) {
              res = await kv.get(k);
              if (res.ok) history.push({ kind: 'get', key: k, value: (res.value as string | null) ?? null, call, ret: now(), status: 'ok' });
            } else if (roll < 8 || !last.has(key)) {
              const v = `${c}-${value++}`;
              last.set(key, v);
              res = await kv.put(k, v);
              if (res.ok) acked.add();
              history.push({ kind: 'put', key: k, value: v, call, ret: res.ok ? now() : Infinity, status: res.ok ? 'ok' : res.definite === true ? 'fail' : 'info' });
            } else {
              const from = last.get(key)!; // never null: a cas on a missing key is not a register op
              const v = `${c}-${value++}`;
              res = await kv.cas(k, from, v);
              if (res.ok) acked.add();
              const base = { kind: 'cas' as const, key: k, value: v, expected: from, call };
              if (res.ok) history.push({ ...base, ret: now(), status: 'ok' });
              else if (res.error === 'missing' || res.error === 'mismatch') history.push({ ...base, ret: now(), status: 'fail' });
              else if (res.definite !== true) history.push({ ...base, ret: Infinity, status: 'info' });
              last.set(key, v);
            }
            if (!res.ok) await sleep(10);
          }
        } finally {
          await kv.close();
        }
      };

      // Each round starts once the cluster (whole again) acknowledged more writes, so every kill
      // hits a cluster under load however slow the machine is; a cluster that stops serving
      // writes for a minute fails the test (liveness after restarts).
      const PROGRESS_MS = 60_000;
      const nemesis = async (): Promise<void> => {
        for (let round = 1; round <= 6; round++) {
          // at least 700 ms of workload and at least 20 more acknowledged writes
          await Promise.all([sleep(700), acked.more(20, PROGRESS_MS, `writes before kill round ${round}`)]);
          const leader = await leaderOf(cluster, t);
          const victims = [round % 2 === 1 && leader !== undefined ? leader : cluster.ids.filter((id) => id !== leader)[r(n - 1)]!];
          if (n === 5 && round % 3 === 0) victims.push(cluster.ids.filter((id) => !victims.includes(id))[r(n - 1)]!);
          await Promise.all(victims.map((v) => cluster.kill(v)));
          await sleep(150 + r(300)); // the victims' downtime (a fault's duration, not a synchronisation)
          await Promise.all(victims.map((v) => cluster.start(v)));
        }
        await acked.more(10, PROGRESS_MS, 'writes after the last restart');
      };

      const clients = Array.from({ length: 2 * n }, (_, c) => client(c));
      try {
        await nemesis();
      } finally {
        run.stop = true; // also when the nemesis failed: no client outlives the test
        await Promise.allSettled(clients);
      }
      for (const c of await Promise.allSettled(clients)) if (c.status === 'rejected') throw c.reason;
      // Final reads of every key: an acknowledged write that was lost would show up here.
      const kv = new KvClient({ servers: cluster.addresses, transport: t, attempts: 50 });
      open.push(kv);
      for (let key = 0; key < keys; key++) {
        const call = now();
        const res = await kv.get(String(key));
        expect(res.ok, `final read of ${key}: ${JSON.stringify(res)}\n${cluster.stderr}`).toBe(true);
        history.push({ kind: 'get', key: String(key), value: (res.value as string | null) ?? null, call, ret: now(), status: 'ok' });
      }
      expect(cluster.kills).toBeGreaterThanOrEqual(6);
      expect(acked.count, cluster.stderr).toBeGreaterThanOrEqual(6 * 20 + 10);
      const check = checkKvHistory(history);
      expect(check, `${JSON.stringify(check)} ${history.length} ops\n${cluster.stderr}`).toMatchObject({ ok: true });
    }, 300_000); // normally ~20 s; generous for a loaded CI machine, still bounded
  }
});
