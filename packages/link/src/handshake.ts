/**
 * The handshake: a pure core (no I/O, no timers). Message layouts and the key schedule are in
 * PROTOCOL.md §2–§4. Randomness enters only through the ephemeral key (injectable for vectors).
 *
 *   initiator                                   responder
 *   HELLO  {versions, ciphers, e_i}      --->
 *                                        <---   REPLY {version, cipher, e_r, seal_rhs(R, sig_R)}
 *   AUTH   {seal_ihs(I, sig_I)}          --->
 *                                        <---   READY (first record, see record.ts)
 */
import { concatBytes, utf8 } from './bytes.js';
import { CIPHER_IDS, cipherFromId, nonceLength, KEY_LENGTH, TAG_LENGTH, type CipherId, type CryptoProvider, type Ephemeral } from './crypto.js';
import { LinkError, WireError, isLinkError } from './errors.js';
import type { Identity } from './identity.js';

export const MSG_HELLO = 0x01;
export const MSG_REPLY = 0x02;
export const MSG_AUTH = 0x03;
export const MSG_ALERT = 0x04;
/** Largest handshake message accepted (bytes). */
export const MAX_HANDSHAKE_MESSAGE = 1024;
export const MAX_EXTENSIONS = 512;
export const MAX_CIPHERS = 16;
export const MAGIC = Uint8Array.of(0x41, 0x42, 0x49, 0x4c); // "ABIL"
/** Protocol versions this implementation speaks. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

const SEALED_AUTH = 32 + 64 + TAG_LENGTH;
const REPLY_HEADER = 37;
const AUTH_HEADER = 3;

const L_TRANSCRIPT = utf8('abi-link/1 transcript');
const L_RSIG = utf8('abi-link/1 responder signature');
const L_ISIG = utf8('abi-link/1 initiator signature');
const L_RHS = utf8('abi-link/1 responder handshake key');
const L_IHS = utf8('abi-link/1 initiator handshake key');
const L_I2R_KEY = utf8('abi-link/1 i2r key');
const L_I2R_IV = utf8('abi-link/1 i2r iv');
const L_R2I_KEY = utf8('abi-link/1 r2i key');
const L_R2I_IV = utf8('abi-link/1 r2i iv');
const L_SESSION = utf8('abi-link/1 session id');

export interface Hello {
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Offered cipher ids in preference order (unknown ids kept; they are simply never chosen). */
  readonly ciphers: readonly number[];
  readonly ephemeral: Uint8Array;
  readonly extensions: Uint8Array;
}

export interface Reply {
  readonly version: number;
  readonly cipher: number;
  readonly ephemeral: Uint8Array;
  readonly sealed: Uint8Array;
}

export interface Auth {
  readonly sealed: Uint8Array;
}

function malformed(field: string, offset: number, message: string): WireError {
  return new WireError('HANDSHAKE_MALFORMED', field, offset, message);
}

function checkSize(b: Uint8Array): void {
  if (b.length > MAX_HANDSHAKE_MESSAGE) throw new WireError('HANDSHAKE_TOO_LARGE', 'message', 0, `handshake message of ${b.length} bytes exceeds ${MAX_HANDSHAKE_MESSAGE}`);
  if (b.length === 0) throw malformed('type', 0, 'empty handshake message');
}

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

export function encodeHello(h: Hello): Uint8Array {
  const n = h.ciphers.length;
  const out = new Uint8Array(42 + n + h.extensions.length);
  out[0] = MSG_HELLO;
  out.set(MAGIC, 1);
  out[5] = h.minVersion;
  out[6] = h.maxVersion;
  out[7] = n;
  out.set(h.ciphers, 8);
  out.set(h.ephemeral, 8 + n);
  out[40 + n] = h.extensions.length >> 8;
  out[41 + n] = h.extensions.length & 0xff;
  out.set(h.extensions, 42 + n);
  return out;
}

