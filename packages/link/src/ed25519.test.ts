/**
 * One Ed25519 acceptance rule for every provider (PROTOCOL.md §6.1): crafted vectors built with
 * @noble/curves from the 8-torsion subgroup, pinned in PROTOCOL.md; every provider (libsodium,
 * OpenSSL, tweetnacl; verify and verifyAsync) agrees with libsodium on them and on mutated
 * signatures. Also: sodium-native loads under CI, and ABI_LINK_NATIVE=0 falls back.
 */
import { createPublicKey, verify as opensslVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from './bytes.js';
import { nodeCrypto, portableCrypto } from './crypto.js';
import { MAX_ASYNC_IN_FLIGHT, canonicalY, ed25519AsyncInFlightForTest, failEd25519WorkersForTest, nativeEd25519, preferNodeCryptoEd25519, smallOrderEncoding, strictPoints } from './ed25519.js';
import { nativeEd25519 as exported } from './index.js';
import { runModule } from '../test/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

beforeAll(async () => {
  await sodium.ready;
});
afterAll(() => {
  preferNodeCryptoEd25519(false);
});

// ---------------------------------------------------------------------------------------------
// Crafted vectors, built with @noble/curves.

const Point = ed25519.Point;
type Pt = typeof Point.BASE;
const { n: L, p: P } = Point.CURVE();
const B = Point.BASE;
const le = (b: Uint8Array): bigint => {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] ?? 0);
  return n;
};
const enc = (x: bigint): Uint8Array => {
  const o = new Uint8Array(32);
  for (let i = 0; i < 32; i++) o[i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return o;
};
const withSign = (b: Uint8Array): Uint8Array => {
  const o = Uint8Array.from(b);
  o[31] = (o[31] ?? 0) | 0x80;
  return o;
};
/** [k]Q for any k ≥ 0 (noble's multiply wants 0 < k < L). */
function times(Q: Pt, k: bigint): Pt {
  let r = Point.ZERO;
  let a = Q;
  for (let x = k; x > 0n; x >>= 1n) {
    if ((x & 1n) === 1n) r = r.add(a);
    a = a.double();
  }
  return r;
}
const challenge = (R: Uint8Array, A: Uint8Array, M: Uint8Array): bigint => le(sha512(concatBytes(R, A, M))) % L;

/** The 8-torsion subgroup: [L]Q is in it for any point Q; take the first Q (by y) whose [L]Q has order 8. */
const TORSION: readonly Pt[] = (() => {
  for (let y = 2n; ; y++) {
    let Q: Pt;
    try {
      Q = Point.fromBytes(enc(y));
    } catch {
      continue;
    }
    const T = times(Q, L);
    if (!times(T, 4n).is0()) return Array.from({ length: 8 }, (_, i) => times(T, BigInt(i)));
  }
})();
const T8 = TORSION[1]!; // a generator of the subgroup (order 8)

/** The 14 small-order encodings: the 8 canonical ones and 6 non-canonical (sign bit on x = 0; y = p, p + 1), with the point each decodes to. */
const SMALL: readonly { label: string; bytes: Uint8Array; point: Pt }[] = [
  ...TORSION.map((t, i) => ({ label: `[${i}]T (order ${[1, 8, 4, 8, 2, 8, 4, 8][i]})`, bytes: t.toBytes(), point: t })),
  { label: 'identity, sign bit set', bytes: withSign(TORSION[0]!.toBytes()), point: TORSION[0]! },
  { label: 'y = p − 1 (order 2), sign bit set', bytes: withSign(TORSION[4]!.toBytes()), point: TORSION[4]! },
  { label: 'y = p (≡ 0, order 4)', bytes: enc(P), point: Point.fromBytes(enc(0n)) },
  { label: 'y = p (≡ 0, order 4), sign bit set', bytes: withSign(enc(P)), point: Point.fromBytes(withSign(enc(0n))) },
  { label: 'y = p + 1 (≡ 1, identity)', bytes: enc(P + 1n), point: TORSION[0]! },
  { label: 'y = p + 1 (≡ 1, identity), sign bit set', bytes: withSign(enc(P + 1n)), point: TORSION[0]! },
];

interface Vector {
  readonly name: string;
  readonly pk: Uint8Array;
  readonly msg: Uint8Array;
  readonly sig: Uint8Array;
  /** The rule's verdict (libsodium's). */
  readonly accept: boolean;
  /** What OpenSSL and tweetnacl say without the rule's point checks (node:crypto.verify, nacl.sign.detached.verify). */
  readonly openssl: boolean;
  readonly tweetnacl: boolean;
}

function buildVectors(): Vector[] {
  const out: Vector[] = [];
  const add = (name: string, pk: Uint8Array, msg: Uint8Array, R: Uint8Array, S: bigint, accept: boolean, openssl: boolean, tweetnacl = openssl): void => {
    out.push({ name, pk, msg, sig: concatBytes(R, enc(S)), accept, openssl, tweetnacl });
  };
  /** The first message `${prefix}${i}` for which `ok(h)` holds, with its challenge. */
  const grind = (prefix: string, R: (i: number) => Uint8Array, A: Uint8Array, ok: (h: bigint, i: number) => boolean): { msg: Uint8Array; R: Uint8Array; h: bigint } => {
    for (let i = 0; ; i++) {
      const msg = utf8(`${prefix}${i}`);
      const r = R(i);
      const h = challenge(r, A, msg);
      if (ok(h, i)) return { msg, R: r, h };
    }
  };
  const a = le(sha512(utf8('abi-link ed25519 vector key'))) % L;
  const r = le(sha512(utf8('abi-link ed25519 vector nonce'))) % L;
  const A = B.multiply(a);
  const pk = A.toBytes();
  const mixed = A.add(T8);
  const mixedPk = mixed.toBytes();

  // RFC 8032 §7.1 test 1, and the same with S + L (tweetnacl accepts that one by itself)
  const rfcPk = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const rfcSig = fromHex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
  add('valid: RFC 8032 §7.1 test 1', rfcPk, new Uint8Array(0), rfcSig.subarray(0, 32), le(rfcSig.subarray(32)), true, true);
  add('S ≥ L: test 1 with S + L', rfcPk, new Uint8Array(0), rfcSig.subarray(0, 32), le(rfcSig.subarray(32)) + L, false, false, true);
  {
    const msg = utf8('valid');
    const R = B.multiply(r).toBytes();
    add('valid: A = a·B, R = r·B', pk, msg, R, (r + challenge(R, pk, msg) * a) % L, true, true);
  }
  // R small-order. With A = a·B the equation can only give R = identity (S = h·a); with the
  // mixed-order A = a·B + T, R = −[h]T hits any point of the subgroup for the right h mod 8.
  {
    const msg = utf8('R identity');
    const R = TORSION[0]!.toBytes();
    add('R small-order: identity; A = a·B, S = h·a', pk, msg, R, (challenge(R, pk, msg) * a) % L, false, true);
  }
  for (const [j, s] of SMALL.entries()) {
    const g = grind(`R${j}-`, () => s.bytes, mixedPk, (h) => times(T8, h).negate().equals(s.point));
    // the equation gives the canonical encoding: only a canonical R passes OpenSSL / tweetnacl
    const canonical = toHex(s.point.toBytes()) === toHex(s.bytes);
    add(`R small-order: ${s.label}; A = a·B + T, S = h·a`, mixedPk, g.msg, g.R, (g.h * a) % L, false, canonical);
  }
  // A small-order: R = [S]B − [k]A with h ≡ k (mod the order of A); the equation holds.
  const S = le(sha512(utf8('abi-link ed25519 vector S'))) % L;
  for (const [j, s] of SMALL.entries()) {
    const g = grind(`A${j}-`, (i) => B.multiply(S).subtract(times(s.point, BigInt(i % 8))).toBytes(), s.bytes, (h, i) => times(s.point, h).equals(times(s.point, BigInt(i % 8))));
    add(`A small-order: ${s.label}; R = [S]B − [h]A`, s.bytes, g.msg, g.R, S, false, true);
  }
  // Mixed-order A: the cofactorless equation decides (libsodium does not check the subgroup).
  {
    const g = grind('mixed-', (i) => B.multiply(r).subtract(times(T8, BigInt(i % 8))).toBytes(), mixedPk, (h, i) => i % 8 !== 0 && h % 8n === BigInt(i % 8));
    add('valid: A = a·B + T, R = r·B − [h]T (mixed order)', mixedPk, g.msg, g.R, (r + g.h * a) % L, true, true);
    const c = grind('cofactored-', () => B.multiply(r).toBytes(), mixedPk, (h) => h % 8n !== 0n);
    add('A = a·B + T, R = r·B: only the cofactored equation holds', mixedPk, c.msg, c.R, (r + c.h * a) % L, false, false);
  }
  // A non-canonical (y = p + 3, a mixed-order point), and A off the curve
  {
    let k = 2n;
    while (((): boolean => { try { Point.fromBytes(enc(k)); return false; } catch { return true; } })()) k++;
    const msg = utf8('A');
    const R = B.multiply(r).toBytes();
    add(`A non-canonical: y = p + ${k}`, enc(P + k), msg, R, r, false, false);
    let off = 2n;
    while (((): boolean => { try { Point.fromBytes(enc(off)); return true; } catch { return false; } })()) off++;
    add(`A not on the curve: y = ${off}`, enc(off), msg, R, r, false, false);
  }
  return out;
}

const VECTORS = buildVectors();

function formatVectors(vs: readonly Vector[]): string {
  return vs.map((v, i) => [
    `${String(i + 1).padStart(2, '0')} ${v.accept ? 'accept' : 'reject'}  ${v.name}`,
    `   A   ${toHex(v.pk)}`,
    `   M   ${v.msg.length === 0 ? '(empty)' : toHex(v.msg)}`,
    `   sig ${toHex(v.sig)}`,
  ].join('\n')).join('\n');
}

// ---------------------------------------------------------------------------------------------
// The verifiers compared.

const sodiumNative = ((): { crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean } | undefined => {
  try {
    return createRequire(import.meta.url)('sodium-native') as { crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean };
  } catch {
    return undefined;
  }
})();

/** libsodium itself (libsodium-wrappers, always installed as a dev dependency): the reference. */
const libsodium = (pk: Uint8Array, m: Uint8Array, sig: Uint8Array): boolean => {
  try {
    return sodium.crypto_sign_verify_detached(sig, m, pk);
  } catch {
    return false;
  }
};
const rawOpenssl = (pk: Uint8Array, m: Uint8Array, sig: Uint8Array): boolean => {
  try {
    return opensslVerify(null, m, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk).toString('base64url') }, format: 'jwk' }), sig);
  } catch {
    return false;
  }
};
const rawNacl = (pk: Uint8Array, m: Uint8Array, sig: Uint8Array): boolean => nacl.sign.detached.verify(m, sig, pk);

