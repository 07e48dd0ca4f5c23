import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from './bytes.js';
import { NativeAead, NodeAead, nodeCrypto, type Aead } from './crypto.js';
import { nativeAead, nativeBinding } from './native.js';
import { RecordReceiver, RecordSender, RecordType } from './record.js';
import { runModule, split } from '../test/helpers.js';

const required = process.env.ABI_LINK_REQUIRE_NATIVE === '1' || (process.env.CI === 'true' && process.env.ABI_LINK_NATIVE !== '0');
const binding = nativeBinding();
const CIPHERS = ['aes-256-gcm', 'chacha20-poly1305'] as const;

describe('native AEAD status', () => {
  it('is loaded where it is required (CI), else says why not', () => {
    const s = nativeAead();
    if (required) {
      expect(s, 'CI builds native/abi_link_aead.node (scripts/build-native.mjs); it must load').toMatchObject({ loaded: true });
      expect(s.openssl).toMatch(/^OpenSSL \d/);
    } else if (!s.loaded) {
      expect(s.reason).toMatch(/./);
    }
    expect(nodeCrypto.aead('aes-256-gcm', new Uint8Array(32))).toBeInstanceOf(s.loaded ? NativeAead : NodeAead);
  });

  it('ABI_LINK_NATIVE=0 falls back to node:crypto, and a channel still works', () => {
    const script = `
      import { nativeAead, nodeCrypto, SecureChannel, Identity, memoryDuplexPair } from './src/index.ts';
      const s = nativeAead();
      const [da, db] = memoryDuplexPair();
      const a = Identity.fromSeed(new Uint8Array(32).fill(1));
      const b = Identity.fromSeed(new Uint8Array(32).fill(2));
      const [c, d] = await Promise.all([SecureChannel.connect(da, { identity: a }), SecureChannel.accept(db, { identity: b })]);
      const got = new Promise((r) => d.onMessage((m) => r(new TextDecoder().decode(m))));
      await c.send(new TextEncoder().encode('over node:crypto'));
      console.log(JSON.stringify({ ...s, aead: nodeCrypto.aead('aes-256-gcm', new Uint8Array(32)).constructor.name, got: await got }));
      await c.close(); await d.close();
    `;
    const r = runModule(script, { env: { ABI_LINK_NATIVE: '0' } });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect(out).toMatchObject({ loaded: false, reason: 'disabled by ABI_LINK_NATIVE=0', aead: 'NodeAead', got: 'over node:crypto' });
  });
});

const cat = (ps: readonly Uint8Array[]): string => ps.map((p) => toHex(p)).join('');

