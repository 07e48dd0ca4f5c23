import { fork, type ChildProcess } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, machine, row, writeReport, fmtOps, type Goal, type Group } from '@abi/bench-kit';
import { TcpTransport, type Connection } from '@abi/transport';
import {
  Identity, nativeEd25519, RecordReceiver, RecordSender, RecordType, SecureChannel, secureTcpTransport, TokenVerifier, delegateToken, issueToken, memoryDuplexPair, nativeAead, nodeCrypto, nonceLength, portableCrypto, socketDuplex,
  type CipherId, type FrameDuplex,
} from '../src/index.js';
import { preferNodeCryptoEd25519 } from '../src/ed25519.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FRAME = 64 * 1024;
const alice = Identity.fromSeed(new Uint8Array(32).fill(1));
const bob = Identity.fromSeed(new Uint8Array(32).fill(2));

// ---------------------------------------------------------------------------------------------
// 1. Throughput: plain framed TCP vs secure channel, receiver in a child process.

interface ServerInfo { port: number; plain: string; secure: string; unix: string; unixPlain: string }
function startServer(): Promise<{ child: ChildProcess } & ServerInfo> {
  const child = fork(path.join(here, 'server.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => { resolve({ child, ...(m as ServerInfo) }); });
    child.once('error', reject);
  });
}

async function connect(port: number, mode: 'P' | 'S' | 'R'): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((r, j) => { s.once('connect', r); s.once('error', j); });
  s.write(Buffer.from(mode));
  return s;
}

/** Sends n frames through `send`, then a 1-byte sync, and waits for the echo. */
function pump(send: (f: Uint8Array) => void | Promise<void>, awaitSync: () => Promise<void>) {
  const payload = new Uint8Array(FRAME).fill(7);
  const sync = Uint8Array.of(1);
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = send(payload);
      if (r !== undefined) await r;
    }
    const done = awaitSync();
    const r = send(sync);
    if (r !== undefined) await r;
    await done;
  };
}