/** Parses a HELLO; throws a WireError naming the field and offset on any defect. */
export function parseHello(b: Uint8Array): Hello {
  checkSize(b);
  if (b[0] !== MSG_HELLO) throw malformed('type', 0, `expected HELLO (0x01), got 0x${(b[0] ?? 0).toString(16)}`);
  if (b.length < 8) throw malformed('header', b.length, 'HELLO shorter than its fixed header');
  for (let i = 0; i < 4; i++) if (b[1 + i] !== MAGIC[i]) throw malformed('magic', 1 + i, 'bad magic (expected "ABIL")');
  const minVersion = b[5] ?? 0;
  const maxVersion = b[6] ?? 0;
  if (minVersion === 0 || maxVersion < minVersion) throw malformed('versions', 5, `bad version range ${minVersion}..${maxVersion}`);
  const n = b[7] ?? 0;
  if (n === 0 || n > MAX_CIPHERS) throw malformed('cipherCount', 7, `cipher count ${n} not in 1..${MAX_CIPHERS}`);
  if (b.length < 42 + n) throw malformed('ephemeral', b.length, 'HELLO truncated');
  const ciphers = Array.from(b.subarray(8, 8 + n));
  if (new Set(ciphers).size !== n) throw malformed('ciphers', 8, 'duplicate cipher id');
  const ephemeral = b.slice(8 + n, 40 + n);
  const extLen = u16(b, 40 + n);
  if (extLen > MAX_EXTENSIONS) throw malformed('extLength', 40 + n, `extensions of ${extLen} bytes exceed ${MAX_EXTENSIONS}`);
  if (b.length !== 42 + n + extLen) throw malformed('extensions', 42 + n, `length ${b.length} does not match the declared ${42 + n + extLen}`);
  return { minVersion, maxVersion, ciphers, ephemeral, extensions: b.slice(42 + n) };
}

export function encodeReply(header: Uint8Array, sealed: Uint8Array): Uint8Array {
  return concatBytes(header, sealed);
}

function replyHeader(version: number, cipher: number, ephemeral: Uint8Array, sealedLen: number): Uint8Array {
  const h = new Uint8Array(REPLY_HEADER);
  h[0] = MSG_REPLY;
  h[1] = version;
  h[2] = cipher;
  h.set(ephemeral, 3);
  h[35] = sealedLen >> 8;
  h[36] = sealedLen & 0xff;
  return h;
}

export function parseReply(b: Uint8Array): Reply {
  checkSize(b);
  if (b[0] !== MSG_REPLY) throw malformed('type', 0, `expected REPLY (0x02), got 0x${(b[0] ?? 0).toString(16)}`);
  if (b.length < REPLY_HEADER) throw malformed('header', b.length, 'REPLY shorter than its fixed header');
  const sealedLen = u16(b, 35);
  if (sealedLen !== SEALED_AUTH) throw malformed('sealedLength', 35, `sealed part must be ${SEALED_AUTH} bytes, got ${sealedLen}`);
  if (b.length !== REPLY_HEADER + sealedLen) throw malformed('sealed', REPLY_HEADER, `length ${b.length} does not match the declared ${REPLY_HEADER + sealedLen}`);
  return { version: b[1] ?? 0, cipher: b[2] ?? 0, ephemeral: b.slice(3, 35), sealed: b.slice(REPLY_HEADER) };
}

export function parseAuth(b: Uint8Array): Auth {
  checkSize(b);
  if (b[0] !== MSG_AUTH) throw malformed('type', 0, `expected AUTH (0x03), got 0x${(b[0] ?? 0).toString(16)}`);
  if (b.length < AUTH_HEADER) throw malformed('header', b.length, 'AUTH shorter than its fixed header');
  const sealedLen = u16(b, 1);
  if (sealedLen !== SEALED_AUTH) throw malformed('sealedLength', 1, `sealed part must be ${SEALED_AUTH} bytes, got ${sealedLen}`);
  if (b.length !== AUTH_HEADER + sealedLen) throw malformed('sealed', AUTH_HEADER, `length ${b.length} does not match the declared ${AUTH_HEADER + sealedLen}`);
  return { sealed: b.slice(AUTH_HEADER) };
}

export function encodeAlert(alert: number): Uint8Array {
  return Uint8Array.of(MSG_ALERT, alert & 0xff);
}

/** Returns the alert code if `b` is an ALERT message, otherwise undefined. */
export function parseAlert(b: Uint8Array): number | undefined {
  if (b[0] !== MSG_ALERT) return undefined;
  if (b.length !== 2) throw malformed('alert', b.length, 'ALERT must be 2 bytes');
  return b[1] ?? 0;
}

/** Keys and facts agreed by a completed handshake. */
export interface HandshakeResult {
  readonly version: number;
  readonly cipher: CipherId;
  readonly peerPublicKey: Uint8Array;
  /** 32 bytes unique to this session, equal on both sides (channel binding). */
  readonly sessionId: Uint8Array;
  readonly sendKey: Uint8Array;
  readonly sendIv: Uint8Array;
  readonly recvKey: Uint8Array;
  readonly recvIv: Uint8Array;
  /** SHA-512 of the whole transcript. */
  readonly transcriptHash: Uint8Array;
}

