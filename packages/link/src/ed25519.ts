/**
 * Ed25519 verification: one acceptance rule for every provider (PROTOCOL.md §6.1), and libsodium
 * (the optional dependency sodium-native) as the verifier of the default provider.
 *
 * - The rule is libsodium's: S < L, R not a small-order encoding, A canonical and not a
 *   small-order encoding, then the cofactorless equation with an exact byte comparison of R.
 *   OpenSSL (node:crypto) and tweetnacl check only the equation (and S < L for OpenSSL), so
 *   they accept some signatures libsodium refuses (a small-order R or A, a non-canonical A).
 *   {@link acceptablePoints} (lengths, S < L and {@link strictPoints}, the part they lack) runs in
 *   every provider before its own verify, so every provider gives the same verdict.
 * - libsodium verifies in ~70 µs here against OpenSSL's 130–180 µs. It is loaded lazily, once,
 *   through `createRequire`; when it is missing, or `ABI_LINK_NATIVE=0`, node:crypto verifies.
 *   {@link nativeEd25519} says which one is in use.
 * - verifyAsync with libsodium runs on worker threads (one per CPU, at most 4): the calls made in
 *   one turn of the event loop go in one message per worker. With 64 tokens in flight on 2 vCPUs
 *   that measured 13–19k tokens/s against 10–12.9k/s for OpenSSL on libuv's thread pool and
 *   12.8–13.3k/s for libsodium inline (README). If a worker cannot start or dies, the pending and
 *   later calls verify inline, with the same verdicts.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

// ---------------------------------------------------------------------------------------------
// The acceptance rule (pure).

/**
 * The encodings libsodium refuses as R or A (its `ge25519_has_small_order` list): bytes 0..30 as
 * given and byte 31 without its top (sign) bit. They are the eight points of order 1, 2, 4 and 8
 * (canonical y: 0, 1, p − 1 and the two y of the order-8 points) and the non-canonical y = p, p + 1
 * (y ≡ 0 and 1), each with either sign bit: 14 encodings.
 */
const SMALL_ORDER: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0 (order 4)
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1 (the identity)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p − 1 (order 2)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (≡ 0, non-canonical)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (≡ 1, non-canonical)
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

/** True when the 32 bytes at `off` are one of the small-order encodings (either sign bit). */
export function smallOrderEncoding(b: Uint8Array, off: number): boolean {
  for (const e of SMALL_ORDER) {
    let i = 0;
    while (i < 31 && b[off + i] === e[i]) i++;
    if (i === 31 && ((b[off + 31] ?? 0) & 0x7f) === e[31]) return true;
  }
  return false;
}

/** True when the y coordinate of a point encoding (bit 255, the sign of x, ignored) is < p = 2^255 − 19. */
export function canonicalY(b: Uint8Array): boolean {
  if (((b[31] ?? 0) & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) if (b[i] !== 0xff) return true;
  return (b[0] ?? 0) < 0xed;
}

// Ed25519 group order L, little-endian (PROTOCOL.md §6.1 step 2).
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** True when the S half of a signature is < L (strict, non-malleable verification). */
function canonicalS(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i] ?? 0;
    const l = L[i] ?? 0;
    if (s < l) return true;
    if (s > l) return false;
  }
  return false;
}

/**
 * Steps 1–5 of the acceptance rule (PROTOCOL.md §6.1): lengths, S < L, and {@link strictPoints}.
 * Every provider runs this before its library's verify (steps 6–7), so all give one verdict.
 */
export function acceptablePoints(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return publicKey.length === 32 && signature.length === 64 && canonicalS(signature) && strictPoints(publicKey, signature);
}

/**
 * The part of the acceptance rule that OpenSSL and tweetnacl do not check (PROTOCOL.md §6.1 steps
 * 3–5): R (the signature's first half) is not a small-order encoding, A (the public key) is a
 * canonical encoding and not a small-order one. The caller has checked the lengths (32, 64) and
 * S < L. libsodium refuses exactly these too; a curve point check and the equation follow in the
 * verifier.
 */
export function strictPoints(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return !smallOrderEncoding(signature, 0) && canonicalY(publicKey) && !smallOrderEncoding(publicKey, 0);
}

// ---------------------------------------------------------------------------------------------
// sodium-native, loaded once.

interface SodiumNative {
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
}

/** Which implementation verifies Ed25519 signatures in the default provider. */
export interface NativeEd25519Status {
  /** 'libsodium' (sodium-native) or 'node:crypto' (OpenSSL). */
  readonly implementation: 'libsodium' | 'node:crypto';
  /** Whether sodium-native is loaded. */
  readonly loaded: boolean;
  /** sodium-native's version, when loaded. */
  readonly sodiumNative?: string;
  /** Where verifyAsync runs: worker threads (libsodium), inline (libsodium, workers failed), libuv's thread pool (node:crypto). */
  readonly async: 'worker threads' | 'inline' | 'libuv thread pool';
  /** Why sodium-native is not in use. */
  readonly reason?: string;
}

