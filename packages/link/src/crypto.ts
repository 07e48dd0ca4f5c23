/**
 * Crypto providers. The protocol needs Ed25519, X25519, SHA-512, HKDF-SHA-512 and an AEAD.
 *
 * - {@link nodeCrypto} (the default) uses `node:crypto` (OpenSSL): Ed25519 ~35k sign/s, AES-256-GCM
 *   and ChaCha20-Poly1305 at 1.8–2.4 GB/s (3+ GB/s on the native addon); AEGIS-128L at ~11 GB/s
 *   when the native addon is built and the CPU has AES-NI; XSalsa20-Poly1305 comes from tweetnacl.
 *   Ed25519 verification runs on libsodium (optional dependency sodium-native, ~2× OpenSSL's
 *   speed) when it loads, see ed25519.ts.
 *
 * Every provider verifies Ed25519 under one rule (PROTOCOL.md §6.1, libsodium's): S < L, A
 * canonical and not of small order, R not a small-order encoding — so all give the same verdict.
 * - {@link portableCrypto} is pure JavaScript (tweetnacl): it runs anywhere, ~100× slower for
 *   signatures and offers only XSalsa20-Poly1305.
 *
 * Both produce identical bytes for what they share (Ed25519 signatures are deterministic, X25519,
 * SHA-512, HKDF, XSalsa20-Poly1305), which the tests check against @noble and libsodium.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSecretKey,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes as nodeRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { concatBytes } from './bytes.js';
import { acceptablePoints, sodiumEd25519 } from './ed25519.js';
import { LinkError } from './errors.js';
import { nativeAead, nativeBinding, type NativeAeadBinding } from './native.js';

/** AEAD ciphers the record layer can negotiate (wire ids in PROTOCOL.md §3). */
export type CipherId = 'aegis-128l' | 'aes-256-gcm' | 'chacha20-poly1305' | 'xsalsa20-poly1305' | 'none';

/** One-byte wire ids of the ciphers. */
export const CIPHER_IDS: Readonly<Record<CipherId, number>> = {
  /** No encryption, no tag: only for same-host links the operator allowed (see LocalPolicy). */
  none: 0,
  'chacha20-poly1305': 1,
  'aes-256-gcm': 2,
  'xsalsa20-poly1305': 3,
  /** RFC 10032 with a 128-bit tag; keyed with the first 16 bytes of the 32-byte key. Native only. */
  'aegis-128l': 4,
};

export function cipherFromId(id: number): CipherId | undefined {
  for (const [k, v] of Object.entries(CIPHER_IDS)) if (v === id) return k as CipherId;
  return undefined;
}

/** Nonce length in bytes of each cipher. */
export function nonceLength(cipher: CipherId): number {
  if (cipher === 'xsalsa20-poly1305') return 24;
  return cipher === 'aegis-128l' ? 16 : 12;
}

export const TAG_LENGTH = 16;
export const KEY_LENGTH = 32;

/** A keyed AEAD. The sealed form is 16 bytes longer than the plaintext. */
export interface Aead {
  readonly cipher: CipherId;
  /** Bytes added by sealing (16; 0 for 'none'). */
  readonly tagLength: number;
  /**
   * Seals `plaintext`; the result has `headroom` unused bytes at the start (so a caller can write a
   * header there without another copy) followed by the sealed bytes. XSalsa20-Poly1305 has no
   * associated data: `aad` is ignored and must be bound through the nonce (the record layer does).
   */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, headroom?: number): Uint8Array;
  /** Like {@link seal} without headroom, but may return the sealed bytes in several pieces (no copy). */
  sealv(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Uint8Array[];
  /**
   * Opens sealed bytes given positionally as pieces ‖ the last 16 bytes (`tag`); returns plaintext
   * pieces, or undefined when authentication fails.
   */
  openv(nonce: Uint8Array, aad: Uint8Array, ciphertext: readonly Uint8Array[], tag: Uint8Array): Uint8Array[] | undefined;
  /** Opens sealed bytes; undefined when authentication fails. */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /**
   * Optional: seals into `out` (exactly plaintext length + {@link tagLength} bytes: ciphertext,
   * then tag) instead of allocating; for callers that recycle send buffers.
   */
  sealInto?(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[], out: Uint8Array): void;
  /**
   * Optional: like {@link openv} but decrypts in place — the ciphertext pieces become the
   * plaintext. Returns true when authentic; on false the pieces hold bytes that must not be used.
   * For callers that own the record's memory (the record layer on a received frame).
   */
  openInPlace?(nonce: Uint8Array, aad: Uint8Array, ciphertext: readonly Uint8Array[], tag: Uint8Array): boolean;
}

