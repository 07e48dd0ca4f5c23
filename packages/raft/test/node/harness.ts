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

  async startNode(id: string): Promise<void> {
    const args = ['--import', tsxEsm, '--conditions=@abi/source', linKv];
    if (this.#opts.dataDir !== undefined) args.push('--data-dir', this.#opts.dataDir);
    args.push('--tick-ms', String(this.#opts.tickMs ?? 10), '--timeout-ms', String(this.#opts.timeoutMs ?? 1500));
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#procs.set(id, child);
    reapOnExit(child);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (this.stderr.length < 20_000) this.stderr += d;
    });
    child.stdin.on('error', () => undefined); // the process may be killed while we write
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => { this.#route(id, line); });
    const ok = this.#rpc('harness', id, { type: 'init', node_id: id, node_ids: this.ids }, 30_000);
    const res = await ok;
    if (res.type !== 'init_ok') throw new Error(`init of ${id} failed: ${JSON.stringify(res)}\n${this.stderr}`);
  }

  /** SIGKILL a node (it loses everything not fsynced... which is nothing that was acknowledged). */
  async kill(id: string): Promise<void> {
    const p = this.#procs.get(id);
    if (p === undefined) return;
    this.#procs.delete(id);
    const exited = new Promise<void>((r) => p.once('exit', () => { r(); }));
    p.kill('SIGKILL');
    this.kills++;
    await exited;
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

  async close(): Promise<void> {
    for (const id of [...this.#procs.keys()]) await this.kill(id);
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

const live = new Set<{ kill(signal: NodeJS.Signals): boolean; exitCode: number | null }>();
let reaper = false;
/** Children must not outlive a test/bench process that crashes or is interrupted. */
function reapOnExit(child: { kill(signal: NodeJS.Signals): boolean; exitCode: number | null; once(event: 'exit', fn: () => void): unknown }): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (reaper) return;
  reaper = true;
  process.once('exit', () => {
    for (const c of live) if (c.exitCode === null) c.kill('SIGKILL');
  });
}