let sodium: SodiumNative | undefined;
let sodiumPath: string | undefined;
let sodiumVersion: string | undefined;
let loadFailure: string | undefined;
let loaded = false;
let forceNode = false;

// RFC 8032 §7.1 test 1: the loader checks that libsodium accepts it and refuses it with a flipped bit.
const RFC_PK = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
const RFC_SIG = Buffer.from('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b', 'hex');

function load(): void {
  if (loaded) return;
  loaded = true;
  if (process.env.ABI_LINK_NATIVE === '0') {
    loadFailure = 'disabled by ABI_LINK_NATIVE=0';
    return;
  }
  try {
    const req = createRequire(import.meta.url);
    const path = req.resolve('sodium-native');
    const s = req(path) as Partial<SodiumNative>;
    if (typeof s.crypto_sign_verify_detached !== 'function') throw new Error('no crypto_sign_verify_detached');
    const verify = s.crypto_sign_verify_detached.bind(s);
    const bad = Uint8Array.from(RFC_SIG);
    bad[0] = (bad[0] ?? 0) ^ 1;
    if (!verify(RFC_SIG, new Uint8Array(0), RFC_PK) || verify(bad, new Uint8Array(0), RFC_PK)) throw new Error('failed the RFC 8032 self-test');
    sodium = { crypto_sign_verify_detached: verify };
    sodiumPath = path;
    try {
      sodiumVersion = (req('sodium-native/package.json') as { version?: string }).version;
    } catch {
      sodiumVersion = undefined;
    }
  } catch (e) {
    loadFailure = `sodium-native not installed or not loadable (${e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e)})`;
  }
}

/** The libsodium verifier, or undefined when node:crypto verifies (not loaded, disabled, or forced). */
export function sodiumEd25519(): { verify: typeof verifySync; verifyAsync: typeof verifyAsync } | undefined {
  load();
  return sodium !== undefined && !forceNode ? SODIUM_VERIFIER : undefined;
}

/**
 * For tests and the bench: make the default provider verify with node:crypto (true) or with
 * libsodium when it is loaded (false, the default), in this process.
 */
export function preferNodeCryptoEd25519(on: boolean): void {
  forceNode = on;
}

/** Whether the default provider verifies Ed25519 signatures with libsodium or node:crypto, and why. */
export function nativeEd25519(): NativeEd25519Status {
  load();
  if (sodium === undefined || forceNode) {
    return { implementation: 'node:crypto', loaded: sodium !== undefined, ...(sodiumVersion !== undefined ? { sodiumNative: sodiumVersion } : {}), async: 'libuv thread pool', reason: forceNode ? 'node:crypto preferred (preferNodeCryptoEd25519)' : loadFailure ?? 'unknown' };
  }
  return { implementation: 'libsodium', loaded: true, ...(sodiumVersion !== undefined ? { sodiumNative: sodiumVersion } : {}), async: poolFailure === undefined ? 'worker threads' : 'inline' };
}