/** Every provider path's verdict, keyed by name. */
async function verdicts(pk: Uint8Array, m: Uint8Array, sig: Uint8Array): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  try {
    out['node (default: libsodium if loaded)'] = nodeCrypto.verify(pk, m, sig);
    out['node (default) verifyAsync'] = await nodeCrypto.verifyAsync!(pk, m, sig);
    preferNodeCryptoEd25519(true);
    out['node (OpenSSL)'] = nodeCrypto.verify(pk, m, sig);
    out['node (OpenSSL) verifyAsync'] = await nodeCrypto.verifyAsync!(pk, m, sig);
  } finally {
    preferNodeCryptoEd25519(false);
  }
  out['portable (tweetnacl)'] = portableCrypto.verify(pk, m, sig);
  out['libsodium-wrappers'] = libsodium(pk, m, sig);
  if (sodiumNative !== undefined) out['sodium-native'] = sodiumNative.crypto_sign_verify_detached(sig, m, pk);
  return out;
}

const same = (v: Record<string, boolean>, want: boolean): Record<string, boolean> => Object.fromEntries(Object.keys(v).map((k) => [k, want]));

// ---------------------------------------------------------------------------------------------

describe('Ed25519 acceptance rule (PROTOCOL.md §6.1)', () => {
  it('the crafted vectors are the ones PROTOCOL.md lists', () => {
    const doc = readFileSync(path.join(here, '..', 'PROTOCOL.md'), 'utf8');
    const m = /<!-- ed25519-vectors:start -->\n```\n([\s\S]*?)\n```\n<!-- ed25519-vectors:end -->/.exec(doc);
    expect(m, 'PROTOCOL.md has the ed25519-vectors block').not.toBeNull();
    expect(formatVectors(VECTORS)).toBe(m?.[1]);
    // the subgroup really is the 8-torsion: 8 distinct points, T of order 8
    expect(new Set(TORSION.map((t) => t.toHex())).size).toBe(8);
    expect(times(T8, 8n).is0() && !times(T8, 4n).is0()).toBe(true);
  });

  it('every vector: libsodium gives the pinned verdict, and every provider gives libsodium\'s', async () => {
    for (const v of VECTORS) {
      expect(libsodium(v.pk, v.msg, v.sig), v.name).toBe(v.accept);
      const got = await verdicts(v.pk, v.msg, v.sig);
      expect(got, v.name).toEqual(same(got, v.accept));
    }
  });

  it('the vectors exercise the differences: without the rule\'s point checks OpenSSL and tweetnacl accept some', () => {
    let lax = 0;
    for (const v of VECTORS) {
      expect(rawOpenssl(v.pk, v.msg, v.sig), `OpenSSL: ${v.name}`).toBe(v.openssl);
      expect(rawNacl(v.pk, v.msg, v.sig), `tweetnacl: ${v.name}`).toBe(v.tweetnacl);
      if (v.openssl && !v.accept) lax++;
    }
    // R = identity (prime-order A), 8 small-order R with the mixed key, 14 small-order A
    expect(lax).toBe(23);
  });

  it('strictPoints, smallOrderEncoding and canonicalY on the boundaries', () => {
    const pk = ed25519.getPublicKey(new Uint8Array(32).fill(3));
    const sig = new Uint8Array(64).fill(0x11);
    expect(strictPoints(pk, sig)).toBe(true);
    for (const s of SMALL) {
      expect(smallOrderEncoding(s.bytes, 0), s.label).toBe(true);
      expect(strictPoints(s.bytes, sig), `A ${s.label}`).toBe(false);
      expect(strictPoints(pk, concatBytes(s.bytes, sig.subarray(32))), `R ${s.label}`).toBe(false);
      // one bit away from a small-order encoding is not one (a random point or none)
      const near = Uint8Array.from(s.bytes);
      near[15] = (near[15] ?? 0) ^ 0x10;
      expect(smallOrderEncoding(near, 0)).toBe(false);
    }
    expect(canonicalY(enc(P - 1n))).toBe(true);
    expect(canonicalY(withSign(enc(P - 1n)))).toBe(true);
    expect(canonicalY(enc(P))).toBe(false);
    expect(canonicalY(withSign(enc(P + 18n)))).toBe(false);
    expect(canonicalY(enc(2n ** 255n - 1n))).toBe(false);
    expect(canonicalY(enc(2n ** 254n))).toBe(true);
  });

  it('random byte flips of valid signatures: every provider agrees with libsodium', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 0, maxLength: 3 }),
      async (seed, msg, flips) => {
        const s = nodeCrypto.signer(seed);
        const all = concatBytes(s.publicKey, s.sign(msg), msg);
        for (const [at, x] of flips) all[at % all.length]! ^= x;
        const pk = all.subarray(0, 32);
        const sig = all.subarray(32, 96);
        const m = all.subarray(96);
        const got = await verdicts(pk, m, sig);
        expect(got).toEqual(same(got, libsodium(pk, m, sig)));
      },
    ), { numRuns: 100 });
  });

  it('structured mutations (small-order / non-canonical R and A, S + L, torsion added to A): every provider agrees with libsodium', async () => {
    const encodings = fc.constantFrom(...SMALL.map((s) => s.bytes), enc(P + 3n), enc(P + 4n));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('R' as const), to: encodings }),
      fc.record({ kind: fc.constant('A' as const), to: encodings }),
      fc.record({ kind: fc.constant('S+L' as const) }),
      fc.record({ kind: fc.constant('sign' as const), of: fc.constantFrom('R', 'A') }),
      fc.record({ kind: fc.constant('torsion' as const), k: fc.integer({ min: 1, max: 7 }) }),
    );
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: VECTORS.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 2 }), async (i, muts) => {
      const v = VECTORS[i]!;
      const pk = Uint8Array.from(v.pk);
      const sig = Uint8Array.from(v.sig);
      for (const mu of muts) {
        if (mu.kind === 'R') sig.set(mu.to, 0);
        else if (mu.kind === 'A') pk.set(mu.to, 0);
        else if (mu.kind === 'S+L') sig.set(enc((le(sig.subarray(32)) + L) % 2n ** 256n), 32);
        else if (mu.kind === 'sign') (mu.of === 'R' ? sig : pk)[31]! ^= 0x80;
        else {
          try {
            pk.set(Point.fromBytes(pk).add(TORSION[mu.k]!).toBytes(), 0);
          } catch {
            // not a canonical point: leave it
          }
        }
      }
      const got = await verdicts(pk, v.msg, sig);
      expect(got).toEqual(same(got, libsodium(pk, v.msg, sig)));
    }), { numRuns: 200 });
  });
});

