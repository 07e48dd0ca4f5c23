/** Spawns `kv-server` node processes on 127.0.0.1 for multi-process tests and benchmarks. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const serverTs = path.join(here, '..', '..', 'src', 'node', 'kv-server.ts');
const tsxEsm = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

export class ProcessCluster {
  readonly ids: string[];
  readonly addresses: Record<string, string>;
  readonly #dataDir: string;
  readonly #extra: string[];
  readonly #procs = new Map<string, ChildProcess>();
  stderr = '';
  kills = 0;

  constructor(ports: number[], dataDir: string, extraArgs: string[] = []) {
    this.ids = ports.map((_, i) => `n${i + 1}`);
    this.addresses = Object.fromEntries(this.ids.map((id, i) => [id, `127.0.0.1:${ports[i]!}`]));
    this.#dataDir = dataDir;
    this.#extra = extraArgs;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  isUp(id: string): boolean {
    return this.#procs.has(id);
  }

  async start(id: string): Promise<void> {
    const nodeArgs = process.env.RAFT_CHILD_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
    const args = [...nodeArgs, '--import', tsxEsm, '--conditions=@abi/source', serverTs, '--id', id, '--listen', this.addresses[id]!, '--data-dir', path.join(this.#dataDir, id), ...this.#extra];
    for (const [pid, addr] of Object.entries(this.addresses)) if (pid !== id) args.push('--peer', `${pid}=${addr}`);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#procs.set(id, child);
    reapOnExit(child);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (this.stderr.length < 20_000) this.stderr += `[${id}] ${d}`;
    });
    await new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      rl.once('line', (line) => {
        if (line.startsWith('ready ')) resolve();
        else reject(new Error(`unexpected output from ${id}: ${line}`));
      });
      child.once('exit', (code) => { reject(new Error(`${id} exited with ${code}\n${this.stderr}`)); });
    });
  }

  async kill(id: string): Promise<void> {
    const p = this.#procs.get(id);
    if (p === undefined) return;
    this.#procs.delete(id);
    const exited = new Promise<void>((r) => p.once('exit', () => { r(); }));
    p.kill('SIGKILL');
    this.kills++;
    await exited;
  }

  async close(): Promise<void> {
    for (const id of [...this.#procs.keys()]) await this.kill(id);
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