function verifySync(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return sodium?.crypto_sign_verify_detached(signature, message, publicKey) === true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// verifyAsync: batches on worker threads.

/** Per call: u32 message length ‖ public key (32) ‖ signature (64) ‖ message. Answer: one byte per call. */
const WORKER_SOURCE = (modulePath: string): string => `
const { parentPort } = require('node:worker_threads');
const sodium = require(${JSON.stringify(modulePath)});
parentPort.on('message', ({ id, buf, n }) => {
  const b = new Uint8Array(buf);
  const dv = new DataView(buf);
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const len = dv.getUint32(o, true);
    const pk = b.subarray(o + 4, o + 36);
    const sig = b.subarray(o + 36, o + 100);
    const m = b.subarray(o + 100, o + 100 + len);
    o += 100 + len;
    try { out[i] = sodium.crypto_sign_verify_detached(sig, m, pk) ? 1 : 0; } catch { out[i] = 0; }
  }
  parentPort.postMessage({ id, out }, [out.buffer]);
});`;

interface Batch {
  readonly records: Uint8Array[];
  readonly resolves: ((ok: boolean) => void)[];
}

interface PoolWorker {
  readonly worker: Worker;
  /** Batches sent and not answered. */
  readonly pending: Map<number, Batch>;
}

const MAX_WORKERS = 4;
const MAX_BATCH = 256;
/**
 * Calls queued or at the workers, at most. Beyond it a call verifies inline (synchronously, on the
 * caller's thread): the queue stays bounded and an overloaded caller slows down instead of
 * piling up copies of messages.
 */
export const MAX_ASYNC_IN_FLIGHT = 4096;
let inFlight = 0;
let pool: PoolWorker[] | undefined;
let poolFailure: string | undefined;
let queue: Batch = { records: [], resolves: [] };
let flushScheduled = false;
let nextBatchId = 0;

function record(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Uint8Array {
  const r = new Uint8Array(100 + message.length);
  new DataView(r.buffer).setUint32(0, message.length, true);
  r.set(publicKey, 4);
  r.set(signature, 36);
  r.set(message, 100);
  return r;
}

/** Verifies a batch on this thread (no worker, or the worker failed). */
function verifyInline(b: Batch): void {
  inFlight -= b.resolves.length;
  b.records.forEach((r, i) => {
    const len = new DataView(r.buffer, r.byteOffset).getUint32(0, true);
    b.resolves[i]?.(verifySync(r.subarray(4, 36), r.subarray(100, 100 + len), r.subarray(36, 100)));
  });
}

/** The workers stop being used: pending batches verify inline, later calls too. */
function poolFailed(reason: string): void {
  if (poolFailure !== undefined) return;
  poolFailure = reason;
  const workers = pool ?? [];
  pool = undefined;
  for (const w of workers) {
    for (const b of w.pending.values()) verifyInline(b);
    w.pending.clear();
    void w.worker.terminate();
  }
}

function startPool(): PoolWorker[] | undefined {
  if (pool !== undefined || poolFailure !== undefined || sodiumPath === undefined) return pool;
  const n = Math.max(1, Math.min(MAX_WORKERS, availableParallelism()));
  const source = WORKER_SOURCE(sodiumPath);
  const workers: PoolWorker[] = [];
  try {
    for (let i = 0; i < n; i++) {
      // execArgv []: the parent's flags (loaders, --input-type=module) would not fit this CommonJS source
      const worker = new Worker(source, { eval: true, execArgv: [] });
      const w: PoolWorker = { worker, pending: new Map() };
      worker.on('message', (m: { id: number; out: Uint8Array }) => {
        const b = w.pending.get(m.id);
        if (b === undefined) return;
        w.pending.delete(m.id);
        if (w.pending.size === 0) worker.unref();
        inFlight -= b.resolves.length;
        b.resolves.forEach((resolve, j) => { resolve(m.out[j] === 1); });
      });
      worker.on('error', (e) => { poolFailed(`worker error: ${e.message}`); });
      worker.on('exit', (code) => { poolFailed(`worker exited (${code})`); });
      // after the listeners: adding a 'message' listener refs the worker's port again
      worker.unref();
      workers.push(w);
    }
  } catch (e) {
    for (const w of workers) void w.worker.terminate();
    poolFailure = `worker threads unavailable (${e instanceof Error ? e.message : String(e)})`;
    return undefined;
  }
  pool = workers;
  return pool;
}

function flush(): void {
  flushScheduled = false;
  const all = queue;
  queue = { records: [], resolves: [] };
  const workers = startPool();
  if (workers === undefined) {
    verifyInline(all);
    return;
  }
  // one message per worker (least loaded first), at most MAX_BATCH calls each
  const parts = Math.max(Math.min(workers.length, all.records.length), Math.ceil(all.records.length / MAX_BATCH));
  const per = Math.ceil(all.records.length / parts);
  const byLoad = [...workers].sort((a, b) => a.pending.size - b.pending.size);
  for (let p = 0; p < parts; p++) {
    const b: Batch = { records: all.records.slice(p * per, (p + 1) * per), resolves: all.resolves.slice(p * per, (p + 1) * per) };
    if (b.records.length === 0) break;
    let size = 0;
    for (const r of b.records) size += r.length;
    const buf = new Uint8Array(size);
    let o = 0;
    for (const r of b.records) {
      buf.set(r, o);
      o += r.length;
    }
    const w = byLoad[p % byLoad.length];
    if (w === undefined) {
      verifyInline(b);
      continue;
    }
    const id = nextBatchId++;
    if (w.pending.size === 0) w.worker.ref();
    w.pending.set(id, b);
    w.worker.postMessage({ id, buf: buf.buffer, n: b.records.length }, [buf.buffer]);
  }
}

/**
 * libsodium's verify off the event loop: the calls made in one turn are sent together to the
 * worker threads. The inputs are copied at the call. Same verdict as {@link verifySync}.
 */
function verifyAsync(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (poolFailure !== undefined || inFlight >= MAX_ASYNC_IN_FLIGHT) return Promise.resolve(verifySync(publicKey, message, signature));
  inFlight++;
  return new Promise<boolean>((resolve) => {
    queue.records.push(record(publicKey, message, signature));
    queue.resolves.push(resolve);
    if (!flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flush);
    }
  });
}

const SODIUM_VERIFIER = Object.freeze({ verify: verifySync, verifyAsync });

/** For tests: the workers fail as if one had crashed (pending and later calls verify inline). */
export function failEd25519WorkersForTest(reason: string): void {
  poolFailed(reason);
}

/** For tests: calls queued or at the workers now. */
export function ed25519AsyncInFlightForTest(): number {
  return inFlight;
}