describe.skipIf(binding === undefined)('native AEAD against node:crypto', () => {
  const n = binding!;

  it('seals to identical bytes, and each opens what the other sealed, in any pieces', () => {
    fc.assert(fc.property(
      fc.constantFrom(...CIPHERS), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 4 }),
      (cipher, key, nonce, aad, pt, cutsIn, cutsOut) => {
        const nat: Aead = new NativeAead(n, cipher, key);
        const ref: Aead = new NodeAead(cipher, key);
        const sealed = ref.seal(nonce, aad, pt);
        expect(toHex(nat.seal(nonce, aad, pt))).toBe(toHex(sealed));
        expect(cat(nat.sealv(nonce, aad, split(pt, cutsIn)))).toBe(toHex(sealed));
        const ct = sealed.subarray(0, sealed.length - 16);
        const tag = sealed.subarray(sealed.length - 16);
        expect(toHex(ref.open(nonce, aad, nat.seal(nonce, aad, pt))!)).toBe(toHex(pt));
        expect(toHex(nat.open(nonce, aad, sealed)!)).toBe(toHex(pt));
        expect(cat(nat.openv(nonce, aad, split(ct, cutsOut), tag)!)).toBe(toHex(pt));
        const copy = Uint8Array.from(ct);
        const pieces = split(copy, cutsOut);
        expect(nat.openInPlace!(nonce, aad, pieces, tag)).toBe(true);
        expect(toHex(copy)).toBe(toHex(pt));
      },
    ), { numRuns: 150 });
  });

  it('refuses any flipped bit of ciphertext, tag, aad or nonce, in place or not', () => {
    fc.assert(fc.property(fc.constantFrom(...CIPHERS), fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.nat(), fc.constantFrom('ct', 'tag', 'aad', 'nonce'), (cipher, pt, flip, where) => {
      const key = new Uint8Array(32).fill(5);
      const nonce = new Uint8Array(12).fill(6);
      const aad = Uint8Array.of(1, 2, 3);
      const nat = new NativeAead(n, cipher, key);
      const sealed = nat.seal(nonce, aad, pt);
      const ct = Uint8Array.from(sealed.subarray(0, pt.length));
      const tag = Uint8Array.from(sealed.subarray(pt.length));
      const a2 = Uint8Array.from(aad);
      const n2 = Uint8Array.from(nonce);
      const target = { ct, tag, aad: a2, nonce: n2 }[where];
      target[flip % target.length]! ^= 1 << (flip % 8);
      expect(nat.open(n2, a2, Uint8Array.of(...ct, ...tag))).toBeUndefined();
      expect(nat.openv(n2, a2, [ct], tag)).toBeUndefined();
      expect(nat.openInPlace(n2, a2, [ct], tag)).toBe(false);
      // the untouched inputs still open: the refusal came from the flipped bit
      expect(toHex(nat.open(nonce, aad, sealed)!)).toBe(toHex(pt));
    }), { numRuns: 100 });
  });

  it('reproduces the GCM specification\'s test case 14 (AES-256, zero key and IV, one zero block)', () => {
    const h = n.create(0, new Uint8Array(32), true);
    n.start(h, new Uint8Array(12), new Uint8Array(0));
    const ct = new Uint8Array(16);
    n.update(h, new Uint8Array(16), ct);
    const tag = new Uint8Array(16);
    expect(n.finish(h, tag)).toBe(true);
    expect(toHex(ct)).toBe('cea7403d4d606b6e074ec5d3baf39d18');
    expect(toHex(tag)).toBe('d0d1c8a799996bf0265b98b5d48ab919');
  });

  it('the binding rejects bad arguments instead of touching memory', () => {
    const key = new Uint8Array(32);
    const h = n.create(0, key, true);
    const bad = (f: () => unknown, message?: RegExp): void => {
      expect(f).toThrow(expect.objectContaining({ code: 'ERR_ABI_LINK_NATIVE' }));
      if (message !== undefined) expect(f).toThrow(message);
    };
    bad(() => n.create(3 as 0, key, true));
    bad(() => n.create(0, new Uint8Array(31), true));
    bad(() => n.create(0, new Uint16Array(16) as unknown as Uint8Array, true));
    bad(() => { n.start({}, new Uint8Array(12), new Uint8Array(0)); });
    bad(() => { n.update(h, new Uint8Array(4), new Uint8Array(4)); }, /before start/);
    bad(() => n.finish(h, new Uint8Array(16)), /before start/);
    bad(() => { n.start(h, new Uint8Array(11), new Uint8Array(0)); });
    n.start(h, new Uint8Array(12), new Uint8Array(0));
    const buf = new Uint8Array(64);
    bad(() => { n.update(h, buf.subarray(0, 32), buf.subarray(16, 48)); }, /overlap/);
    bad(() => { n.update(h, buf.subarray(0, 32), buf.subarray(32, 48)); }, /shorter/);
    bad(() => n.finish(h, new Uint8Array(15)));
    // a failed call leaves the handle usable
    n.start(h, new Uint8Array(12), new Uint8Array(0));
    n.update(h, buf.subarray(0, 32), buf.subarray(32, 64));
    expect(n.finish(h, new Uint8Array(16))).toBe(true);
  });

  it('the record layer decrypts in place only when the caller hands the record over', () => {
    for (const cipher of CIPHERS) {
      const key = new Uint8Array(32).fill(1);
      const iv = new Uint8Array(12).fill(2);
      const tx = new RecordSender(nodeCrypto, cipher, key, iv, 0);
      const pt = new Uint8Array(5000).fill(9);
      const rec1 = Uint8Array.from(tx.seal(RecordType.data, pt));
      const rec2 = Uint8Array.from(tx.seal(RecordType.data, pt));
      const keep = toHex(rec1);
      const plain = new RecordReceiver(nodeCrypto, cipher, key, iv);
      expect(toHex(plain.open(rec1).payload)).toBe(toHex(pt));
      expect(toHex(rec1)).toBe(keep);
      const owned = new RecordReceiver(nodeCrypto, cipher, key, iv, { inPlace: true });
      owned.open(rec1);
      const got = owned.open(rec2).payload;
      expect(got.buffer).toBe(rec2.buffer);
      expect(toHex(got)).toBe(toHex(pt));
    }
  });
});