interface PathCost { snd: number; rcv: number; wall: number }
/** The cipher the default provider offers first here: AEGIS-128L where the native addon has it. */
const DEFAULT_CIPHER = nodeCrypto.ciphers[0] ?? 'aes-256-gcm';
const CIPHER_NAMES: Partial<Record<CipherId, string>> = { 'aegis-128l': 'AEGIS-128L', 'aes-256-gcm': 'AES-256-GCM', 'chacha20-poly1305': 'ChaCha20-Poly1305' };
const DEFAULT_NAME = CIPHER_NAMES[DEFAULT_CIPHER] ?? DEFAULT_CIPHER;
const PLAIN_ROW = 'plain TCP (same 4-byte framing, no crypto)';
const RAW_ROW = 'raw TCP socket (no framing, no crypto)';
const DEFAULT_ROW = `secure channel, ${DEFAULT_NAME} (default)`;
async function throughput(port: number, child: ChildProcess): Promise<{ g: Group; pathRows: (string | number)[][]; plainCost: PathCost; defCost: PathCost; pairedMedian: number; pairedRange: readonly [number, number] }> {
  // plain
  const ps = await connect(port, 'P');
  const pd: FrameDuplex = socketDuplex(ps);
  let plainWaiter: (() => void) | undefined;
  pd.start({ onFrame: () => { plainWaiter?.(); }, onEnd: () => undefined });
  const plainRun = pump((f) => pd.send(f), () => new Promise<void>((r) => { plainWaiter = r; }));
  // raw: a bare net.Socket writing 64 KiB buffers, no framing, the receiver only counts bytes
  const rs = await connect(port, 'R');
  let rawWaiter: (() => void) | undefined;
  rs.on('data', () => { rawWaiter?.(); });
  const rawRun = pump((f) => (rs.write(f) ? undefined : new Promise<void>((r) => rs.once('drain', r))), () => new Promise<void>((r) => { rawWaiter = r; }));

  const secure = async (cipher: CipherId) => {
    const s = await connect(port, 'S');
    const ch = await SecureChannel.connect(socketDuplex(s), { identity: alice, ciphers: [cipher], maxMessageSize: 1 << 20 });
    let waiter: (() => void) | undefined;
    ch.onMessage(() => { waiter?.(); });
    return { ch, run: pump((f) => ch.trySend(f), () => new Promise<void>((r) => { waiter = r; })) };
  };
  const aegis = DEFAULT_CIPHER === 'aegis-128l' ? await secure('aegis-128l') : undefined;
  const gcm = await secure('aes-256-gcm');
  const chacha = await secure('chacha20-poly1305');
  const def = aegis ?? gcm;
  const xsalsa = await secure('xsalsa20-poly1305');
  // CPU time per record on the real path, each side: sender (this process) and receiver (child).
  const childCpu = (): Promise<number> => new Promise((resolve) => {
    const on = (m: unknown): void => {
      const c = (m as { cpu?: NodeJS.CpuUsage }).cpu;
      if (c === undefined) return;
      child.off('message', on);
      resolve(c.user + c.system);
    };
    child.on('message', on);
    child.send('cpu');
  });
  const g = await compare('64 KiB frames one way over loopback TCP (receiver in a child process)', [
    { name: PLAIN_ROW, run: plainRun },
    { name: RAW_ROW, run: rawRun, note: 'net.Socket.write of 64 KiB buffers; receiver counts bytes' },
    ...(aegis !== undefined ? [{ name: DEFAULT_ROW, run: aegis.run, note: 'native addon (RFC 10032)' }] : []),
    { name: aegis !== undefined ? 'secure channel, AES-256-GCM' : DEFAULT_ROW, run: gcm.run },
    { name: 'secure channel, ChaCha20-Poly1305', run: chacha.run },
    { name: 'secure channel, XSalsa20-Poly1305 (portable cipher)', run: xsalsa.run, note: 'tweetnacl secretbox' },
  ], { samples: 9, sampleMs: 400, warmupMs: 500 });
  // CPU per record, after the comparison (everything warm), in alternating rounds; medians.
  const paths: [string, (n: number) => Promise<void>][] = [
    [PLAIN_ROW, plainRun],
    ...(aegis !== undefined ? [['secure channel, AEGIS-128L', aegis.run] as [string, (n: number) => Promise<void>]] : []),
    ['secure channel, AES-256-GCM', gcm.run],
    ['secure channel, ChaCha20-Poly1305', chacha.run],
  ];
  const samples = new Map<string, PathCost[]>(paths.map(([name]) => [name, []]));
  const n = 3000;
  for (let round = 0; round < 3; round++) {
    for (const [name, run] of paths) {
      await run(300);
      const r0 = await childCpu();
      const s0 = process.cpuUsage();
      const w0 = performance.now();
      await run(n);
      const wall = (performance.now() - w0) * 1000 / n;
      const s1 = process.cpuUsage(s0);
      const r1 = await childCpu();
      samples.get(name)?.push({ snd: (s1.user + s1.system) / n, rcv: (r1 - r0) / n, wall });
    }
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
  const costs = new Map<string, PathCost>();
  for (const [name, xs] of samples) costs.set(name, { snd: median(xs.map((x) => x.snd)), rcv: median(xs.map((x) => x.rcv)), wall: median(xs.map((x) => x.wall)) });
  const pathRows = [...costs].map(([name, c]) => [name, c.snd.toFixed(1), c.rcv.toFixed(1), c.wall.toFixed(1), (FRAME / Math.max(c.snd, c.rcv)).toFixed(0)]);
  // Paired rounds: plain then secure back to back, ratio per round, median over rounds. The plain
  // path's speed on this VM swings by ±30 % with where the scheduler puts the two processes (and
  // their softirq work); pairing compares each secure sample with the plain one just before it.
  const paired: number[] = [];
  const timeRun = async (run: (n: number) => Promise<void>, ms: number): Promise<number> => {
    let n = 64;
    let done = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      await run(n);
      done += n;
      n = Math.min(n * 2, 2048);
    }
    return done / (performance.now() - t0);
  };
  for (let round = 0; round < 15; round++) {
    const p = await timeRun(plainRun, 250);
    const q = await timeRun(def.run, 250);
    paired.push(q / p);
  }
  const pairedMedian = median([...paired]);
  const pairedRange = [Math.min(...paired), Math.max(...paired)] as const;
  for (const c of [aegis, gcm, chacha, xsalsa]) await c?.ch.close();
  pd.close();
  rs.destroy();
  const plainCost = costs.get(PLAIN_ROW);
  const defCost = costs.get(`secure channel, ${DEFAULT_NAME}`);
  if (plainCost === undefined || defCost === undefined) throw new Error('path costs missing');
  return { g, pathRows, plainCost, defCost, pairedMedian, pairedRange };
}

