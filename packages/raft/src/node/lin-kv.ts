#!/usr/bin/env node
/**
 * A Maelstrom `lin-kv` node backed by @abi/raft (https://github.com/jepsen-io/maelstrom).
 *
 * Protocol: one JSON message per line on stdin/stdout (`{src, dest, body}`), logs on stderr.
 * Client operations: `read {key}` → `read_ok {value}`, `write {key, value}` → `write_ok`,
 * `cas {key, from, to}` → `cas_ok`; errors 20 (key does not exist), 22 (precondition failed),
 * 11 (temporarily unavailable: definitely not applied), 0 (timeout: outcome unknown).
 * `status` → `status_ok {role, leader, term, commit, applied}` is an extra for test harnesses.
 * Node-to-node traffic uses the same channel: `{type: "raft", data: <base64 message batch>}`
 * (PROTOCOL.md §Messages) and `proxy` / `proxy_ok` to forward writes to the leader.
 *
 * Options (argv or env): `--data-dir DIR` / `ABI_RAFT_DATA_DIR` keeps each node's state in
 * `DIR/<node_id>` with `FileStorage` (so a killed node can be restarted); without it state is in
 * memory. `--tick-ms N` (default 10), `--timeout-ms N` (operation timeout, default 2000).
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Message, NodeId } from '../core/types.js';
import { isRaftError } from '../errors.js';
import { KvStateMachine, encodeKvCommand } from './kv.js';
import type { KvCommand, KvResult } from './kv.js';
import { RaftNode } from './raft-node.js';
import { FileStorage } from './storage/file-storage.js';
import { MemoryRaftStorage } from './storage/raft-storage.js';
import { decodeBatch, encodeBatch } from './wire.js';

type Body = Record<string, unknown> & { type: string; msg_id?: number; in_reply_to?: number };
interface Envelope {
  src: string;
  dest: string;
  body: Body;
}

export interface LinKvOptions {
  readonly dataDir?: string;
  readonly tickMs?: number;
  readonly timeoutMs?: number;
  /** Where lines go (default: stdout). */
  readonly write?: (line: string) => void;
  readonly log?: (line: string) => void;
}

/** The lin-kv node logic, independent of stdin/stdout so it can be embedded. */
export class LinKvServer {
  readonly #opts: LinKvOptions;
  readonly #write: (line: string) => void;
  readonly #log: (line: string) => void;
  #id: NodeId | undefined;
  #node: RaftNode | undefined;
  #sm: KvStateMachine | undefined;
  #starting: Promise<void> | undefined;
  #nextId = 1;
  readonly #proxies = new Map<number, { resolve: (b: Body) => void }>();
  readonly #early: Envelope[] = [];

  constructor(options: LinKvOptions = {}) {
    this.#opts = options;
    this.#write = options.write ?? ((l) => process.stdout.write(l));
    this.#log = options.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  #send(dest: string, body: Body): void {
    if (this.#id === undefined) return;
    this.#write(`${JSON.stringify({ src: this.#id, dest, body })}\n`);
  }

  #reply(req: Envelope, body: Body): void {
    this.#send(req.src, { ...body, ...(req.body.msg_id === undefined ? {} : { in_reply_to: req.body.msg_id }) });
  }

