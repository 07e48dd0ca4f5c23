/** Spawns `kv-server` node processes on 127.0.0.1 for multi-process tests and benchmarks. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeExit, firstOf, terminate, track } from './procs-util.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const serverTs = path.join(here, '..', '..', 'src', 'node', 'kv-server.ts');
const tsxEsm = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

export interface ProcessClusterOptions {
  /** How long one start attempt may take to print its `ready` line (a loaded CI machine is slow to load tsx). Default 60 s. */
  readonly startTimeoutMs?: number;
  /** Start attempts per `start()`; only failures not caused by the node itself are retried. Default 3. */
  readonly startAttempts?: number;
}

/**
 * A start attempt that failed for a reason outside the node (killed by a signal we did not send,
 * no readiness in time, its port taken by another process meanwhile) is retried: for the node it
 * is one more crash during recovery, which it must survive anyway. A node that exits with an error
 * of its own (a crash, `corrupt` data) fails the start at once, with its stderr.
 */
export class ProcessCluster {
  readonly ids: string[];
  readonly addresses: Record<string, string>;
  readonly #dataDir: string;
  readonly #extra: string[];
  readonly #opts: ProcessClusterOptions;
  readonly #procs = new Map<string, ChildProcess>();
  #closed = false;
  stderr = '';
  kills = 0;
  /** Start attempts that failed and were retried, with why (also in `stderr`). */
  readonly retriedStarts: string[] = [];

  constructor(ports: number[], dataDir: string, extraArgs: string[] = [], opts: ProcessClusterOptions = {}) {
    this.ids = ports.map((_, i) => `n${i + 1}`);
    this.addresses = Object.fromEntries(this.ids.map((id, i) => [id, `127.0.0.1:${ports[i]!}`]));
    this.#dataDir = dataDir;
    this.#extra = extraArgs;
    this.#opts = opts;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  isUp(id: string): boolean {
    return this.#procs.has(id);
  }

  /** The OS process id of node `id` (set as soon as a start attempt spawned it). */
  pid(id: string): number | undefined {
    return this.#procs.get(id)?.pid;
  }

  #log(line: string): void {
    if (this.stderr.length < 40_000) this.stderr += `${line}\n`;
  }

  /** Starts node `id` and resolves once it printed `ready` (see the class comment for retries). */
  async start(id: string): Promise<void> {
    const attempts = this.#opts.startAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const failure = await this.#startOnce(id);
      if (failure === undefined) return;
      this.#log(`[harness] start of ${id} (attempt ${attempt}) failed: ${failure.reason}`);
      if (this.#closed) throw new Error(`cluster closed while ${id} was starting`);
      if (!failure.retry || attempt >= attempts) throw new Error(`${id} did not start: ${failure.reason}\n${this.stderr}`);
      this.retriedStarts.push(`${id}: ${failure.reason}`);
    }
  }

  async #startOnce(id: string): Promise<{ reason: string; retry: boolean } | undefined> {
    if (this.#closed) throw new Error(`cluster closed: not starting ${id}`);
    if (this.#procs.has(id)) throw new Error(`${id} is already running`);
    const nodeArgs = process.env.RAFT_CHILD_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
    const args = [...nodeArgs, '--import', tsxEsm, '--conditions=@abi/source', serverTs, '--id', id, '--listen', this.addresses[id]!, '--data-dir', path.join(this.#dataDir, id), ...this.#extra];
    for (const [pid, addr] of Object.entries(this.addresses)) if (pid !== id) args.push('--peer', `${pid}=${addr}`);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    this.#procs.set(id, child);
    let own = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (own.length < 4_000) own += d;
      if (this.stderr.length < 40_000) this.stderr += `[${id}] ${d}`;
    });
    const rl = createInterface({ input: child.stdout });
    const line = new Promise<string>((resolve) => { rl.once('line', resolve); }); // stdout closing ends in an exit
    const first = await firstOf(child, line, this.#opts.startTimeoutMs ?? 60_000);
    if (first.kind === 'ready' && first.value.startsWith('ready ')) return undefined;
    // Not ready: make sure this child is gone and forgotten before reporting why.
    const ours = this.#procs.get(id) === child;
    if (ours) this.#procs.delete(id);
    await terminate(child);
    if (!ours) return { reason: `${id} was killed by the harness while starting`, retry: false };
    if (first.kind === 'timeout') return { reason: `no ready line within ${this.#opts.startTimeoutMs ?? 60_000} ms`, retry: true };
    if (first.kind === 'ready') return { reason: `unexpected output: ${first.value}`, retry: false };
    const portTaken = own.includes('EADDRINUSE');
    return { reason: `${describeExit(first.exit)} before ready${own === '' ? '' : `: ${own.trim().slice(-500)}`}`, retry: first.exit.signal !== null || portTaken };
  }

  /** SIGKILL node `id` (a nemesis kill, counted in `kills`) and wait until it is gone. */
  async kill(id: string): Promise<void> {
    const p = this.#procs.get(id);
    if (p === undefined) return;
    this.#procs.delete(id);
    this.kills++;
    await terminate(p);
  }

  /** Kills every node (in parallel; never waits for an exit that already happened); later starts fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const procs = [...this.#procs.values()];
    this.#procs.clear();
    await Promise.all(procs.map((p) => terminate(p)));
  }
}
