import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Identity, SecureChannel, memoryDuplexPair, type ChannelOptions, type MemoryDuplex } from '../src/index.js';

export const alice = Identity.fromSeed(new Uint8Array(32).fill(1));
export const bob = Identity.fromSeed(new Uint8Array(32).fill(2));
export const mallory = Identity.fromSeed(new Uint8Array(32).fill(3));

type Tap = (f: Uint8Array) => Uint8Array[] | Uint8Array | undefined;

export async function pair(
  a: Partial<ChannelOptions> = {},
  b: Partial<ChannelOptions> = {},
  taps: { aToB?: Tap; bToA?: Tap } = {},
): Promise<{ client: SecureChannel; server: SecureChannel; da: MemoryDuplex; db: MemoryDuplex }> {
  const [da, db] = memoryDuplexPair(taps);
  const [client, server] = await Promise.all([
    SecureChannel.connect(da, { identity: alice, ...a }),
    SecureChannel.accept(db, { identity: bob, ...b }),
  ]);
  return { client, server, da, db };
}

/** Settles both sides of a handshake, returning each outcome (value or error). */
export async function pairOutcome(
  a: Partial<ChannelOptions> = {},
  b: Partial<ChannelOptions> = {},
  taps: { aToB?: Tap; bToA?: Tap } = {},
): Promise<{ client: PromiseSettledResult<SecureChannel>; server: PromiseSettledResult<SecureChannel> }> {
  const [da, db] = memoryDuplexPair(taps);
  const [client, server] = await Promise.allSettled([
    SecureChannel.connect(da, { identity: alice, handshakeTimeoutMs: 2000, ...a }),
    SecureChannel.accept(db, { identity: bob, handshakeTimeoutMs: 2000, ...b }),
  ]);
  return { client, server };
}

export function codeOf(r: PromiseSettledResult<unknown>): string | undefined {
  if (r.status === 'fulfilled') return undefined;
  return (r.reason as { code?: string }).code;
}

export function nextMessage(ch: SecureChannel): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const d = ch.onMessage((m) => {
      d[Symbol.dispose]();
      resolve(m);
    });
  });
}

export function closed(ch: SecureChannel): Promise<string | undefined> {
  return new Promise((resolve) => ch.onClose((e) => { resolve(e?.code); }));
}

/** A clock whose timers fire only when the test advances it. */
export function manualClock(): { now(): number; setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void; advance(ms: number): void; pending(): number } {
  let t = 0;
  let id = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    setTimeout: (fn, ms) => {
      timers.set(++id, { at: t + ms, fn });
      return id;
    },
    clearTimeout: (h) => { timers.delete(h as number); },
    advance(ms) {
      t += ms;
      for (const [k, v] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (v.at <= t && timers.has(k)) {
          timers.delete(k);
          v.fn();
        }
      }
    },
    pending: () => timers.size,
  };
}

/** Frame counter tap: calls `f(frame, index)` for each frame in one direction. */
export function tap(f: (frame: Uint8Array, index: number) => Uint8Array[] | Uint8Array | undefined): (frame: Uint8Array) => Uint8Array[] | Uint8Array | undefined {
  let i = 0;
  return (frame) => f(frame, i++);
}

/** Splits `b` into pieces at the given cut points (subarrays, no copy); cuts wrap modulo the length + 1. */
export function split(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  out.push(b.subarray(prev));
  return out;
}

const packageRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs an ES module source (imports relative to the package root, e.g. './src/index.ts') in a
 * child Node process with the source condition, as a user's program would load the package.
 */
export function runModule(script: string, o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--conditions=@abi/source', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: packageRoot,
    env: { ...process.env, ...o.env },
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 60_000,
  });
}
