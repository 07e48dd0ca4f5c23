/**
 * PROTOCOL.md test vectors: fixed keys and ephemerals → exact bytes. Each vector is produced by our
 * implementation (both providers) and re-derived from scratch with @noble (an independent
 * implementation of X25519, Ed25519, SHA-512, HKDF and the AEADs), then pinned as hex.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { RecordReceiver, RecordType, nodeCrypto, portableCrypto, type CipherId } from '../src/index.js';
import { nativeBinding } from '../src/native.js';
import { aegis128lEncrypt } from './aegis-ref.js';
import { VECTOR_INPUTS, produceVectors } from './vectors.js';

const te = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (...p: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(p.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of p) { out.set(x, o); o += x.length; }
  return out;
};
type C = Exclude<CipherId, 'none'>;
const ID: Record<C, number> = { 'chacha20-poly1305': 1, 'aes-256-gcm': 2, 'xsalsa20-poly1305': 3, 'aegis-128l': 4 };
const NL: Record<C, number> = { 'chacha20-poly1305': 12, 'aes-256-gcm': 12, 'xsalsa20-poly1305': 24, 'aegis-128l': 16 };

function nobleSeal(c: C, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  if (c === 'chacha20-poly1305') return chacha20poly1305(key, nonce, aad).encrypt(pt);
  if (c === 'aes-256-gcm') return gcm(key, nonce, aad).encrypt(pt);
  if (c === 'aegis-128l') {
    // the reference in aegis-ref.ts (itself checked against RFC 10032 and libsodium); 16-byte key prefix
    const r = aegis128lEncrypt(key.subarray(0, 16), nonce, aad, pt);
    return cat(r.ct, r.tag128);
  }
  return xsalsa20poly1305(key, nonce).encrypt(pt);
}

/** The whole protocol re-derived with @noble, following PROTOCOL.md only. */
function nobleVectors(c: C) {
  const v = VECTOR_INPUTS;
  const H = (...p: Uint8Array[]) => sha512(cat(te('abi-link/1 transcript'), ...p));
  const K = (ikm: Uint8Array, salt: Uint8Array, info: string, n: number) => hkdf(sha512, ikm, salt, te(info), n);
  const Ipub = ed25519.getPublicKey(v.initiatorSeed);
  const Rpub = ed25519.getPublicKey(v.responderSeed);
  const ei = x25519.getPublicKey(v.initiatorEphemeral);
  const er = x25519.getPublicKey(v.responderEphemeral);
  const hello = cat(Uint8Array.of(0x01, 0x41, 0x42, 0x49, 0x4c, 1, 1, 1, ID[c]), ei, Uint8Array.of(0, 0));
  const dh = x25519.getSharedSecret(v.responderEphemeral, ei);
  const header = cat(Uint8Array.of(0x02, 1, ID[c]), er, Uint8Array.of(0, 112));
  const th1 = H(hello, header);
  const zero = new Uint8Array(NL[c]);
  const sigR = ed25519.sign(cat(te('abi-link/1 responder signature'), th1), v.responderSeed);
  const reply = cat(header, nobleSeal(c, K(dh, th1, 'abi-link/1 responder handshake key', 32), zero, header, cat(Rpub, sigR)));
  const th2 = H(hello, reply);
  const authHeader = Uint8Array.of(0x03, 0, 112);
  const sigI = ed25519.sign(cat(te('abi-link/1 initiator signature'), th2), v.initiatorSeed);
  const auth = cat(authHeader, nobleSeal(c, K(dh, th1, 'abi-link/1 initiator handshake key', 32), zero, authHeader, cat(Ipub, sigI)));
  const th3 = H(hello, reply, auth);
  const i2rKey = K(dh, th3, 'abi-link/1 i2r key', 32);
  const i2rIv = K(dh, th3, 'abi-link/1 i2r iv', NL[c]);
  const r2iKey = K(dh, th3, 'abi-link/1 r2i key', 32);
  const r2iIv = K(dh, th3, 'abi-link/1 r2i iv', NL[c]);
  const record = (key: Uint8Array, iv: Uint8Array, type: number, phase: number, seq: number, pt: Uint8Array) => {
    const h = new Uint8Array(10);
    h[0] = type; h[1] = phase;
    new DataView(h.buffer).setBigUint64(2, BigInt(seq));
    const nonce = Uint8Array.from(iv);
    const L = nonce.length;
    for (let i = 0; i < 8; i++) nonce[L - 8 + i]! ^= h[2 + i]!;
    nonce[L - 9]! ^= phase;
    nonce[L - 10]! ^= type;
    return cat(h, nobleSeal(c, key, nonce, h, pt));
  };
  const next = hkdf(sha512, i2rKey, new Uint8Array(0), te('abi-link/1 rekey'), 32);
  return {
    hello, reply, auth, i2rKey, i2rIv, r2iKey, r2iIv,
    session: K(dh, th3, 'abi-link/1 session id', 32),
    ready: record(r2iKey, r2iIv, 0x1a, 0, 0, new Uint8Array(0)),
    data0: record(i2rKey, i2rIv, 0x17, 0, 0, v.data),
    rekey1: record(i2rKey, i2rIv, 0x16, 0, 1, new Uint8Array(0)),
    data2: record(next, i2rIv, 0x17, 1, 2, v.data),
  };
}

