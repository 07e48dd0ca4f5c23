/**
 * A small Maelstrom-like harness: spawns lin-kv node processes, routes their JSON-lines traffic
 * (node ↔ node and node ↔ client), injects partitions and kill -9 / restart, runs concurrent
 * clients and records a history for the linearizability checker.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { KvOp } from '../../src/testing/index.js';
import { Progress, describeExit, firstOf, terminate, track } from './procs-util.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const linKv = path.join(here, '..', '..', 'src', 'node', 'lin-kv.ts');
const tsxEsm = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

type Body = Record<string, unknown> & { type: string; msg_id?: number; in_reply_to?: number };
interface Envelope {
  src: string;
  dest: string;
  body: Body;
}

export interface HarnessOptions {
  readonly nodes: number;
  /** When set, nodes keep their state in `dataDir/<id>` and can be killed and restarted. */
  readonly dataDir?: string;
  readonly tickMs?: number;
  readonly timeoutMs?: number;
  /** How long one start attempt may take to answer `init` (tsx loads slowly on a loaded machine). Default 60 s. */
  readonly startTimeoutMs?: number;
}

export class Harness {
  readonly ids: string[];
  readonly #opts: HarnessOptions;
  readonly #procs = new Map<string, ChildProcessWithoutNullStreams>();
  readonly #cut = new Set<string>();
  readonly #pending = new Map<string, (b: Body) => void>();
  #msgId = 1;
  readonly history: KvOp[] = [];
  readonly t0 = performance.now();
  delivered = 0;
  dropped = 0;
  kills = 0;
  stderr = '';
  /** Acknowledged client operations (read_ok, write_ok, cas_ok), awaitable: nemeses wait for progress, not time. */
  readonly okOps = new Progress();
  /** Start attempts that failed for reasons outside the node and were retried. */
  readonly retriedStarts: string[] = [];
  #closed = false;

  constructor(opts: HarnessOptions) {
    this.#opts = opts;
    this.ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  }

  now(): number {
    return performance.now() - this.t0;
  }