/** An Ed25519 private key bound to its public key. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** An ephemeral X25519 key pair whose private half stays inside the provider. */
export interface Ephemeral {
  readonly publicKey: Uint8Array;
  /** X25519(private, peer); throws BAD_KEY for a low-order peer key (all-zero output). */
  agree(peerPublicKey: Uint8Array): Uint8Array;
}

export interface CryptoProvider {
  readonly name: string;
  /** Ciphers this provider implements, fastest first (the default offer order). */
  readonly ciphers: readonly CipherId[];
  signer(seed: Uint8Array): Signer;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /**
   * Optional: the same check off the event loop (libsodium on worker threads, or OpenSSL on
   * libuv's thread pool), so several verifications proceed in parallel on several cores. Same
   * result as {@link verify}.
   */
  verifyAsync?(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
  /** A fresh X25519 key pair, or the one for a fixed private key (test vectors). */
  ephemeral(privateKey?: Uint8Array): Ephemeral;
  aead(cipher: CipherId, key: Uint8Array): Aead;
  sha512(data: Uint8Array): Uint8Array;
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /**
   * HKDF-Extract once, then any number of HKDF-Expand calls: `hkdfExtract(ikm, salt)(info, n)`
   * equals `hkdf(ikm, salt, info, n)`, cheaper when one secret feeds several labels.
   */
  hkdfExtract(ikm: Uint8Array, salt: Uint8Array): (info: Uint8Array, length: number) => Uint8Array;
  randomBytes(n: number): Uint8Array;
}

function checkLen(what: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new LinkError('BAD_KEY', `${what} must be ${n} bytes`);
}

function checkShared(s: Uint8Array): Uint8Array {
  let d = 0;
  for (const x of s) d |= x;
  if (d === 0) throw new LinkError('BAD_KEY', 'X25519 produced an all-zero shared secret (low-order public key)');
  return s;
}

// ---------------------------------------------------------------------------------------------
// Shared pure-JS pieces (tweetnacl): XSalsa20-Poly1305, SHA-512, HMAC/HKDF-SHA-512.

/** The 'none' cipher: plaintext records (same-host links only; the handshake still authenticates). */
class NullAead implements Aead {
  readonly cipher = 'none' as const;
  readonly tagLength = 0;
  seal(_n: Uint8Array, _a: Uint8Array, plaintext: Uint8Array, headroom = 0): Uint8Array {
    const out = new Uint8Array(headroom + plaintext.length);
    out.set(plaintext, headroom);
    return out;
  }
  sealv(_n: Uint8Array, _a: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    return plaintext instanceof Uint8Array ? [plaintext] : [...plaintext];
  }
  open(_n: Uint8Array, _a: Uint8Array, sealed: Uint8Array): Uint8Array {
    return sealed;
  }
  openv(_n: Uint8Array, _a: Uint8Array, ciphertext: readonly Uint8Array[]): Uint8Array[] {
    return [...ciphertext];
  }
}

class SecretboxAead implements Aead {
  readonly cipher = 'xsalsa20-poly1305' as const;
  readonly tagLength = TAG_LENGTH;
  readonly #key: Uint8Array;
  constructor(key: Uint8Array) {
    this.#key = Uint8Array.from(key);
  }
  seal(nonce: Uint8Array, _aad: Uint8Array, plaintext: Uint8Array, headroom = 0): Uint8Array {
    const boxed = nacl.secretbox(plaintext, nonce, this.#key);
    if (headroom === 0) return boxed;
    const out = new Uint8Array(headroom + boxed.length);
    out.set(boxed, headroom);
    return out;
  }
  sealv(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    return [this.seal(nonce, aad, plaintext instanceof Uint8Array ? plaintext : concatBytes(...plaintext))];
  }
  open(nonce: Uint8Array, _aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    return nacl.secretbox.open(sealed, nonce, this.#key) ?? undefined;
  }
  openv(nonce: Uint8Array, aad: Uint8Array, ciphertext: readonly Uint8Array[], tag: Uint8Array): Uint8Array[] | undefined {
    // positional: the sealed bytes are ciphertext-pieces ‖ tag (for secretbox that is tag ‖ ciphertext overall)
    const pt = this.open(nonce, aad, concatBytes(...ciphertext, tag));
    return pt === undefined ? undefined : [pt];
  }
}

function hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
  const block = 128;
  let k = key.length > block ? nacl.hash(key) : key;
  const padded = new Uint8Array(block);
  padded.set(k);
  k = padded;
  const ipad = new Uint8Array(block);
  const opad = new Uint8Array(block);
  for (let i = 0; i < block; i++) {
    ipad[i] = (k[i] ?? 0) ^ 0x36;
    opad[i] = (k[i] ?? 0) ^ 0x5c;
  }
  return nacl.hash(concatBytes(opad, nacl.hash(concatBytes(ipad, data))));
}

/** RFC 5869 HKDF-Expand over any HMAC-SHA-512. */
function hkdfExpand(hmac: (data: Uint8Array) => Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 255 * 64) throw new LinkError('INVALID_ARGUMENT', 'hkdf length too large');
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  let o = 0;
  for (let i = 1; o < length; i++) {
    t = hmac(concatBytes(t, info, Uint8Array.of(i)));
    out.set(t.subarray(0, Math.min(t.length, length - o)), o);
    o += t.length;
  }
  return out;
}

/** RFC 5869 HKDF-Extract with SHA-512, pure JS; returns the expander. */
function hkdfExtractSha512(ikm: Uint8Array, salt: Uint8Array): (info: Uint8Array, length: number) => Uint8Array {
  const prk = hmacSha512(salt.length > 0 ? salt : new Uint8Array(64), ikm);
  return (info, length) => hkdfExpand((d) => hmacSha512(prk, d), info, length);
}

/** RFC 5869 HKDF with SHA-512, pure JS. */
function hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdfExtractSha512(ikm, salt)(info, length);
}