// ---------------------------------------------------------------------------------------------
// 1b. The same through @abi/transport: TcpTransport vs SecureTransport.

async function transports(info: ServerInfo): Promise<Group[]> {
  const plainT = new TcpTransport();
  const secureT = secureTcpTransport({ identity: alice });
  const pc = await plainT.dial(info.plain);
  const sc = await secureT.dial(info.secure, { peer: bob.nodeId });
  const payload = new Uint8Array(FRAME).fill(3);
  const small = new Uint8Array(100).fill(4);
  const oneWay = (c: Connection) => async (n: number): Promise<void> => {
    const ps: Promise<void>[] = [];
    for (let i = 0; i < n; i++) ps.push(c.send('sink', payload));
    await Promise.all(ps);
    await c.request('echo', small);
  };
  const rtt = (c: Connection) => async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await c.request('echo', small);
  };
  const g1 = await compare('@abi/transport one-way 64 KiB raw messages (server in a child process)', [
    { name: 'TcpTransport', run: oneWay(pc) },
    { name: `SecureTransport (${DEFAULT_NAME})`, run: oneWay(sc) },
  ], { samples: 5, sampleMs: 300, warmupMs: 300 });
  const g2 = await compare('@abi/transport request round trip, 100 raw bytes, 1 in flight', [
    { name: 'TcpTransport', run: rtt(pc) },
    { name: `SecureTransport (${DEFAULT_NAME})`, run: rtt(sc) },
  ], { samples: 5, sampleMs: 300, warmupMs: 300 });
  // Same-host interconnect over a Unix socket: plaintext records (both operators allow it) vs encrypted.
  const localT = secureTcpTransport({ identity: alice, localPlaintext: 'unix' });
  const uPlain = await plainT.dial(info.unixPlain);
  const uNone = await localT.dial(info.unix, { peer: bob.nodeId });
  const uAes = await secureT.dial(info.unix, { peer: bob.nodeId });
  const g3 = await compare('Unix-socket interconnect, one-way 64 KiB raw messages', [
    { name: 'TcpTransport over unix (no link)', run: oneWay(uPlain) },
    { name: 'SecureTransport, local plaintext (cipher none)', run: oneWay(uNone) },
    { name: `SecureTransport, ${DEFAULT_NAME}`, run: oneWay(uAes) },
  ], { samples: 5, sampleMs: 300, warmupMs: 300 });
  await plainT.close();
  await secureT.close();
  await localT.close();
  return [g1, g2, g3];
}

// ---------------------------------------------------------------------------------------------
// 2. Handshakes per second (both sides in this process, memory carrier).

async function handshakes(): Promise<Group> {
  const run = (provider = nodeCrypto, ciphers?: CipherId[]) => async (n: number): Promise<void> => {
    const a = provider === nodeCrypto ? alice : alice.withProvider(provider);
    const b = provider === nodeCrypto ? bob : bob.withProvider(provider);
    const batch = 16;
    for (let i = 0; i < n; i += batch) {
      const k = Math.min(batch, n - i);
      await Promise.all(Array.from({ length: k }, async () => {
        const [da, db] = memoryDuplexPair();
        const [c, s] = await Promise.all([
          SecureChannel.connect(da, { identity: a, ...(ciphers ? { ciphers } : {}) }),
          SecureChannel.accept(db, { identity: b, ...(ciphers ? { ciphers } : {}) }),
        ]);
        await c.close();
        await s.close();
      }));
    }
  };
  return compare('full handshake (both peers in one process: 2 X25519 keygen + 2 DH + 2 sign + 2 verify)', [
    { name: 'node:crypto provider', run: run(nodeCrypto) },
    { name: 'portable provider (tweetnacl)', run: run(portableCrypto), note: 'pure JS' },
  ], { samples: 5, sampleMs: 300, warmupMs: 200, maxOpsPerSample: 2000 });
}

// ---------------------------------------------------------------------------------------------
// 3. Token verification.

/** Runs `f` with node:crypto (OpenSSL) verifying Ed25519 in the default provider instead of libsodium. */
async function withOpenssl<T>(f: () => T | Promise<T>): Promise<T> {
  preferNodeCryptoEd25519(true);
  try {
    return await f();
  } finally {
    preferNodeCryptoEd25519(false);
  }
}