  async start(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.startNode(id)));
  }

  /**
   * Starts node `id` and resolves once it answered `init`. An attempt that fails for a reason
   * outside the node (killed by a signal we did not send, no answer in time) is retried up to
   * twice: for the node it is one more crash during recovery. A node exiting with an error of
   * its own fails at once, with its stderr.
   */
  async startNode(id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const failure = await this.#startOnce(id);
      if (failure === undefined) return;
      this.stderr += `[harness] start of ${id} (attempt ${attempt}) failed: ${failure.reason}\n`;
      if (this.#closed) throw new Error(`harness closed while ${id} was starting`);
      if (!failure.retry || attempt >= 3) throw new Error(`${id} did not start: ${failure.reason}\n${this.stderr}`);
      this.retriedStarts.push(`${id}: ${failure.reason}`);
    }
  }

  async #startOnce(id: string): Promise<{ reason: string; retry: boolean } | undefined> {
    if (this.#closed) throw new Error(`harness closed: not starting ${id}`);
    if (this.#procs.has(id)) throw new Error(`${id} is already running`);
    const args = ['--import', tsxEsm, '--conditions=@abi/source', linKv];
    if (this.#opts.dataDir !== undefined) args.push('--data-dir', this.#opts.dataDir);
    args.push('--tick-ms', String(this.#opts.tickMs ?? 10), '--timeout-ms', String(this.#opts.timeoutMs ?? 1500));
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    this.#procs.set(id, child);
    let own = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (own.length < 4_000) own += d;
      if (this.stderr.length < 20_000) this.stderr += d;
    });
    child.stdin.on('error', () => undefined); // the process may be killed while we write
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => { this.#route(id, line); });
    const timeoutMs = this.#opts.startTimeoutMs ?? 60_000;
    const first = await firstOf(child, this.#rpc('harness', id, { type: 'init', node_id: id, node_ids: this.ids }, timeoutMs), timeoutMs + 1_000);
    if (first.kind === 'ready' && first.value.type === 'init_ok') return undefined;
    const ours = this.#procs.get(id) === child;
    if (ours) this.#procs.delete(id);
    await terminate(child);
    if (!ours) return { reason: `${id} was killed by the harness while starting`, retry: false };
    if (first.kind === 'exit') {
      return { reason: `${describeExit(first.exit)} before init_ok${own === '' ? '' : `: ${own.trim().slice(-500)}`}`, retry: first.exit.signal !== null };
    }
    if (first.kind === 'timeout' || first.value.type === 'timeout' || first.value.type === 'down') return { reason: `no init_ok within ${timeoutMs} ms`, retry: true };
    return { reason: `init failed: ${JSON.stringify(first.value)}`, retry: false };
  }

  /** SIGKILL a node (it loses everything not fsynced... which is nothing that was acknowledged). */
  async kill(id: string): Promise<void> {
    const p = this.#procs.get(id);
    if (p === undefined) return;
    this.#procs.delete(id);
    this.kills++;
    await terminate(p);
  }

  isUp(id: string): boolean {
    return this.#procs.has(id);
  }

  /** Cut all links of `id` (both directions). */
  isolate(id: string, cut = true): void {
    for (const o of this.ids) {
      if (o === id) continue;
      for (const k of [`${id}>${o}`, `${o}>${id}`]) {
        if (cut) this.#cut.add(k);
        else this.#cut.delete(k);
      }
    }
  }

  heal(): void {
    this.#cut.clear();
  }

  #write(id: string, env: Envelope): boolean {
    const p = this.#procs.get(id);
    if (p === undefined || !p.stdin.writable) return false;
    p.stdin.write(`${JSON.stringify(env)}\n`);
    return true;
  }

  #route(from: string, line: string): void {
    let env: Envelope;
    try {
      env = JSON.parse(line) as Envelope;
    } catch {
      this.stderr += `bad line from ${from}: ${line.slice(0, 200)}\n`;
      return;
    }
    if (this.ids.includes(env.dest)) {
      if (this.#cut.has(`${env.src}>${env.dest}`) || !this.#write(env.dest, env)) this.dropped++;
      else this.delivered++;
      return;
    }
    const reply = env.body.in_reply_to;
    if (reply !== undefined) this.#pending.get(`${env.dest}:${reply}`)?.(env.body);
  }

  /** Sends a request from `client` to node `id`; resolves with the reply, or undefined on timeout. */
  #rpc(client: string, id: string, body: Body, timeoutMs: number): Promise<Body> {
    const msgId = this.#msgId++;
    const key = `${client}:${msgId}`;
    return new Promise<Body>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(key);
        resolve({ type: 'timeout' });
      }, timeoutMs);
      this.#pending.set(key, (b) => {
        clearTimeout(timer);
        this.#pending.delete(key);
        resolve(b);
      });
      if (!this.#write(id, { src: client, dest: id, body: { ...body, msg_id: msgId } })) {
        clearTimeout(timer);
        this.#pending.delete(key);
        resolve({ type: 'down' });
      }
    });
  }

  async status(id: string): Promise<Body> {
    return this.#rpc('harness', id, { type: 'status' }, 1000);
  }

  /** The node most nodes name as leader (with the highest term), if any. */
  async leader(): Promise<string | undefined> {
    const st = await Promise.all(this.ids.filter((id) => this.isUp(id)).map((id) => this.status(id)));
    let best: { id: string; term: number } | undefined;
    for (const s of st) {
      if (s.type === 'status_ok' && s.role === 'leader' && typeof s.term === 'number' && typeof s.leader === 'string') {
        if (best === undefined || s.term > best.term) best = { id: s.leader, term: s.term };
      }
    }
    return best?.id;
  }

  /** One client operation with history recording. Returns the reply body. */
  async op(client: string, node: string, f: 'read' | 'write' | 'cas', key: number, a?: number, b?: number): Promise<Body> {
    const call = this.now();
    const body: Body = f === 'read' ? { type: 'read', key } : f === 'write' ? { type: 'write', key, value: a } : { type: 'cas', key, from: a, to: b };
    const res = await this.#rpc(client, node, body, (this.#opts.timeoutMs ?? 1500) + 1000);
    const ret = this.now();
    if (res.type === 'read_ok' || res.type === 'write_ok' || res.type === 'cas_ok') this.okOps.add();
    const k = String(key);
    const code = res.type === 'error' ? res.code : undefined;
    if (f === 'read') {
      if (res.type === 'read_ok') this.history.push({ kind: 'get', key: k, value: String(res.value), call, ret, status: 'ok' });
      else if (code === 20) this.history.push({ kind: 'get', key: k, value: null, call, ret, status: 'ok' });
    } else if (f === 'write') {
      if (res.type === 'write_ok') this.history.push({ kind: 'put', key: k, value: String(a), call, ret, status: 'ok' });
      else if (code === 11 || res.type === 'down') this.history.push({ kind: 'put', key: k, value: String(a), call, ret, status: 'fail' });
      else this.history.push({ kind: 'put', key: k, value: String(a), call, ret: Infinity, status: 'info' });
    } else {
      const base = { kind: 'cas' as const, key: k, value: String(b), expected: String(a), call };
      if (res.type === 'cas_ok') this.history.push({ ...base, ret, status: 'ok' });
      else if (code === 20 || code === 22) this.history.push({ ...base, ret, status: 'fail' });
      else if (code === 11 || res.type === 'down') {
        // definitely not executed: leave it out of the history
      } else this.history.push({ ...base, ret: Infinity, status: 'info' });
    }
    return res;
  }

  /** Kills every node (in parallel; never waits for an exit that already happened); later starts fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const procs = [...this.#procs.values()];
    this.#procs.clear();
    await Promise.all(procs.map((p) => terminate(p)));
  }
}

/** A deterministic xorshift generator for workloads. */
export function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/**
 * Runs `clients` concurrent clients for `durationMs` (or until `until.stop`), each doing read / write / cas on `keys`
 * keys against random nodes that are up. Returns the number of acknowledged writes.
 */