  /** Handles one input line. Malformed lines are logged and ignored. */
  handleLine(line: string): void {
    if (line.trim() === '') return;
    let env: Envelope;
    try {
      env = JSON.parse(line) as Envelope;
      if (typeof env.src !== 'string' || typeof env.dest !== 'string' || typeof env.body !== 'object' || typeof env.body.type !== 'string') {
        throw new Error('not a {src, dest, body: {type}} envelope');
      }
    } catch (e) {
      this.#log(`ignoring malformed line: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.handle(env);
  }

  handle(env: Envelope): void {
    const { body } = env;
    if (body.type === 'init') {
      void this.#init(env);
      return;
    }
    if (this.#node === undefined) {
      if (this.#early.length < 10_000) this.#early.push(env);
      return;
    }
    switch (body.type) {
      case 'raft':
        this.#onRaft(body);
        return;
      case 'read':
        void this.#onRead(env);
        return;
      case 'write':
      case 'cas':
        void this.#onWrite(env);
        return;
      case 'proxy':
        void this.#onProxy(env);
        return;
      case 'status': {
        const m = this.#node.metrics();
        this.#reply(env, { type: 'status_ok', role: m.role, leader: m.leader, term: m.term, commit: m.commit, applied: m.applied });
        return;
      }
      case 'proxy_ok': {
        const p = body.in_reply_to === undefined ? undefined : this.#proxies.get(body.in_reply_to);
        if (p !== undefined && typeof body.res === 'object' && body.res !== null) p.resolve(body.res as Body);
        return;
      }
      default:
        this.#reply(env, { type: 'error', code: 10, text: `unsupported message type ${body.type}` });
    }
  }

  async #init(env: Envelope): Promise<void> {
    const nodeId = env.body.node_id;
    const nodeIds = env.body.node_ids;
    if (typeof nodeId !== 'string' || !Array.isArray(nodeIds) || !nodeIds.every((x) => typeof x === 'string')) {
      this.#reply(env, { type: 'error', code: 12, text: 'init needs node_id and node_ids' });
      return;
    }
    if (this.#starting !== undefined) {
      await this.#starting;
      this.#reply(env, { type: 'init_ok' });
      return;
    }
    this.#id = nodeId;
    this.#starting = (async () => {
      const sm = new KvStateMachine();
      const storage = this.#opts.dataDir === undefined ? new MemoryRaftStorage() : await FileStorage.open(path.join(this.#opts.dataDir, nodeId));
      const node = await RaftNode.start({
        id: nodeId,
        storage,
        stateMachine: sm,
        bootstrap: nodeIds,
        tickMs: this.#opts.tickMs ?? 10,
        snapshotEvery: 5_000,
        network: { send: (ms) => { this.#sendRaft(ms); } },
      });
      this.#sm = sm;
      this.#node = node;
    })();
    await this.#starting;
    this.#reply(env, { type: 'init_ok' });
    for (const e of this.#early.splice(0)) this.handle(e);
  }

  #sendRaft(ms: readonly Message[]): void {
    const by = new Map<string, Message[]>();
    for (const m of ms) {
      let l = by.get(m.to);
      if (l === undefined) by.set(m.to, (l = []));
      l.push(m);
    }
    for (const [to, list] of by) this.#send(to, { type: 'raft', data: encodeBatch(list).toString('base64') });
  }

  #onRaft(body: Body): void {
    if (typeof body.data !== 'string') return;
    let ms: Message[];
    try {
      ms = decodeBatch(Buffer.from(body.data, 'base64'));
    } catch (e) {
      this.#log(`dropping undecodable raft batch: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.#node?.stepAll(ms);
  }

  #signal(): AbortSignal {
    return AbortSignal.timeout(this.#opts.timeoutMs ?? 2000);
  }

  async #onRead(env: Envelope): Promise<void> {
    const node = this.#node;
    const sm = this.#sm;
    if (node === undefined || sm === undefined) return;
    const key = JSON.stringify(env.body.key);
    try {
      await node.read({ signal: this.#signal() });
    } catch (e) {
      this.#reply(env, errorBody(e));
      return;
    }
    if (!sm.has(key)) this.#reply(env, { type: 'error', code: 20, text: 'key does not exist' });
    else this.#reply(env, { type: 'read_ok', value: sm.get(key) });
  }

  /** Executes a write/cas here (leader) and returns the reply body. */
  async #execute(body: Body): Promise<Body> {
    const node = this.#node;
    if (node === undefined) return { type: 'error', code: 11, text: 'not initialised' };
    const key = JSON.stringify(body.key);
    const cmd: KvCommand = body.type === 'write' ? { op: 'put', key, value: body.value } : { op: 'cas', key, from: body.from, to: body.to };
    try {
      const res = (await node.propose(encodeKvCommand(cmd), { signal: this.#signal() })) as KvResult;
      if (res.ok) return { type: body.type === 'write' ? 'write_ok' : 'cas_ok' };
      return res.error === 'missing' ? { type: 'error', code: 20, text: 'key does not exist' } : { type: 'error', code: 22, text: `expected ${JSON.stringify(body.from)}, found ${JSON.stringify(res.current)}` };
    } catch (e) {
      return errorBody(e);
    }
  }

  async #onWrite(env: Envelope): Promise<void> {
    const node = this.#node;
    if (node === undefined) return;
    if (node.isLeader || node.leader === null) {
      this.#reply(env, await this.#execute(env.body));
      return;
    }
    // Forward to the leader; if it does not answer in time the outcome is unknown (code 0).
    const id = this.#nextId++;
    const res = await new Promise<Body>((resolve) => {
      const timer = setTimeout(() => {
        this.#proxies.delete(id);
        resolve({ type: 'error', code: 0, text: 'timed out waiting for the leader (outcome unknown)' });
      }, this.#opts.timeoutMs ?? 2000);
      this.#proxies.set(id, {
        resolve: (b) => {
          clearTimeout(timer);
          this.#proxies.delete(id);
          resolve(b);
        },
      });
      this.#send(node.leader ?? '', { type: 'proxy', msg_id: id, req: env.body });
    });
    this.#reply(env, res);
  }

  async #onProxy(env: Envelope): Promise<void> {
    const req = env.body.req;
    if (typeof req !== 'object' || req === null) return;
    const res = await this.#execute(req as Body);
    this.#reply(env, { type: 'proxy_ok', res });
  }

  async close(): Promise<void> {
    await this.#node?.close();
  }
}

function errorBody(e: unknown): Body {
  if (isRaftError(e)) {
    switch (e.code) {
      case 'not-leader':
      case 'proposal-dropped':
      case 'uncommitted-limit':
        return { type: 'error', code: 11, text: e.message };
      default:
        return { type: 'error', code: 0, text: e.message };
    }
  }
  return { type: 'error', code: 0, text: e instanceof Error ? e.message : String(e) };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function numberArg(name: string, env: string | undefined): number | undefined {
  const raw = argValue(name) ?? env;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`${name} must be a positive number (got ${raw})\n`);
    process.exit(2);
  }
  return n;
}

/** Runs the lin-kv node on stdin/stdout until stdin ends. */
export function main(): void {
  const dataDir = argValue('--data-dir') ?? process.env.ABI_RAFT_DATA_DIR;
  const tickMs = numberArg('--tick-ms', process.env.ABI_RAFT_TICK_MS);
  const timeoutMs = numberArg('--timeout-ms', process.env.ABI_RAFT_TIMEOUT_MS);
  const server = new LinKvServer({
    ...(dataDir === undefined ? {} : { dataDir }),
    ...(tickMs === undefined ? {} : { tickMs }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    server.handleLine(line);
  });
  rl.on('close', () => {
    void server.close().then(() => process.exit(0));
  });
}

function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) main();