/** Which library verifies Ed25519 in the default provider, for row names and the goal. */
function edName(): string {
  const s = nativeEd25519();
  return s.implementation === 'libsodium' ? `libsodium (sodium-native ${s.sodiumNative ?? '?'})` : `node:crypto (OpenSSL ${process.versions.openssl}; ${s.reason ?? ''})`;
}

const TOK_ONE = 'single token, no cache';
const TOK_ONE_OSSL = 'single token, no cache, node:crypto (OpenSSL) verify';
const TOK_ASYNC = 'single token, no cache, verifyAsync, 64 in flight';
const TOK_ASYNC_OSSL = 'single token, no cache, verifyAsync, 64 in flight, node:crypto (OpenSSL) on the libuv thread pool';

async function tokens(): Promise<Group> {
  const root = Identity.fromSeed(new Uint8Array(32).fill(10));
  const ops = Identity.fromSeed(new Uint8Array(32).fill(11));
  const svc = Identity.fromSeed(new Uint8Array(32).fill(12));
  const now = Date.now();
  const t0 = issueToken(root, { subject: ops.publicKey, scopes: ['publish', 'delegate'], ttlMs: 3_600_000, now, depth: 1 });
  const chain = delegateToken(ops, [t0], { subject: svc.publicKey, scopes: ['publish'], ttlMs: 3_600_000, now });
  const uncached = new TokenVerifier({ trustedIssuers: [root.nodeId], cacheSize: 0 });
  const cached = new TokenVerifier({ trustedIssuers: [root.nodeId] });
  const portable = new TokenVerifier({ trustedIssuers: [root.nodeId], cacheSize: 0, provider: portableCrypto });
  const one = [t0];
  const sync = (n: number): void => { for (let i = 0; i < n; i++) uncached.verify(one, { scope: 'publish' }); };
  const inFlight = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 64) await Promise.all(Array.from({ length: Math.min(64, n - i) }, () => uncached.verifyAsync(one, { scope: 'publish' })));
  };
  const ed = nativeEd25519();
  const asyncNote = ed.implementation !== 'libsodium' ? 'signatures on the libuv thread pool'
    : ed.async === 'worker threads' ? `libsodium on ${Math.min(4, os.availableParallelism())} worker threads, one message per worker per turn` : 'libsodium inline';
  return compare('token verification (signature + chain + time + revocation + scope)', [
    { name: TOK_ONE, run: sync, note: `Ed25519 verify by ${edName()}` },
    { name: TOK_ONE_OSSL, run: (n) => withOpenssl(() => { sync(n); }), note: 'same run, the default provider forced to OpenSSL' },
    { name: TOK_ASYNC, run: inFlight, note: `${asyncNote} (${os.availableParallelism()} vCPUs)` },
    { name: TOK_ASYNC_OSSL, run: (n) => withOpenssl(() => inFlight(n)), note: 'same run, forced to OpenSSL' },
    { name: 'delegated chain of 2, no cache', run: (n) => { for (let i = 0; i < n; i++) uncached.verify(chain, { scope: 'publish' }); } },
    { name: 'delegated chain of 2, cached', run: (n) => { for (let i = 0; i < n; i++) cached.verify(chain, { scope: 'publish' }); } },
    { name: 'single token, no cache, portable provider', run: (n) => { for (let i = 0; i < n; i++) portable.verify(one, { scope: 'publish' }); }, note: 'tweetnacl verify' },
  ], { samples: 7, sampleMs: 200, warmupMs: 200, maxOpsPerSample: 100_000 });
}

const mbps = (opsPerSec: number): number => (opsPerSec * FRAME) / 1e6;

