/**
 * A deliberately plain AEGIS-128L (RFC 10032) in JavaScript, written from the RFC for the tests
 * only: the native implementation is checked against it, and it is checked against the RFC's
 * test vectors and against libsodium. Slow (byte-wise AES round) and not constant time.
 */

// AES S-box, computed: multiplicative inverse in GF(2^8) followed by the affine map (FIPS-197 §5.1.1).
const SBOX = (() => {
  const mul = (a: number, b: number): number => {
    let r = 0;
    for (; b > 0; b >>= 1, a = ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff) if (b & 1) r ^= a;
    return r;
  };
  const s = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    let inv = 0;
    for (let y = 1; y < 256 && x !== 0; y++) if (mul(x, y) === 1) { inv = y; break; }
    let v = inv;
    for (let i = 1; i <= 4; i++) v ^= ((inv << i) | (inv >> (8 - i))) & 0xff;
    s[x] = v ^ 0x63;
  }
  return s;
})();

const xt = (a: number): number => ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff;

/** AESRound(in, rk) = MixColumns(ShiftRows(SubBytes(in))) ⊕ rk; bytes column-major as in FIPS-197. */
export function aesRound(input: Uint8Array, rk: Uint8Array): Uint8Array {
  const t = new Uint8Array(16);
  for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) t[r + 4 * c] = SBOX[input[r + 4 * ((c + r) % 4)]!]!;
  const out = new Uint8Array(16);
  for (let c = 0; c < 4; c++) {
    const [a0, a1, a2, a3] = [t[4 * c]!, t[4 * c + 1]!, t[4 * c + 2]!, t[4 * c + 3]!];
    out[4 * c] = xt(a0) ^ (xt(a1) ^ a1) ^ a2 ^ a3;
    out[4 * c + 1] = a0 ^ xt(a1) ^ (xt(a2) ^ a2) ^ a3;
    out[4 * c + 2] = a0 ^ a1 ^ xt(a2) ^ (xt(a3) ^ a3);
    out[4 * c + 3] = (xt(a0) ^ a0) ^ a1 ^ a2 ^ xt(a3);
  }
  for (let i = 0; i < 16; i++) out[i]! ^= rk[i]!;
  return out;
}

const xor = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((x, i) => x ^ b[i]!);
const and = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((x, i) => x & b[i]!);
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const C0 = hex('000101020305080d1522375990e97962');
const C1 = hex('db3d18556dc22ff12011314273b528dd');

function update(S: Uint8Array[], m0: Uint8Array, m1: Uint8Array): void {
  const n = [
    aesRound(S[7]!, xor(S[0]!, m0)), aesRound(S[0]!, S[1]!), aesRound(S[1]!, S[2]!), aesRound(S[2]!, S[3]!),
    aesRound(S[3]!, xor(S[4]!, m1)), aesRound(S[4]!, S[5]!), aesRound(S[5]!, S[6]!), aesRound(S[6]!, S[7]!),
  ];
  for (let i = 0; i < 8; i++) S[i] = n[i]!;
}

const z = (S: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(32);
  out.set(xor(xor(S[6]!, S[1]!), and(S[2]!, S[3]!)), 0);
  out.set(xor(xor(S[2]!, S[5]!), and(S[6]!, S[7]!)), 16);
  return out;
};

function pad32(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(b.length / 32) * 32);
  out.set(b);
  return out;
}

/** Returns ciphertext, the 128-bit tag and the 256-bit tag (libsodium's default). */
export function aegis128lEncrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, msg: Uint8Array): { ct: Uint8Array; tag128: Uint8Array; tag256: Uint8Array } {
  const S = [xor(key, nonce), C1, C0, C1, xor(key, nonce), xor(key, C0), xor(key, C1), xor(key, C0)];
  for (let i = 0; i < 10; i++) update(S, nonce, key);
  const a = pad32(ad);
  for (let i = 0; i < a.length; i += 32) update(S, a.subarray(i, i + 16), a.subarray(i + 16, i + 32));
  const m = pad32(msg);
  const ct = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i += 32) {
    ct.set(xor(m.subarray(i, i + 32), z(S)), i);
    update(S, m.subarray(i, i + 16), m.subarray(i + 16, i + 32));
  }
  const lens = new Uint8Array(16);
  const dv = new DataView(lens.buffer);
  dv.setBigUint64(0, BigInt(ad.length) * 8n, true);
  dv.setBigUint64(8, BigInt(msg.length) * 8n, true);
  const t = xor(S[2]!, lens);
  for (let i = 0; i < 7; i++) update(S, t, t);
  const tag128 = S.slice(0, 7).reduce((acc, x) => xor(acc, x));
  const tag256 = new Uint8Array(32);
  tag256.set(xor(xor(S[0]!, S[1]!), xor(S[2]!, S[3]!)), 0);
  tag256.set(xor(xor(S[4]!, S[5]!), xor(S[6]!, S[7]!)), 16);
  return { ct: ct.subarray(0, msg.length), tag128, tag256 };
}