/** Pinned bytes (also printed in PROTOCOL.md §8). */
const PINNED: Record<C, Record<string, string>> = {
  'chacha20-poly1305': {
    hello: '014142494c010101017b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f130000',
    reply: '0201010faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f200070eb153fa0f3d7287ebbb079985ecc01e1e561b8108842aeebeab89eb4de58e59b56fd681a3056ab6e5e692e05c2520f888bda67e266a392029a59ecb715e127c5817b52066d1282007254d236123d4b537ff3fcf58590c7bea85d790a4bd0b4e31056f6fcef8ee0d355a6e30f06ed38ab',
    auth: '030070f9ab33603ed38c68f76dbbffb0975c04f3ce4bbf503c39b7e62890d0963a8488cbf513a881bccd8db42740eb11ce3fb7578cc7d22305ff31203c526faa6fe0b18c2b0001c016acc3c31b84684d1dfcd1edb78935670034e938430988f5d3d8b43a8c71ec3435d03431f90b9164441c7c',
    i2rKey: 'a11fbc863a9a28c4d12d6e90205afe71976770cf1a00f73bd29f763a2e87ccf5',
    i2rIv: 'aca4b667788e767ed1321e2b',
    r2iKey: '00ba28719771ed2be4e0f8b3f63523f7b16d6ef205070e0b95f7c9258dc4b937',
    r2iIv: '7ad5f46209eb0ce3b6c05fb0',
    session: '3c6d8c556a6eee85ab652e2e5773c798164c0251c8586e7436753fcd96a6d083',
    ready: '1a000000000000000000ddb4459a892aa09ee3d580f70613b1ed',
    data0: '1700000000000000000088ac2ba7bd3aca5caec728e47d850f0c1037560845',
    rekey1: '16000000000000000001bcb4cfc2591189d6387ea02f219e8286',
    data2: '17010000000000000002c5b43bc1d1ebc3a06ddba60b888bb5d406bc89c632',
  },
  'aes-256-gcm': {
    session: 'a992f76ee803b7ffe2a41539c84a935ce24798f418f53157bbdc56d5294862b6',
    data0: '17000000000000000000ade0d0961d14aeaa553b3de8cb2bc2bd49d34bf084',
    data2: '1701000000000000000221ce0f13e71db855ac62cae26a08be13e908a4efd3',
  },
  'aegis-128l': {
    session: '177fd102bdc2983bc30f5be779a7a24aa99eb769b88f8b757cd1050bf8c6a3a3',
    data0: '170000000000000000006ae2b8bc5ee761001ebf2c5e0da8f6622a10278c5a',
    data2: '170100000000000000022ff942903f655cf71a94ffc4093d382c411fa2c509',
  },
  'xsalsa20-poly1305': {
    session: '21246a561aa5ed9387e9daffed33dfb6e71771cdc8dad3f98612d96de86c8eae',
    data0: '17000000000000000000206cfc8e763953d2790147133fcefa71e51e9672de',
    data2: '170100000000000000020b88f46844f3a9595010fdac28b9a1c5385c8df32d',
  },
};

describe('test vectors', () => {
  for (const c of ['chacha20-poly1305', 'aes-256-gcm', 'xsalsa20-poly1305', 'aegis-128l'] as C[]) {
    it.skipIf(c === 'aegis-128l' && nativeBinding()?.aegis !== true)(`${c}: our bytes equal an independent @noble derivation and the pinned hex`, () => {
      const ours = produceVectors(c);
      const flat = {
        hello: ours.hello, reply: ours.reply, auth: ours.auth,
        i2rKey: ours.ri.sendKey, i2rIv: ours.ri.sendIv, r2iKey: ours.ri.recvKey, r2iIv: ours.ri.recvIv,
        session: ours.ri.sessionId, ready: ours.ready, data0: ours.data0, rekey1: ours.rekey1, data2: ours.data2,
      };
      const noble = nobleVectors(c);
      for (const [k, v] of Object.entries(flat)) expect(toHex(v), k).toBe(toHex(noble[k as keyof typeof noble]));
      for (const [k, hex] of Object.entries(PINNED[c])) expect(toHex(flat[k as keyof typeof flat]), k).toBe(hex);
      // Both sides agree.
      expect(ours.rr.sendKey).toEqual(ours.ri.recvKey);
      expect(ours.rr.sessionId).toEqual(ours.ri.sessionId);
      // The receiver opens what the sender sealed, across the key update.
      const rx = new RecordReceiver(nodeCrypto, c, ours.rr.recvKey, ours.rr.recvIv);
      expect(new TextDecoder().decode(rx.open(ours.data0).payload)).toBe('hello');
      expect(rx.open(ours.rekey1).type).toBe(RecordType.rekey);
      expect(new TextDecoder().decode(rx.open(ours.data2).payload)).toBe('hello');
    });
  }

  it('the portable provider produces the same bytes as the node provider (xsalsa20-poly1305)', () => {
    const a = produceVectors('xsalsa20-poly1305', nodeCrypto);
    const b = produceVectors('xsalsa20-poly1305', portableCrypto);
    expect(toHex(b.hello)).toBe(toHex(a.hello));
    expect(toHex(b.reply)).toBe(toHex(a.reply));
    expect(toHex(b.auth)).toBe(toHex(a.auth));
    expect(toHex(b.data2)).toBe(toHex(a.data2));
  });
});