// ---------------------------------------------------------------------------------------------

describe('libsodium verifier (sodium-native)', () => {
  const required = process.env.ABI_LINK_REQUIRE_NATIVE === '1' || (process.env.CI === 'true' && process.env.ABI_LINK_NATIVE !== '0');

  it('is loaded where it is required (CI), else says why not; the index exports the status', () => {
    const s = nativeEd25519();
    expect(exported).toBe(nativeEd25519);
    if (required) {
      expect(s, 'sodium-native is an optional dependency with linux-x64 prebuilds; under CI it must load').toMatchObject({ implementation: 'libsodium', loaded: true, sodiumNative: '5.1.0' });
    } else if (s.implementation === 'node:crypto') {
      expect(s.reason).toMatch(/./);
    }
    preferNodeCryptoEd25519(true);
    expect(nativeEd25519()).toMatchObject({ implementation: 'node:crypto', async: 'libuv thread pool' });
    preferNodeCryptoEd25519(false);
  });

  it('ABI_LINK_NATIVE=0: node:crypto verifies (tokens, verify and verifyAsync, the vectors) in a child process', () => {
    const vectors = JSON.stringify(VECTORS.map((v) => [toHex(v.pk), toHex(v.msg), toHex(v.sig), v.accept]));
    const script = `
      import { nativeEd25519, nodeCrypto, Identity, TokenVerifier, issueToken } from './src/index.ts';
      const status = nativeEd25519();
      const hex = (h) => new Uint8Array(Buffer.from(h, 'hex'));
      const wrong = [];
      for (const [pk, m, sig, accept] of ${vectors}) {
        if (nodeCrypto.verify(hex(pk), hex(m), hex(sig)) !== accept) wrong.push(pk);
        if (await nodeCrypto.verifyAsync(hex(pk), hex(m), hex(sig)) !== accept) wrong.push(pk);
      }
      const root = Identity.fromSeed(new Uint8Array(32).fill(1));
      const v = new TokenVerifier({ trustedIssuers: [root.nodeId], cacheSize: 0 });
      const t = issueToken(root, { subject: root.publicKey, scopes: ['publish'], ttlMs: 60000 });
      const grant = v.verify([t], { scope: 'publish' });
      const grantAsync = await v.verifyAsync([t], { scope: 'publish' });
      console.log(JSON.stringify({ status, wrong, tokens: grant.subject === root.nodeId && grantAsync.subject === root.nodeId }));
    `;
    const r = runModule(script, { env: { ABI_LINK_NATIVE: '0' } });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect(out).toEqual({ status: { implementation: 'node:crypto', loaded: false, async: 'libuv thread pool', reason: 'disabled by ABI_LINK_NATIVE=0' }, wrong: [], tokens: true });
  });

  it.runIf(nativeEd25519().implementation === 'libsodium')('verifyAsync batches on worker threads; many in flight, each gets its own verdict', async () => {
    const s = nodeCrypto.signer(new Uint8Array(32).fill(7));
    const calls = Array.from({ length: 300 }, (_, i) => {
      const m = utf8(`message ${i}`);
      const sig = s.sign(m);
      if (i % 3 === 1) sig[i % 64]! ^= 1 << (i % 8);
      return { m, sig, want: i % 3 !== 1 };
    });
    const got = await Promise.all(calls.map((c) => nodeCrypto.verifyAsync!(s.publicKey, c.m, c.sig)));
    expect(got).toEqual(calls.map((c) => c.want));
    expect(nativeEd25519().async).toBe('worker threads');
    // the inputs are copied at the call: changing them afterwards does not change the verdict
    const m = utf8('copied');
    const sig = s.sign(m);
    const p = nodeCrypto.verifyAsync!(s.publicKey, m, sig);
    sig[0]! ^= 1;
    expect(await p).toBe(true);
  });

  it.runIf(nativeEd25519().implementation === 'libsodium')('idle workers do not keep the process alive', () => {
    const script = `
      import { nodeCrypto, nativeEd25519 } from './src/index.ts';
      const s = nodeCrypto.signer(new Uint8Array(32).fill(3));
      const m = new Uint8Array(10);
      console.log(await nodeCrypto.verifyAsync(s.publicKey, m, s.sign(m)), nativeEd25519().async);
    `;
    const r = runModule(script, { timeoutMs: 15_000 });
    expect(r.signal, 'the process had to be killed: a worker kept it alive').toBeNull();
    expect([r.status, r.stdout.trim()]).toEqual([0, 'true worker threads']);
  });

  it.runIf(nativeEd25519().implementation === 'libsodium')('verifyAsync is bounded: beyond MAX_ASYNC_IN_FLIGHT calls verify inline, verdicts unchanged', async () => {
    const s = nodeCrypto.signer(new Uint8Array(32).fill(9));
    const m = utf8('bounded');
    const sig = s.sign(m);
    const bad = Uint8Array.from(sig);
    bad[33]! ^= 1;
    const n = MAX_ASYNC_IN_FLIGHT + 300;
    const ps = Array.from({ length: n }, (_, i) => nodeCrypto.verifyAsync!(s.publicKey, m, i % 2 === 0 ? sig : bad));
    expect(ed25519AsyncInFlightForTest()).toBe(MAX_ASYNC_IN_FLIGHT);
    const got = await Promise.all(ps);
    expect(got.every((ok, i) => ok === (i % 2 === 0))).toBe(true);
    expect(ed25519AsyncInFlightForTest()).toBe(0);
  });

  // last in this file: the workers stay failed for the rest of the module's life
  it.runIf(nativeEd25519().implementation === 'libsodium')('when the workers fail, pending and later calls verify inline with the same verdicts', async () => {
    const s = nodeCrypto.signer(new Uint8Array(32).fill(8));
    const m = utf8('inline');
    const sig = s.sign(m);
    const bad = Uint8Array.from(sig);
    bad[40]! ^= 4;
    const pending = [nodeCrypto.verifyAsync!(s.publicKey, m, sig), nodeCrypto.verifyAsync!(s.publicKey, m, bad)];
    await Promise.resolve(); // flushed to the workers
    failEd25519WorkersForTest('test');
    expect(await Promise.all(pending)).toEqual([true, false]);
    expect(nativeEd25519().async).toBe('inline');
    expect(await Promise.all([nodeCrypto.verifyAsync!(s.publicKey, m, sig), nodeCrypto.verifyAsync!(s.publicKey, m, bad)])).toEqual([true, false]);
    for (const v of VECTORS) expect(await nodeCrypto.verifyAsync!(v.pk, v.msg, v.sig), v.name).toBe(v.accept);
  });
});