/** CPU time per token verification (uncached) and per handshake (both sides), from process.cpuUsage. */
async function cpuOps(): Promise<{ title: string; columns: string[]; rows: (string | number)[][]; tokPerSec: number; tokNodeUs: number; edUs: number; edNodeUs: number; hsPerSec: number }> {
  const root = Identity.fromSeed(new Uint8Array(32).fill(10));
  const ops = Identity.fromSeed(new Uint8Array(32).fill(11));
  const t0 = issueToken(root, { subject: ops.publicKey, scopes: ['publish'], ttlMs: 3_600_000 });
  const v = new TokenVerifier({ trustedIssuers: [root.nodeId], cacheSize: 0 });
  const n = 3000;
  const cpuPer = (f: () => void): number => {
    for (let i = 0; i < 300; i++) f();
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) f();
    const u = process.cpuUsage(t);
    return (u.user + u.system) / n;
  };
  const token = (): void => { v.verify([t0], { scope: 'publish' }); };
  // the bare Ed25519 verify that bounds an uncached verification: the default (libsodium when
  // loaded) and node:crypto (key object cached), alternating, medians of 3
  const msg = new Uint8Array(160).fill(9);
  const sig = root.sign(msg);
  const ed = (): void => { nodeCrypto.verify(root.publicKey, msg, sig); };
  const m3 = (xs: number[]): number => xs.sort((a, b) => a - b)[1] ?? NaN;
  const tokUs: number[] = [];
  const tokNodeUs: number[] = [];
  const edUs: number[] = [];
  const edNodeUs: number[] = [];
  for (let round = 0; round < 3; round++) {
    tokUs.push(cpuPer(token));
    tokNodeUs.push(await withOpenssl(() => cpuPer(token)));
    edUs.push(cpuPer(ed));
    edNodeUs.push(await withOpenssl(() => cpuPer(ed)));
  }
  const tok = m3(tokUs);
  const tokNode = m3(tokNodeUs);
  const edM = m3(edUs);
  const edNode = m3(edNodeUs);
  const hs = 200;
  const t = process.cpuUsage();
  for (let i = 0; i < hs; i++) {
    const [da, db] = memoryDuplexPair();
    const [c, s] = await Promise.all([SecureChannel.connect(da, { identity: alice }), SecureChannel.accept(db, { identity: bob })]);
    await c.close();
    await s.close();
  }
  const u = process.cpuUsage(t);
  const hsUs = (u.user + u.system) / hs;
  return {
    tokPerSec: 1e6 / tok,
    tokNodeUs: tokNode,
    edUs: edM,
    edNodeUs: edNode,
    hsPerSec: 1e6 / hsUs,
    title: `CPU time per operation (process.cpuUsage, node:crypto provider; Ed25519 verify by ${edName()} unless the row says OpenSSL; 3 alternating rounds of 3000, medians)`,
    columns: ['operation', 'CPU µs', 'per second on one idle core'],
    rows: [
      [`Ed25519 verify alone (${edName()})`, edM.toFixed(1), (1e6 / edM).toFixed(0)],
      ['Ed25519 verify alone (node:crypto / OpenSSL, cached KeyObject)', edNode.toFixed(1), (1e6 / edNode).toFixed(0)],
      ['token verification, single token, no cache', tok.toFixed(1), (1e6 / tok).toFixed(0)],
      ['token verification, single token, no cache, OpenSSL verify', tokNode.toFixed(1), (1e6 / tokNode).toFixed(0)],
      ['full handshake, both sides', hsUs.toFixed(0), (1e6 / hsUs).toFixed(0)],
      ['full handshake, one side (half)', (hsUs / 2).toFixed(0), (2e6 / hsUs).toFixed(0)],
    ],
  };
}

/** The token goal row, from the token group and the CPU table. */
function tokenGoal(tk: Group, cpu2: Awaited<ReturnType<typeof cpuOps>>): Goal {
  const one = row(tk, TOK_ONE).opsPerSec;
  const oneOssl = row(tk, TOK_ONE_OSSL).opsPerSec;
  const inFlight = row(tk, TOK_ASYNC).opsPerSec;
  const inFlightOssl = row(tk, TOK_ASYNC_OSSL).opsPerSec;
  const ed = nativeEd25519();
  const asyncWhere = ed.implementation === 'libsodium' ? (ed.async === 'worker threads' ? 'libsodium on worker threads' : 'libsodium inline') : 'OpenSSL on the thread pool';
  return {
    goal: 'token verifications ≥ 10 000/s',
    measured: `uncached single token, Ed25519 verify by ${edName()}: ${fmtOps(one)} wall on one thread, ${fmtOps(cpu2.tokPerSec)} per idle core by CPU time (the verify alone ${cpu2.edUs.toFixed(0)} µs CPU); verifyAsync (${asyncWhere}) ${fmtOps(inFlight)} with 64 in flight. Same run with OpenSSL verifying: ${fmtOps(oneOssl)} on one thread (verify alone ${cpu2.edNodeUs.toFixed(0)} µs), verifyAsync on the thread pool ${fmtOps(inFlightOssl)}. Chains of 2 uncached ${fmtOps(row(tk, 'delegated chain of 2, no cache').opsPerSec)}; cached ${fmtOps(row(tk, 'delegated chain of 2, cached').opsPerSec)}`,
    met: Math.max(one, inFlight) >= 10_000,
  };
}