// ---------------------------------------------------------------------------------------------
// Portable provider: tweetnacl only.

class NaclEphemeral implements Ephemeral {
  readonly publicKey: Uint8Array;
  readonly #priv: Uint8Array;
  constructor(priv: Uint8Array) {
    this.#priv = priv;
    this.publicKey = nacl.scalarMult.base(priv);
  }
  agree(peer: Uint8Array): Uint8Array {
    checkLen('X25519 public key', peer, 32);
    return checkShared(nacl.scalarMult(this.#priv, peer));
  }
}

/** Pure-JavaScript provider (tweetnacl). Offers only XSalsa20-Poly1305. */
export const portableCrypto: CryptoProvider = Object.freeze({
  name: 'portable',
  ciphers: ['xsalsa20-poly1305'] as const,
  signer(seed: Uint8Array): Signer {
    checkLen('Ed25519 seed', seed, 32);
    const kp = nacl.sign.keyPair.fromSeed(seed);
    return { publicKey: kp.publicKey, sign: (m) => nacl.sign.detached(m, kp.secretKey) };
  },
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    // the acceptance rule of PROTOCOL.md §6.1: tweetnacl checks only the equation
    if (!acceptablePoints(publicKey, signature)) return false;
    return nacl.sign.detached.verify(message, signature, publicKey);
  },
  ephemeral(privateKey?: Uint8Array): Ephemeral {
    if (privateKey !== undefined) checkLen('X25519 private key', privateKey, 32);
    return new NaclEphemeral(privateKey ?? nacl.randomBytes(32));
  },
  aead(cipher: CipherId, key: Uint8Array): Aead {
    checkLen('AEAD key', key, KEY_LENGTH);
    if (cipher === 'none') return new NullAead();
    if (cipher !== 'xsalsa20-poly1305') throw new LinkError('UNSUPPORTED_CIPHER', `portable provider has no ${cipher}`);
    return new SecretboxAead(key);
  },
  sha512: (d: Uint8Array) => nacl.hash(d),
  hkdf: hkdfSha512,
  hkdfExtract: hkdfExtractSha512,
  randomBytes: (n: number) => nacl.randomBytes(n),
});

// ---------------------------------------------------------------------------------------------
// Node provider: OpenSSL through node:crypto.

const ED_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

// JWK import/export of OKP keys maps to OpenSSL's raw-key calls and is ~10x cheaper than DER
// (measured here: X25519 public import 6 µs vs 85 µs, export 5 µs vs 70 µs).
function rawPublic(k: KeyObject): Uint8Array {
  const x = k.export({ format: 'jwk' }).x;
  if (x === undefined) throw new LinkError('BAD_KEY', 'key has no public part');
  return new Uint8Array(Buffer.from(x, 'base64url'));
}

function okpPublic(crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' });
}

const verifyKeys = new Map<string, KeyObject>();
const VERIFY_KEY_CACHE = 1024;

function edPublicKeyObject(pub: Uint8Array): KeyObject {
  const hex = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('latin1');
  let k = verifyKeys.get(hex);
  if (k === undefined) {
    k = okpPublic('Ed25519', pub);
    if (verifyKeys.size >= VERIFY_KEY_CACHE) {
      const first = verifyKeys.keys().next();
      if (first.done !== true) verifyKeys.delete(first.value);
    }
    verifyKeys.set(hex, k);
  }
  return k;
}

class NodeEphemeral implements Ephemeral {
  readonly publicKey: Uint8Array;
  readonly #priv: KeyObject;
  constructor(privateKey?: Uint8Array) {
    if (privateKey === undefined) {
      const kp = generateKeyPairSync('x25519');
      this.#priv = kp.privateKey;
      this.publicKey = rawPublic(kp.publicKey);
    } else {
      this.#priv = createPrivateKey({ key: Buffer.concat([X_PKCS8, privateKey]), format: 'der', type: 'pkcs8' });
      this.publicKey = rawPublic(createPublicKey(this.#priv));
    }
  }
  agree(peer: Uint8Array): Uint8Array {
    checkLen('X25519 public key', peer, 32);
    let pub: KeyObject;
    try {
      pub = okpPublic('X25519', peer);
    } catch (e) {
      throw new LinkError('BAD_KEY', 'invalid X25519 public key', { cause: e });
    }
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: this.#priv, publicKey: pub });
    } catch (e) {
      // OpenSSL refuses low-order points outright.
      throw new LinkError('BAD_KEY', 'X25519 failed (low-order public key)', { cause: e });
    }
    return checkShared(new Uint8Array(shared.buffer, shared.byteOffset, shared.byteLength));
  }
}

type NativeCipher = 'aes-256-gcm' | 'chacha20-poly1305' | 'aegis-128l';
const NATIVE_IDS = { 'aes-256-gcm': 0, 'chacha20-poly1305': 1, 'aegis-128l': 2 } as const;

/**
 * AES-256-GCM / ChaCha20-Poly1305 / AEGIS-128L on the native addon (see native.ts): one context
 * per direction for the life of the key, no allocation on open (in place) and one on seal.
 */
export class NativeAead implements Aead {
  readonly cipher: NativeCipher;
  readonly tagLength = TAG_LENGTH;
  readonly #n: NativeAeadBinding;
  readonly #seal: object;
  readonly #open: object;
  constructor(n: NativeAeadBinding, cipher: NativeCipher, key: Uint8Array) {
    this.#n = n;
    this.cipher = cipher;
    const id = NATIVE_IDS[cipher];
    this.#seal = n.create(id, key, true);
    this.#open = n.create(id, key, false);
  }
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, headroom = 0): Uint8Array {
    // allocUnsafeSlow: a 64 KiB record would not come from the small-buffer pool anyway, and the
    // whole output is written (headroom by the caller, the rest here)
    const out = new Uint8Array(Buffer.allocUnsafeSlow(headroom + plaintext.length + TAG_LENGTH).buffer);
    const n = this.#n;
    n.start(this.#seal, nonce, aad);
    n.update(this.#seal, plaintext, out.subarray(headroom, headroom + plaintext.length));
    n.finish(this.#seal, out.subarray(headroom + plaintext.length));
    return out;
  }
  sealv(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    let len = 0;
    if (plaintext instanceof Uint8Array) len = plaintext.length;
    else for (const p of plaintext) len += p.length;
    const out = new Uint8Array(Buffer.allocUnsafeSlow(len + TAG_LENGTH).buffer);
    this.sealInto(nonce, aad, plaintext, out);
    return [out.subarray(0, len), out.subarray(len)];
  }
  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[], out: Uint8Array): void {
    const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
    let len = 0;
    for (const p of parts) len += p.length;
    if (out.length !== len + TAG_LENGTH) throw new LinkError('INVALID_ARGUMENT', `sealInto needs ${len + TAG_LENGTH} bytes of output, got ${out.length}`);
    this.#n.finish(this.#crypt(this.#seal, nonce, aad, parts, out), out.subarray(len));
  }
  openv(nonce: Uint8Array, aad: Uint8Array, ciphertext: readonly Uint8Array[], tag: Uint8Array): Uint8Array[] | undefined {
    let len = 0;
    for (const c of ciphertext) len += c.length;
    const out = new Uint8Array(len);
    return this.#n.finish(this.#crypt(this.#open, nonce, aad, ciphertext, out), tag) ? [out] : undefined;
  }
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    if (sealed.length < TAG_LENGTH) return undefined;
    return this.openv(nonce, aad, [sealed.subarray(0, sealed.length - TAG_LENGTH)], sealed.subarray(sealed.length - TAG_LENGTH))?.[0];
  }
  /**
   * Starts `h` and runs the pieces through it: into consecutive ranges of `out`, or in place when
   * `out` is omitted. Returns `h` for the caller's finish (which writes or checks the tag).
   */
  #crypt(h: object, nonce: Uint8Array, aad: Uint8Array, pieces: readonly Uint8Array[], out?: Uint8Array): object {
    const n = this.#n;
    n.start(h, nonce, aad);
    let o = 0;
    for (const p of pieces) {
      n.update(h, p, out === undefined ? p : out.subarray(o, o + p.length));
      o += p.length;
    }
    return h;
  }
  openInPlace(nonce: Uint8Array, aad: Uint8Array, ciphertext: readonly Uint8Array[], tag: Uint8Array): boolean {
    if (this.#n.finish(this.#crypt(this.#open, nonce, aad, ciphertext), tag)) return true;
    // Never leave unverified plaintext behind: for AEGIS, released unverified plaintext helps
    // recover the state (RFC 10032, security considerations); the caller drops the record anyway.
    for (const c of ciphertext) c.fill(0);
    return false;
  }
}

/** AES-256-GCM / ChaCha20-Poly1305 on node:crypto: the fallback when the addon is not built. */
export class NodeAead implements Aead {
  readonly cipher: 'aes-256-gcm' | 'chacha20-poly1305';
  readonly tagLength = TAG_LENGTH;
  // A KeyObject imported once: createCipheriv with a Buffer key re-imports the key per record.
  // (node:crypto cannot re-IV a GCM/ChaCha cipher object, so one cipher object per record remains.)
  readonly #key: KeyObject;
  constructor(cipher: 'aes-256-gcm' | 'chacha20-poly1305', key: Uint8Array) {
    this.cipher = cipher;
    this.#key = createSecretKey(Buffer.from(key));
  }
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, headroom = 0): Uint8Array {
    const c = createCipheriv(this.cipher as 'chacha20-poly1305', this.#key, nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const out = Buffer.allocUnsafe(headroom + plaintext.length + TAG_LENGTH);
    const ct = c.update(plaintext);
    ct.copy(out, headroom);
    const fin = c.final();
    if (fin.length > 0) fin.copy(out, headroom + ct.length);
    c.getAuthTag().copy(out, headroom + plaintext.length);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  sealv(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
    let n = 0;
    for (const p of parts) n += p.length;
    const c = createCipheriv(this.cipher as 'chacha20-poly1305', this.#key, nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(aad, { plaintextLength: n });
    const out: Uint8Array[] = [];
    for (const p of parts) if (p.length > 0) out.push(c.update(p));
    const fin = c.final();
    if (fin.length > 0) out.push(fin);
    out.push(c.getAuthTag());
    return out;
  }
  openv(nonce: Uint8Array, aad: Uint8Array, ciphertext: readonly Uint8Array[], tag: Uint8Array): Uint8Array[] | undefined {
    let n = 0;
    for (const c of ciphertext) n += c.length;
    const d = createDecipheriv(this.cipher as 'chacha20-poly1305', this.#key, nonce, { authTagLength: TAG_LENGTH });
    d.setAuthTag(tag);
    d.setAAD(aad, { plaintextLength: n });
    const out: Uint8Array[] = [];
    for (const c of ciphertext) {
      if (c.length === 0) continue;
      const pt = d.update(c);
      out.push(new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength));
    }
    try {
      d.final();
    } catch {
      return undefined;
    }
    return out;
  }
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    if (sealed.length < TAG_LENGTH) return undefined;
    const n = sealed.length - TAG_LENGTH;
    const d = createDecipheriv(this.cipher as 'chacha20-poly1305', this.#key, nonce, { authTagLength: TAG_LENGTH });
    d.setAuthTag(sealed.subarray(n));
    d.setAAD(aad, { plaintextLength: n });
    const pt = d.update(sealed.subarray(0, n));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength);
  }
}

const NODE_CIPHERS: readonly CipherId[] = Object.freeze(['aes-256-gcm', 'chacha20-poly1305', 'xsalsa20-poly1305']);
const NODE_CIPHERS_AEGIS: readonly CipherId[] = Object.freeze(['aegis-128l', ...NODE_CIPHERS]);

/**
 * The default provider: node:crypto (OpenSSL), plus tweetnacl for XSalsa20-Poly1305, plus
 * AEGIS-128L (offered first) where the native addon has it.
 */
export const nodeCrypto: CryptoProvider = Object.freeze({
  name: 'node',
  // a getter: the addon is loaded lazily, on first use rather than on import
  get ciphers(): readonly CipherId[] {
    return nativeBinding()?.aegis === true ? NODE_CIPHERS_AEGIS : NODE_CIPHERS;
  },
  signer(seed: Uint8Array): Signer {
    checkLen('Ed25519 seed', seed, 32);
    const priv = createPrivateKey({ key: Buffer.concat([ED_PKCS8, seed]), format: 'der', type: 'pkcs8' });
    const publicKey = rawPublic(createPublicKey(priv));
    return {
      publicKey,
      sign: (m) => {
        const s = nodeSign(null, m, priv);
        return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
      },
    };
  },
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    // the acceptance rule of PROTOCOL.md §6.1, then libsodium (sodium-native) or OpenSSL
    if (!acceptablePoints(publicKey, signature)) return false;
    const sodium = sodiumEd25519();
    if (sodium !== undefined) return sodium.verify(publicKey, message, signature);
    try {
      return nodeVerify(null, message, edPublicKeyObject(publicKey), signature);
    } catch {
      return false;
    }
  },
  verifyAsync(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (!acceptablePoints(publicKey, signature)) return Promise.resolve(false);
    // libsodium on worker threads, or OpenSSL on libuv's thread pool
    const sodium = sodiumEd25519();
    if (sodium !== undefined) return sodium.verifyAsync(publicKey, message, signature);
    let key: KeyObject;
    try {
      key = edPublicKeyObject(publicKey);
    } catch {
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      try {
        nodeVerify(null, message, key, signature, (err, ok) => { resolve(err === null && ok); });
      } catch {
        resolve(false);
      }
    });
  },
  ephemeral(privateKey?: Uint8Array): Ephemeral {
    if (privateKey !== undefined) checkLen('X25519 private key', privateKey, 32);
    return new NodeEphemeral(privateKey);
  },
  aead(cipher: CipherId, key: Uint8Array): Aead {
    checkLen('AEAD key', key, KEY_LENGTH);
    if (cipher === 'xsalsa20-poly1305') return new SecretboxAead(key);
    if (cipher === 'none') return new NullAead();
    if ((CIPHER_IDS as Record<string, number | undefined>)[cipher] === undefined) throw new LinkError('UNSUPPORTED_CIPHER', `unknown cipher ${cipher}`);
    const n = nativeBinding();
    if (cipher === 'aegis-128l') {
      if (n?.aegis !== true) throw new LinkError('UNSUPPORTED_CIPHER', `aegis-128l needs the native addon on a CPU with AES-NI and AVX (${nativeAead().reason ?? 'this CPU lacks them'})`);
      return new NativeAead(n, cipher, key);
    }
    return n !== undefined ? new NativeAead(n, cipher, key) : new NodeAead(cipher, key);
  },
  sha512(d: Uint8Array): Uint8Array {
    return new Uint8Array(createHash('sha512').update(d).digest());
  },
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    return new Uint8Array(hkdfSync('sha512', ikm, salt, info, length));
  },
  hkdfExtract(ikm: Uint8Array, salt: Uint8Array): (info: Uint8Array, length: number) => Uint8Array {
    // one extract, then cheap HMAC expands (7 hkdfSync calls cost ~3x more than this, measured)
    const prk = createSecretKey(createHmac('sha512', salt.length > 0 ? salt : new Uint8Array(64)).update(ikm).digest());
    return (info, length) => hkdfExpand((d) => new Uint8Array(createHmac('sha512', prk).update(d).digest()), info, length);
  },
  randomBytes(n: number): Uint8Array {
    return new Uint8Array(nodeRandomBytes(n));
  },
});