export async function workload(
  h: Harness,
  opts: { clients: number; keys: number; durationMs: number; seed: number; until?: { readonly stop: boolean } },
): Promise<{ ok: number; total: number }> {
  const r = rng(opts.seed);
  const end = h.now() + opts.durationMs;
  const running = (): boolean => (opts.until === undefined ? h.now() < end : !opts.until.stop);
  let ok = 0;
  let total = 0;
  let value = 1;
  const last = new Map<number, number>();
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, c) => {
      const client = `c${c + 1}`;
      while (running()) {
        const up = h.ids.filter((id) => h.isUp(id));
        if (up.length === 0) {
          await new Promise((res) => setTimeout(res, 20));
          continue;
        }
        const node = up[r(up.length)]!;
        const key = r(opts.keys);
        const roll = r(10);
        total++;
        let res: Body;
        if (roll < 4) res = await h.op(client, node, 'read', key);
        else if (roll < 8) {
          const v = value++;
          last.set(key, v);
          res = await h.op(client, node, 'write', key, v);
        } else {
          const v = value++;
          res = await h.op(client, node, 'cas', key, last.get(key) ?? 0, v);
          last.set(key, v);
        }
        if (res.type === 'write_ok' || res.type === 'cas_ok' || res.type === 'read_ok') ok++;
        if (res.type === 'error' || res.type === 'timeout' || res.type === 'down') await new Promise((res2) => setTimeout(res2, 10));
      }
    }),
  );
  return { ok, total };
}

/** After the faults: read every key (retrying) so a lost acknowledged write shows up in the check. */
export async function finalReads(h: Harness, keys: number): Promise<void> {
  for (let key = 0; key < keys; key++) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const up = h.ids.filter((id) => h.isUp(id));
      const res = await h.op('final', up[attempt % up.length]!, 'read', key);
      if (res.type === 'read_ok' || (res.type === 'error' && res.code === 20)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
