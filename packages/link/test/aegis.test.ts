/**
 * AEGIS-128L (native/aegis.c) checked three ways: the plain JavaScript reference in aegis-ref.ts
 * reproduces RFC 10032's test vector and libsodium's output; the native cipher equals the
 * reference byte for byte, sealed or opened in any pieces; and it refuses every flipped bit.
 */
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { NativeAead, nodeCrypto } from '../src/crypto.js';
import { LinkError } from '../src/errors.js';
import { nativeAead, nativeBinding } from '../src/native.js';
import { aegis128lEncrypt } from './aegis-ref.js';
import { split } from './helpers.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const binding = nativeBinding();
const aegis = binding?.aegis === true;
const required = process.env.CI === 'true' && process.env.ABI_LINK_NATIVE !== '0' && process.arch === 'x64';

const cat = (p: readonly Uint8Array[]): Uint8Array => Uint8Array.from(p.flatMap((x) => [...x]));

describe('AEGIS-128L reference (tests only)', () => {
  beforeAll(async () => {
    await sodium.ready;
  });

  it('reproduces RFC 10032 test vector 1 (both tag lengths)', () => {
    const r = aegis128lEncrypt(hex('10010000000000000000000000000000'), hex('10000200000000000000000000000000'), new Uint8Array(0), new Uint8Array(16));
    expect(toHex(r.ct)).toBe('c1c0e58bd913006feba00f4b3cc3594e');
    expect(toHex(r.tag128)).toBe('abe0ece80c24868a226a35d16bdae37a');
    expect(toHex(r.tag256)).toBe('25835bfbb21632176cf03840687cb968cace4617af1bd0f7d064c639a5c79ee4');
  });

  it('equals libsodium (ciphertext and its 256-bit tag) for any key, nonce, aad and length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 200 }), (key, nonce, ad, msg) => {
        const ours = aegis128lEncrypt(key, nonce, ad, msg);
        const theirs = sodium.crypto_aead_aegis128l_encrypt_detached(msg, ad, null, nonce, key);
        expect(toHex(ours.ct)).toBe(toHex(theirs.ciphertext));
        expect(toHex(ours.tag256)).toBe(toHex(theirs.mac));
      }),
      { numRuns: 60 },
    );
  });
});

describe('AEGIS-128L availability', () => {
  it('is offered first by the default provider exactly when the addon has it (required on x64 under CI)', () => {
    if (required) expect(nativeAead(), 'AEGIS-128L must be available: this CPU has AES-NI and AVX').toMatchObject({ loaded: true, aegis: true });
    expect(nodeCrypto.ciphers[0] === 'aegis-128l').toBe(aegis);
    if (!aegis) expect(() => nodeCrypto.aead('aegis-128l', new Uint8Array(32))).toThrow(LinkError);
  });
});

describe.skipIf(!aegis)('AEGIS-128L native', () => {
  const arb = fc.record({
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    aad: fc.uint8Array({ maxLength: 70 }),
    pt: fc.uint8Array({ maxLength: 300 }),
    cutsIn: fc.array(fc.nat(400), { maxLength: 6 }),
    cutsOut: fc.array(fc.nat(400), { maxLength: 6 }),
  });

  it('equals the reference keyed with the first 16 key bytes, and opens in any pieces, in place or not', () => {
    fc.assert(
      fc.property(arb, ({ key, nonce, aad, pt, cutsIn, cutsOut }) => {
        const a = nodeCrypto.aead('aegis-128l', key);
        expect(a).toBeInstanceOf(NativeAead);
        const ref = aegis128lEncrypt(key.subarray(0, 16), nonce, aad, pt);
        const want = toHex(ref.ct) + toHex(ref.tag128);
        const sealed = a.seal(nonce, aad, pt);
        expect(toHex(sealed)).toBe(want);
        expect(toHex(cat(a.sealv(nonce, aad, split(pt, cutsIn))))).toBe(want);
        const out = new Uint8Array(pt.length + 16);
        a.sealInto?.(nonce, aad, split(pt, cutsIn), out);
        expect(toHex(out)).toBe(want);
        const ct = sealed.subarray(0, pt.length);
        const tag = sealed.subarray(pt.length);
        expect(toHex(a.open(nonce, aad, sealed)!)).toBe(toHex(pt));
        expect(toHex(cat(a.openv(nonce, aad, split(ct, cutsOut), tag)!))).toBe(toHex(pt));
        const copy = Uint8Array.from(ct);
        expect(a.openInPlace?.(nonce, aad, split(copy, cutsOut), tag)).toBe(true);
        expect(toHex(copy)).toBe(toHex(pt));
      }),
      { numRuns: 150 },
    );
  });

  it('refuses any flipped bit of ciphertext, tag, aad or nonce, in place or not', () => {
    fc.assert(
      fc.property(arb, fc.nat(), fc.nat(7), fc.constantFrom('sealed', 'aad', 'nonce'), ({ key, nonce, aad, pt }, at, bit, what) => {
        const a = nodeCrypto.aead('aegis-128l', key);
        const sealed = a.seal(nonce, aad, pt);
        const target = what === 'sealed' ? sealed : what === 'aad' ? aad : nonce;
        fc.pre(target.length > 0);
        target[at % target.length]! ^= 1 << bit;
        expect(a.open(nonce, aad, sealed)).toBeUndefined();
        const ct = Uint8Array.from(sealed.subarray(0, pt.length));
        expect(a.openInPlace?.(nonce, aad, [ct], sealed.subarray(pt.length))).toBe(false);
        expect(ct.every((x) => x === 0), 'unverified plaintext is wiped').toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a 64 KiB record in odd pieces equals the reference (many full blocks between partial ones)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const nonce = Uint8Array.from({ length: 16 }, (_, i) => 255 - i);
    const aad = Uint8Array.of(0x17, 0, 0, 0, 0, 0, 0, 0, 0, 9);
    const pt = Uint8Array.from({ length: 65536 + 5 }, (_, i) => (i * 31) & 255);
    const ref = aegis128lEncrypt(key.subarray(0, 16), nonce, aad, pt);
    const a = nodeCrypto.aead('aegis-128l', key);
    expect(toHex(cat(a.sealv(nonce, aad, split(pt, [1, 33, 30000, 65000]))))).toBe(toHex(ref.ct) + toHex(ref.tag128));
  });

  it('the binding checks AEGIS arguments', () => {
    const b = binding!;
    const h = b.create(2, new Uint8Array(32), true);
    expect(() => { b.start(h, new Uint8Array(12), new Uint8Array(0)); }).toThrow(/16-byte/);
    expect(() => b.create(3 as 2, new Uint8Array(32), true)).toThrow(/0, 1 or 2/);
    expect(() => b.create(2, new Uint8Array(16), true)).toThrow(/32-byte/);
    expect(() => { b.update(h, new Uint8Array(1), new Uint8Array(1)); }).toThrow(/before start/);
    b.start(h, new Uint8Array(16), new Uint8Array(0));
    expect(() => b.finish(h, new Uint8Array(15))).toThrow(/16-byte/);
  });
});
