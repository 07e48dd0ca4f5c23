#!/usr/bin/env node
/**
 * A replicated KV server process: one Raft node (FileStorage in a data dir, fsync on) talking to
 * its peers with `RaftTransport` over TCP, serving clients on the same `TcpTransport`:
 *
 *   kv.get {key}              → {ok: true, value} | {ok: false, error}
 *   kv.put {key, value}       → {ok: true}        | {ok: false, error}
 *   kv.cas {key, from, to}    → {ok: true}        | {ok: false, error: 'missing' | 'mismatch' | …}
 *
 * `error` is a RaftError code; `definite: true` means the write was not and will not be applied
 * (`not-leader`, `proposal-dropped`, `uncommitted-limit`, cas `missing`/`mismatch`); other errors
 * leave the outcome unknown. Replies carry `leader` (its id) so clients can re-target.
 *
 * CLI: abi-raft-kv-server --id n1 --listen 127.0.0.1:7001 --peer n2=127.0.0.1:7002 … --data-dir DIR
 *      [--no-fsync] [--tick-ms 10] [--snapshot-every 100000]. Prints `ready <address>` on stdout once listening.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpTransport } from '@abi/transport';
import type { NodeId } from '../core/types.js';
import { isRaftError } from '../errors.js';
import type { CoreOptions } from './raft-node.js';
import { RaftNode } from './raft-node.js';
import { RaftTransport } from './raft-transport.js';
import { FileStorage } from './storage/file-storage.js';
import { MemoryRaftStorage } from './storage/raft-storage.js';
import { KvStateMachine, encodeKvCommand } from './kv.js';
import type { KvCommand, KvResult } from './kv.js';

export interface KvServerOptions {
  readonly id: NodeId;
  /** host:port to listen on (also what peers dial). */
  readonly listen: string;
  /** Every other member: id → host:port. */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Data directory; in-memory storage when absent. */
  readonly dataDir?: string;
  readonly fsync?: boolean;
  readonly tickMs?: number;
  readonly core?: CoreOptions;
  readonly snapshotEvery?: number;
  readonly snapshotTrailing?: number;
}

export interface KvReply {
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
  readonly definite?: boolean;
  readonly leader?: string | null;
}

export interface KvServer extends AsyncDisposable {
  readonly node: RaftNode;
  readonly sm: KvStateMachine;
  readonly address: string;
  readonly raftTransport: RaftTransport;
  close(): Promise<void>;
}

const DEFINITE = new Set(['not-leader', 'proposal-dropped', 'uncommitted-limit']);