/**
 * CPU time (not wall time) per 64 KiB record for sealing and opening, from process.cpuUsage: what
 * one core could carry if it did nothing else. Less sensitive to a loaded machine than wall time.
 */
function cpuCost(): { title: string; columns: string[]; rows: (string | number)[][]; aesMBps: number } {
  const rows: (string | number)[][] = [];
  let aesMBps = 0;
  const payload = new Uint8Array(FRAME).fill(5);
  for (const c of nodeCrypto.ciphers) {
    const key = new Uint8Array(32).fill(1);
    const iv = new Uint8Array(nonceLength(c)).fill(2);
    const n = c === 'xsalsa20-poly1305' ? 200 : 3000;
    // Batches of 16 records keep the working set in cache, as on the real path (a record is
    // opened right after it arrives).
    const tx = new RecordSender(nodeCrypto, c, key, iv, 0);
    const rx = new RecordReceiver(nodeCrypto, c, key, iv, { inPlace: true });
    // as on the socket path: records from 4 KiB up sealed into recycled memory when the AEAD can
    const ring = Array.from({ length: 32 }, () => new Uint8Array(tx.sealedLength(FRAME)));
    let next = 0;
    const seal = (): Uint8Array | Uint8Array[] => (tx.canSealInto ? tx.sealInto(RecordType.data, payload, ring[next++ % ring.length]!) : tx.sealv(RecordType.data, payload));
    let sealCpu = 0;
    let openCpu = 0;
    for (let done = 0; done < n; done += 16) {
      let t = process.cpuUsage();
      const batch: (Uint8Array | Uint8Array[])[] = [];
      for (let i = 0; i < 16; i++) batch.push(seal());
      let u = process.cpuUsage(t);
      sealCpu += u.user + u.system;
      t = process.cpuUsage();
      for (const r of batch) rx.open(r);
      u = process.cpuUsage(t);
      openCpu += u.user + u.system;
    }
    const count = Math.ceil(n / 16) * 16;
    const sealUs = sealCpu / count;
    const openUs = openCpu / count;
    const cap = FRAME / Math.max(sealUs, openUs);
    if (c === DEFAULT_CIPHER) aesMBps = cap;
    rows.push([c, sealUs.toFixed(1), openUs.toFixed(1), cap.toFixed(0)]);
  }
  return { aesMBps, title: `CPU time per 64 KiB record, record layer alone (process.cpuUsage; as on the socket path: sealed into recycled memory and opened in place where the AEAD can — ${nativeAead().loaded ? 'native AEAD' : 'node:crypto'})`, columns: ['cipher', 'seal µs', 'open µs', 'MB/s one core per side could carry'], rows };
}

/**
 * The bare cost of AES-256-GCM per 64 KiB record, without any record layer, as node:crypto offers
 * it (one cipher object per record, a fresh output per call: it can neither re-IV a cipher nor
 * write into a caller's buffer); and of the default cipher as the AEAD in use does it (the native
 * one when built: one context per key, sealing into recycled memory and opening in place).
 */
