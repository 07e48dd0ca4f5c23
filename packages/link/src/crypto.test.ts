import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.js';
import { nodeCrypto, portableCrypto, type CipherId } from './crypto.js';

beforeAll(async () => {
  await sodium.ready;
});

const providers = [nodeCrypto, portableCrypto];

describe('crypto providers', () => {
  it('Ed25519 matches RFC 8032 test 1 and libsodium on both providers', () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    for (const p of providers) {
      const s = p.signer(seed);
      expect(toHex(s.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
      const sig = s.sign(new Uint8Array(0));
      expect(toHex(sig)).toBe('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
      expect(p.verify(s.publicKey, new Uint8Array(0), sig)).toBe(true);
    }
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (sd, msg) => {
      const kp = sodium.crypto_sign_seed_keypair(sd);
      const ref = sodium.crypto_sign_detached(msg, kp.privateKey);
      const a = nodeCrypto.signer(sd).sign(msg);
      const b = portableCrypto.signer(sd).sign(msg);
      expect(toHex(a)).toBe(toHex(ref));
      expect(toHex(b)).toBe(toHex(ref));
      expect(nodeCrypto.verify(kp.publicKey, msg, b)).toBe(true);
      expect(portableCrypto.verify(kp.publicKey, msg, a)).toBe(true);
    }), { numRuns: 15 });
  });

  it('rejects altered and non-canonical signatures on both providers', () => {
    const s = nodeCrypto.signer(new Uint8Array(32).fill(9));
    const msg = Uint8Array.of(1, 2, 3);
    const sig = s.sign(msg);
    const flipped = Uint8Array.from(sig);
    flipped[10]! ^= 1;
    // S + L (malleated): non-canonical, must be refused by both.
    const mall = Uint8Array.from(sig);
    const L = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
    let carry = 0;
    for (let i = 0; i < 32; i++) {
      const v = mall[32 + i]! + L[i]! + carry;
      mall[32 + i] = v & 0xff;
      carry = v >> 8;
    }
    for (const p of providers) {
      expect(p.verify(s.publicKey, msg, flipped)).toBe(false);
      expect(p.verify(s.publicKey, Uint8Array.of(1, 2, 4), sig)).toBe(false);
      expect(p.verify(s.publicKey, msg, mall)).toBe(false);
      expect(p.verify(s.publicKey.subarray(1), msg, sig)).toBe(false);
    }
  });

  it('X25519 matches RFC 7748 §6.1, @noble and libsodium, and refuses low-order points', () => {
    const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bPub = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    for (const p of providers) {
      const e = p.ephemeral(a);
      expect(toHex(e.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
      expect(toHex(e.agree(bPub))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
      expect(() => e.agree(new Uint8Array(32))).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
    }
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (k1, k2) => {
      const n = nodeCrypto.ephemeral(k1);
      const t = portableCrypto.ephemeral(k1);
      expect(toHex(n.publicKey)).toBe(toHex(t.publicKey));
      expect(toHex(n.publicKey)).toBe(toHex(x25519.getPublicKey(k1)));
      const peer = x25519.getPublicKey(k2);
      const ref = sodium.crypto_scalarmult(k1, peer);
      expect(toHex(n.agree(peer))).toBe(toHex(ref));
      expect(toHex(t.agree(peer))).toBe(toHex(ref));
    }), { numRuns: 20 });
  });

  it('SHA-512 and HKDF-SHA-512 agree across providers and @noble', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 200 }), (ikm, salt, info, n) => {
      const ref = toHex(hkdf(sha512, ikm, salt, info, n));
      expect(toHex(nodeCrypto.hkdf(ikm, salt, info, n))).toBe(ref);
      expect(toHex(portableCrypto.hkdf(ikm, salt, info, n))).toBe(ref);
      expect(toHex(nodeCrypto.hkdfExtract(ikm, salt)(info, n))).toBe(ref);
      expect(toHex(portableCrypto.hkdfExtract(ikm, salt)(info, n))).toBe(ref);
      expect(toHex(portableCrypto.sha512(ikm))).toBe(toHex(sha512(ikm)));
      expect(toHex(nodeCrypto.sha512(ikm))).toBe(toHex(sha512(ikm)));
    }), { numRuns: 50 });
  });

  it('AEADs agree with @noble / libsodium and reject any flipped bit', () => {
    const key = new Uint8Array(32).fill(7);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ maxLength: 20 }), fc.nat(), (pt, aad, flip) => {
      const n12 = new Uint8Array(12).fill(3);
      const n24 = new Uint8Array(24).fill(3);
      const refs: [CipherId, Uint8Array, Uint8Array][] = [
        ['chacha20-poly1305', n12, chacha20poly1305(key, n12, aad).encrypt(pt)],
        ['aes-256-gcm', n12, gcm(key, n12, aad).encrypt(pt)],
        ['xsalsa20-poly1305', n24, sodium.crypto_secretbox_easy(pt, n24, key)],
      ];
      for (const [c, nonce, ref] of refs) {
        const a = nodeCrypto.aead(c, key);
        const sealed = a.seal(nonce, aad, pt);
        expect(toHex(sealed)).toBe(toHex(ref));
        expect(toHex(a.open(nonce, aad, sealed)!)).toBe(toHex(pt));
        const bad = Uint8Array.from(sealed);
        const i = flip % bad.length;
        bad[i]! ^= 1 << (flip % 8);
        expect(a.open(nonce, aad, bad)).toBeUndefined();
        if (c !== 'xsalsa20-poly1305') expect(a.open(nonce, Uint8Array.of(...aad, 1), sealed)).toBeUndefined();
      }
      expect(toHex(portableCrypto.aead('xsalsa20-poly1305', key).seal(n24, aad, pt))).toBe(toHex(refs[2]![2]));
    }), { numRuns: 40 });
  });

  it('the portable provider refuses ciphers it lacks; headroom leaves space in front', () => {
    expect(() => portableCrypto.aead('aes-256-gcm', new Uint8Array(32))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CIPHER' }));
    expect(() => nodeCrypto.aead('aes-256-gcm', new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
    const a = nodeCrypto.aead('aes-256-gcm', new Uint8Array(32));
    const s = a.seal(new Uint8Array(12), new Uint8Array(0), Uint8Array.of(1, 2, 3), 5);
    expect(s.length).toBe(5 + 3 + 16);
    expect(a.open(new Uint8Array(12), new Uint8Array(0), s.subarray(5))).toEqual(Uint8Array.of(1, 2, 3));
  });
});