function fail(e: unknown, leader: string | null): KvReply {
  const code = isRaftError(e) ? e.code : 'internal';
  return { ok: false, error: code, definite: DEFINITE.has(code), leader };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

/** Starts a KV server node (see the module comment). */
export async function startKvServer(o: KvServerOptions): Promise<KvServer> {
  const transport = new TcpTransport({ identity: o.id, keepAliveMs: 1000, keepAliveTimeoutMs: 2000 });
  const storage = o.dataDir === undefined ? new MemoryRaftStorage() : await FileStorage.open(o.dataDir, { fsync: o.fsync ?? true });
  const sm = new KvStateMachine();
  const raftTransport = new RaftTransport({ id: o.id, transport, peers: o.peers });
  const node = await RaftNode.start({
    id: o.id,
    storage,
    stateMachine: sm,
    bootstrap: [o.id, ...Object.keys(o.peers)].sort(),
    network: raftTransport,
    ...(o.tickMs === undefined ? {} : { tickMs: o.tickMs }),
    ...(o.core === undefined ? {} : { core: o.core }),
    snapshotEvery: o.snapshotEvery ?? 100_000,
    ...(o.snapshotTrailing === undefined ? {} : { snapshotTrailing: o.snapshotTrailing }),
  });
  raftTransport.bind(node);
  // A proposal waits for its outcome without a timer of its own: it resolves when its index is
  // applied (or replaced by another leader's entry); the client's deadline bounds the wait it
  // sees, and `maxPendingProposals` bounds how many wait here.
  const propose = async (cmd: KvCommand): Promise<KvReply> => {
    try {
      const res = (await node.propose(encodeKvCommand(cmd))) as KvResult;
      if (res.ok) return { ok: true };
      return { ok: false, error: res.error, definite: true, value: res.current, leader: node.leader };
    } catch (e) {
      return fail(e, node.leader);
    }
  };
  transport.handle('kv.get', async (p, ctx) => {
    if (!isRecord(p) || typeof p.key !== 'string') return { ok: false, error: 'invalid-argument', definite: true };
    try {
      await node.read({ signal: ctx.signal });
      return { ok: true, value: sm.get(p.key) ?? null };
    } catch (e) {
      return fail(e, node.leader);
    }
  });
  transport.handle('kv.put', (p) => {
    if (!isRecord(p) || typeof p.key !== 'string') return { ok: false, error: 'invalid-argument', definite: true };
    return propose({ op: 'put', key: p.key, value: p.value });
  });
  transport.handle('kv.cas', (p) => {
    if (!isRecord(p) || typeof p.key !== 'string') return { ok: false, error: 'invalid-argument', definite: true };
    return propose({ op: 'cas', key: p.key, from: p.from, to: p.to });
  });
  transport.handle('kv.status', () => {
    const m = node.metrics();
    return { id: m.id, role: m.role, leader: m.leader, term: m.term, commit: m.commit, applied: m.applied, peers: m.peers.map((x) => ({ ...x })) };
  });
  const listener = await transport.listen(o.listen);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await raftTransport.close();
      await node.close();
      await listener.close();
      await transport.close();
    })());
  return { node, sm, address: listener.address, raftTransport, close, [Symbol.asyncDispose]: close };
}

function parseArgs(argv: readonly string[]): KvServerOptions {
  const peers: Record<string, string> = {};
  let id: string | undefined;
  let listen: string | undefined;
  let dataDir: string | undefined;
  let fsync = true;
  let tickMs: number | undefined;
  let snapshotEvery: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const need = (): string => {
      if (v === undefined) throw new Error(`${a ?? ''} needs a value`);
      i++;
      return v;
    };
    switch (a) {
      case '--id':
        id = need();
        break;
      case '--listen':
        listen = need();
        break;
      case '--peer': {
        const [pid, addr] = need().split('=');
        if (pid === undefined || addr === undefined || pid === '' || addr === '') throw new Error('--peer needs id=host:port');
        peers[pid] = addr;
        break;
      }
      case '--data-dir':
        dataDir = need();
        break;
      case '--no-fsync':
        fsync = false;
        break;
      case '--snapshot-every': {
        const n = Number(need());
        if (!Number.isSafeInteger(n) || n < 0) throw new Error('--snapshot-every must be a non-negative integer');
        snapshotEvery = n;
        break;
      }
      case '--tick-ms': {
        const n = Number(need());
        if (!Number.isFinite(n) || n <= 0) throw new Error('--tick-ms must be a positive number');
        tickMs = n;
        break;
      }
      default:
        throw new Error(`unknown argument ${a ?? ''}`);
    }
  }
  if (id === undefined || listen === undefined) throw new Error('--id and --listen are required');
  return {
    id,
    listen,
    peers,
    fsync,
    ...(dataDir === undefined ? {} : { dataDir: path.resolve(dataDir) }),
    ...(tickMs === undefined ? {} : { tickMs }),
    ...(snapshotEvery === undefined ? {} : { snapshotEvery }),
  };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  let opts: KvServerOptions;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`abi-raft-kv-server: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const server = await startKvServer(opts);
  process.stdout.write(`ready ${server.address}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
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

if (isEntryPoint()) void main();