function bareCost(): { nodeSeal: number; nodeOpen: number; seal: number; open: number } {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const defIv = randomBytes(nonceLength(DEFAULT_CIPHER));
  const aad = randomBytes(10);
  const pt = Buffer.alloc(FRAME, 7);
  const nodeSealOne = (): [Buffer, Buffer] => {
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    const ct = c.update(pt);
    c.final();
    return [ct, c.getAuthTag()];
  };
  const nodeOpenOne = ([ct, tag]: [Buffer, Buffer]): void => {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(aad);
    d.setAuthTag(tag);
    d.update(ct);
    d.final();
  };
  const aead = nodeCrypto.aead(DEFAULT_CIPHER, key);
  // as on the socket path: sealed into recycled memory when the AEAD can (a ring of 16 outputs)
  const ring = Array.from({ length: 32 }, () => Buffer.allocUnsafeSlow(FRAME + 16));
  let next = 0;
  const sealOne = (): [Buffer, Buffer] => {
    if (aead.sealInto !== undefined) {
      const out = ring[next++ % ring.length]!;
      aead.sealInto(defIv, aad, pt, out);
      return [out.subarray(0, FRAME), out.subarray(FRAME)];
    }
    const [ct, tag] = aead.sealv(defIv, aad, pt);
    return [ct as Buffer, tag as Buffer];
  };
  const openOne = ([ct, tag]: [Buffer, Buffer]): void => {
    if (aead.openInPlace !== undefined) aead.openInPlace(defIv, aad, [ct], tag);
    else aead.openv(defIv, aad, [ct], tag);
  };
  // Batches of 16 keep the working set in cache, as on the real path (a record is opened right
  // after it arrives); two rounds, the second counted.
  const cost = (seal: () => [Buffer, Buffer], open: (r: [Buffer, Buffer]) => void): { seal: number; open: number } => {
    let sealCpu = 0;
    let openCpu = 0;
    const n = 3000;
    for (let round = 0; round < 2; round++) {
      sealCpu = 0;
      openCpu = 0;
      for (let done = 0; done < n; done += 16) {
        let t = process.cpuUsage();
        const batch: [Buffer, Buffer][] = [];
        for (let i = 0; i < 16; i++) batch.push(seal());
        let u = process.cpuUsage(t);
        sealCpu += u.user + u.system;
        t = process.cpuUsage();
        for (const b of batch) open(b);
        u = process.cpuUsage(t);
        openCpu += u.user + u.system;
      }
    }
    const count = Math.ceil(n / 16) * 16;
    return { seal: sealCpu / count, open: openCpu / count };
  };
  const node = cost(nodeSealOne, nodeOpenOne);
  const inUse = cost(sealOne, openOne);
  return { nodeSeal: node.seal, nodeOpen: node.open, seal: inUse.seal, open: inUse.open };
}