export interface HandshakeOptions {
  readonly identity: Identity;
  readonly provider: CryptoProvider;
  /** Ciphers allowed, in preference order (the initiator offers them in this order). */
  readonly ciphers: readonly CipherId[];
  readonly minVersion?: number;
  readonly maxVersion?: number;
  /** Decides whether the authenticated peer key is acceptable (pinning, allowlist). */
  readonly authorize?: (peerPublicKey: Uint8Array) => boolean;
  /** Fixed ephemeral X25519 private key (test vectors only). */
  readonly ephemeralPrivateKey?: Uint8Array;
  /** Opaque extension bytes for the HELLO (initiator). */
  readonly extensions?: Uint8Array;
}

function transcript(p: CryptoProvider, ...parts: Uint8Array[]): Uint8Array {
  return p.sha512(concatBytes(L_TRANSCRIPT, ...parts));
}

function agree(e: Ephemeral, peer: Uint8Array): Uint8Array {
  try {
    return e.agree(peer);
  } catch (err) {
    if (isLinkError(err)) throw new WireError('HANDSHAKE_MALFORMED', 'ephemeral', 0, err.message);
    throw err;
  }
}

function trafficKeys(p: CryptoProvider, dh: Uint8Array, th: Uint8Array, cipher: CipherId, initiator: boolean, version: number, peer: Uint8Array): HandshakeResult {
  const nl = nonceLength(cipher);
  const k = p.hkdfExtract(dh, th);
  const i2rKey = k(L_I2R_KEY, KEY_LENGTH);
  const i2rIv = k(L_I2R_IV, nl);
  const r2iKey = k(L_R2I_KEY, KEY_LENGTH);
  const r2iIv = k(L_R2I_IV, nl);
  return {
    version,
    cipher,
    peerPublicKey: peer,
    sessionId: k(L_SESSION, 32),
    sendKey: initiator ? i2rKey : r2iKey,
    sendIv: initiator ? i2rIv : r2iIv,
    recvKey: initiator ? r2iKey : i2rKey,
    recvIv: initiator ? r2iIv : i2rIv,
    transcriptHash: th,
  };
}

/** The AEAD that seals handshake identities: the negotiated cipher, or XSalsa20-Poly1305 when records use 'none'. */
function hsCipher(c: CipherId): CipherId {
  return c === 'none' ? 'xsalsa20-poly1305' : c;
}

function openIdentity(p: CryptoProvider, cipher: CipherId, key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, label: Uint8Array, th: Uint8Array): Uint8Array {
  const c = hsCipher(cipher);
  const pt = p.aead(c, key).open(new Uint8Array(nonceLength(c)), aad, sealed);
  if (pt?.length !== 96) throw new LinkError('TRANSCRIPT_MISMATCH', 'sealed handshake part failed to open: transcript or key differs between the peers (tampering or a key substituted in the middle)');
  const pub = pt.slice(0, 32);
  const sig = pt.subarray(32, 96);
  if (!p.verify(pub, concatBytes(label, th), sig)) throw new LinkError('BAD_SIGNATURE', 'handshake signature does not verify for the claimed identity');
  return pub;
}

function sealIdentity(o: HandshakeOptions, cipher: CipherId, key: Uint8Array, aad: Uint8Array, label: Uint8Array, th: Uint8Array): Uint8Array {
  const sig = o.identity.sign(concatBytes(label, th));
  const c = hsCipher(cipher);
  return o.provider.aead(c, key).seal(new Uint8Array(nonceLength(c)), aad, concatBytes(o.identity.publicKey, sig));
}

function checkAuthorized(o: HandshakeOptions, pub: Uint8Array): void {
  if (o.authorize !== undefined && !o.authorize(pub)) throw new LinkError('PEER_NOT_ALLOWED', 'peer identity is not pinned / not on the allowlist');
}

/** Initiator side: `hello()` then `onReply(reply)` → AUTH message + result. */
export class InitiatorHandshake {
  readonly #o: HandshakeOptions;
  readonly #e: Ephemeral;
  #hello: Uint8Array | undefined;

  constructor(options: HandshakeOptions) {
    this.#o = options;
    this.#e = options.provider.ephemeral(options.ephemeralPrivateKey);
  }