const loadStart = os.loadavg()[0] ?? 0;
if (process.env.BENCH_ONLY === 'tokens') {
  // the token section alone (nothing is written): the group, the CPU table, the goal row
  const tk = await tokens();
  const cpu2 = await cpuOps();
  for (const r of cpu2.rows) console.log(r.join(' | '));
  const g = tokenGoal(tk, cpu2);
  console.log(`${g.met ? 'MET ' : 'MISS'} ${g.goal}: ${g.measured}`);
  process.exit(0);
}
const info = await startServer();
const { child, port } = info;
try {
  const { g: tp, pathRows, plainCost, defCost, pairedMedian, pairedRange } = await throughput(port, child);
  const bare = bareCost();
  const cpus = os.availableParallelism();
  const backend = nativeAead();
  const backendName = backend.loaded ? `native AEAD (${backend.openssl ?? 'OpenSSL'})` : 'node:crypto';
  if (process.env.BENCH_ONLY === 'throughput') {
    // a quick look while working on the record path: nothing is written
    for (const r of pathRows) console.log(r.join(' | '));
    console.log(`${backendName}: bare ${DEFAULT_NAME} seal ${bare.seal.toFixed(1)} open ${bare.open.toFixed(1)} µs (node:crypto AES-256-GCM ${bare.nodeSeal.toFixed(1)} / ${bare.nodeOpen.toFixed(1)}); measured ${(plainCost.wall / defCost.wall).toFixed(2)}`);
    for (const r of tp.rows) console.log(`${r.name}: ${mbps(r.opsPerSec).toFixed(0)} MB/s`);
    console.log(`paired rounds: median ${pairedMedian.toFixed(2)} (${pairedRange[0].toFixed(2)}–${pairedRange[1].toFixed(2)}); alternating medians ${(mbps(row(tp, DEFAULT_ROW).opsPerSec) / mbps(row(tp, PLAIN_ROW).opsPerSec)).toFixed(2)}`);
    process.exit(0);
  }
  const tr = await transports(info);
  const hs = await handshakes();
  const tk = await tokens();
  const plain = mbps(row(tp, PLAIN_ROW).opsPerSec);
  const raw = mbps(row(tp, RAW_ROW).opsPerSec);
  const sec = mbps(row(tp, DEFAULT_ROW).opsPerSec);
  const hsNode = row(hs, 'node:crypto provider').opsPerSec;
  const cpu = cpuCost();
  const cpu2 = await cpuOps();
  const goals: Goal[] = [
    { goal: 'secure channel 64 KiB frames ≥ 800 MB/s', measured: `${sec.toFixed(0)} MB/s wall (${DEFAULT_NAME}, the default cipher here; one connection); the cipher's CPU cost allows ${cpu.aesMBps.toFixed(0)} MB/s per side on an idle core`, met: sec >= 800 },
    { goal: 'secure channel ≥ 0.5× plain TCP, same run', measured: `median of 15 paired rounds ${pairedMedian.toFixed(2)}× (rounds ${pairedRange[0].toFixed(2)}–${pairedRange[1].toFixed(2)}×); alternating-sample medians ${(sec / plain).toFixed(2)}× (${sec.toFixed(0)} vs ${plain.toFixed(0)} MB/s); per-record CPU run ${(plainCost.wall / defCost.wall).toFixed(2)}×; against a raw net.Socket without framing ${(sec / raw).toFixed(2)}× (${raw.toFixed(0)} MB/s); record layer on ${backendName}`, met: pairedMedian >= 0.5 },
    tokenGoal(tk, cpu2),
    { goal: 'handshakes per second (reported)', measured: `${fmtOps(hsNode)} wall, both peers in one process; ${fmtOps(cpu2.hsPerSec)} per idle core by CPU time (a responder alone: about twice that)`, met: true },
  ];

  const pathTable = {
    title: 'CPU time per 64 KiB record on the real path (process.cpuUsage of the sending process and of the receiving child; 3 alternating rounds of 3000 records one way, medians)',
    columns: ['case', 'sender CPU µs', 'receiver CPU µs', 'wall µs', 'MB/s if each side had an idle core'],
    rows: pathRows,
  };
  const f1 = (x: number): string => x.toFixed(1);
  const bareTable = {
    title: `Bare AEAD cost per 64 KiB record, no record layer (CPU µs, same run; on ${cpus} CPUs)`,
    columns: ['cipher and implementation', 'seal µs', 'open µs', 'how'],
    rows: [
      [`${DEFAULT_NAME}, AEAD in use (${backendName})`, f1(bare.seal), f1(bare.open), backend.loaded ? 'one context per key; seal into recycled memory, open in place' : 'node:crypto'],
      ['AES-256-GCM, node:crypto', f1(bare.nodeSeal), f1(bare.nodeOpen), 'createCipheriv + update + final per record, fresh output'],
    ],
  };
  const tables = [pathTable, bareTable, cpu, cpu2, {
    title: 'Throughput in MB/s (64 KiB frames)',
    columns: ['case', 'MB/s', 'vs plain'],
    rows: tp.rows.map((r) => [r.name, mbps(r.opsPerSec).toFixed(0), (mbps(r.opsPerSec) / plain).toFixed(2) + '×']),
  }];
  writeReport(path.join(here, '..'), {
    package: '@abi/link',
    machine: machine(),
    groups: [tp, ...tr, hs, tk],
    tables,
    goals,
    notes: [
      'Throughput: one connection, sender in the bench process, receiver in a forked child; each op is one 64 KiB message; a 1-byte sync round trip ends every sample.',
      'Handshakes: both peers run in the bench process over an in-memory carrier, so each op costs both sides\' CPU (a server alone does about twice as many).',
      `Load average (1 min) at start ${loadStart.toFixed(1)}, at end ${(os.loadavg()[0] ?? 0).toFixed(1)}, on 2 vCPUs shared with other jobs: wall-clock figures scale with it; ratios within a group are comparable.`,
      'Token verification without cache is bounded by the Ed25519 verify (see the CPU table): libsodium (sodium-native) when it loads, else node:crypto (OpenSSL); both are measured in the same run, with the same acceptance rule (PROTOCOL.md §6.1). verifyAsync runs libsodium on worker threads (OpenSSL: libuv\'s thread pool), using both vCPUs; the cache skips signatures for chains already seen, revocation and time are still checked.',
    ],
  });
  for (const g of goals) console.log(`${g.met ? 'MET ' : 'MISS'} ${g.goal}: ${g.measured}`);
} finally {
  child.disconnect();
  child.kill();
}