  hello(): Uint8Array {
    const o = this.#o;
    this.#hello ??= encodeHello({
      minVersion: o.minVersion ?? 1,
      maxVersion: o.maxVersion ?? 1,
      ciphers: o.ciphers.map((c) => CIPHER_IDS[c]),
      ephemeral: this.#e.publicKey,
      extensions: o.extensions ?? new Uint8Array(0),
    });
    return this.#hello;
  }

  onReply(bytes: Uint8Array): { auth: Uint8Array; result: HandshakeResult } {
    const o = this.#o;
    const p = o.provider;
    const hello = this.hello();
    const r = parseReply(bytes);
    if (r.version < (o.minVersion ?? 1) || r.version > (o.maxVersion ?? 1) || !SUPPORTED_VERSIONS.includes(r.version)) {
      throw new LinkError('VERSION_MISMATCH', `responder chose version ${r.version}, which was not offered`);
    }
    const cipher = cipherFromId(r.cipher);
    if (cipher === undefined || !o.ciphers.includes(cipher)) throw new LinkError('NO_COMMON_CIPHER', `responder chose cipher id ${r.cipher}, which was not offered`);
    const dh = agree(this.#e, r.ephemeral);
    const header = bytes.subarray(0, REPLY_HEADER);
    const th1 = transcript(p, hello, header);
    const hs = p.hkdfExtract(dh, th1);
    const peer = openIdentity(p, cipher, hs(L_RHS, KEY_LENGTH), header, r.sealed, L_RSIG, th1);
    checkAuthorized(o, peer);
    const th2 = transcript(p, hello, bytes);
    const ihs = hs(L_IHS, KEY_LENGTH);
    const authHeader = Uint8Array.of(MSG_AUTH, SEALED_AUTH >> 8, SEALED_AUTH & 0xff);
    const auth = concatBytes(authHeader, sealIdentity(o, cipher, ihs, authHeader, L_ISIG, th2));
    const th3 = transcript(p, hello, bytes, auth);
    return { auth, result: trafficKeys(p, dh, th3, cipher, true, r.version, peer) };
  }
}

/** Responder side: `onHello(hello)` → REPLY, then `onAuth(auth)` → result. */
export class ResponderHandshake {
  readonly #o: HandshakeOptions;
  #state: { hello: Uint8Array; reply: Uint8Array; dh: Uint8Array; hs: (info: Uint8Array, n: number) => Uint8Array; cipher: CipherId; version: number } | undefined;

  constructor(options: HandshakeOptions) {
    this.#o = options;
  }

  onHello(bytes: Uint8Array): Uint8Array {
    const o = this.#o;
    const p = o.provider;
    if (this.#state !== undefined) throw new LinkError('HANDSHAKE_UNEXPECTED', 'second HELLO');
    const h = parseHello(bytes);
    const lo = Math.max(h.minVersion, o.minVersion ?? 1);
    const hi = Math.min(h.maxVersion, o.maxVersion ?? 1);
    let version = 0;
    for (const v of SUPPORTED_VERSIONS) if (v >= lo && v <= hi && v > version) version = v;
    if (version === 0) throw new LinkError('VERSION_MISMATCH', `no common version: peer offers ${h.minVersion}..${h.maxVersion}, we speak ${SUPPORTED_VERSIONS.join(',')}`);
    let cipher: CipherId | undefined;
    for (const id of h.ciphers) {
      const c = cipherFromId(id);
      if (c !== undefined && o.ciphers.includes(c)) {
        cipher = c;
        break;
      }
    }
    if (cipher === undefined) throw new LinkError('NO_COMMON_CIPHER', `no common cipher: peer offers ids ${h.ciphers.join(',')}, we allow ${o.ciphers.join(',')}`);
    const e = p.ephemeral(o.ephemeralPrivateKey);
    const dh = agree(e, h.ephemeral);
    const header = replyHeader(version, CIPHER_IDS[cipher], e.publicKey, SEALED_AUTH);
    const th1 = transcript(p, bytes, header);
    const hs = p.hkdfExtract(dh, th1);
    const reply = concatBytes(header, sealIdentity(o, cipher, hs(L_RHS, KEY_LENGTH), header, L_RSIG, th1));
    this.#state = { hello: Uint8Array.from(bytes), reply, dh, hs, cipher, version };
    return reply;
  }

  onAuth(bytes: Uint8Array): HandshakeResult {
    const s = this.#state;
    if (s === undefined) throw new LinkError('HANDSHAKE_UNEXPECTED', 'AUTH before HELLO');
    const p = this.#o.provider;
    const a = parseAuth(bytes);
    const th2 = transcript(p, s.hello, s.reply);
    const ihs = s.hs(L_IHS, KEY_LENGTH);
    const peer = openIdentity(p, s.cipher, ihs, bytes.subarray(0, AUTH_HEADER), a.sealed, L_ISIG, th2);
    checkAuthorized(this.#o, peer);
    const th3 = transcript(p, s.hello, s.reply, bytes);
    return trafficKeys(p, s.dh, th3, s.cipher, false, s.version, peer);
  }
}
