import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeCrypto, type CipherId } from './crypto.js';
import { RECORD_HEADER, RecordReceiver, RecordSender, RecordType, recordNonce } from './record.js';

const ciphers: CipherId[] = ['aes-256-gcm', 'chacha20-poly1305', 'xsalsa20-poly1305', 'none'];

describe('record layer', () => {
  it('opens a record delivered in arbitrary pieces exactly like the contiguous record', () => {
    for (const c of ciphers) {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 5 }), (pt, cuts) => {
        const key = new Uint8Array(32).fill(1);
        const iv = new Uint8Array(c === 'xsalsa20-poly1305' ? 24 : 12).fill(2);
        const tx = new RecordSender(nodeCrypto, c, key, iv, 0);
        const rec = tx.seal(RecordType.data, pt);
        const points = [...new Set(cuts.map((x) => x % (rec.length + 1)))].sort((a, b) => a - b);
        const pieces: Uint8Array[] = [];
        let last = 0;
        for (const p of [...points, rec.length]) {
          pieces.push(rec.subarray(last, p));
          last = p;
        }
        const rx = new RecordReceiver(nodeCrypto, c, key, iv);
        const got = rx.open(pieces);
        expect(got.payload).toEqual(pt);
        // and sealv pieces reassemble to the same bytes as seal
        const tx2 = new RecordSender(nodeCrypto, c, key, iv, 0);
        const parts = tx2.sealv(RecordType.data, [pt.subarray(0, pt.length >> 1), pt.subarray(pt.length >> 1)]);
        expect(Buffer.concat(parts)).toEqual(Buffer.from(rec));
        if (c !== 'none') {
          const bad = pieces.map((p) => Uint8Array.from(p));
          const i = bad.findIndex((p) => p.length > 0);
          bad[i]![bad[i]!.length - 1]! ^= 1;
          expect(() => new RecordReceiver(nodeCrypto, c, key, iv).open(bad)).toThrow();
        }
      }), { numRuns: 40 });
    }
  });

  it('seals every record under recordNonce(iv, type, phase, seq) (nonce derived from the header bytes)', () => {
    for (const c of ['aes-256-gcm', 'xsalsa20-poly1305'] as CipherId[]) {
      const key = new Uint8Array(32).fill(3);
      const iv = Uint8Array.from({ length: c === 'xsalsa20-poly1305' ? 24 : 12 }, (_, i) => i * 37);
      const tx = new RecordSender(nodeCrypto, c, key, iv, 0);
      const aead = nodeCrypto.aead(c, key);
      for (let seq = 0; seq < 300; seq++) {
        const type = seq % 2 === 0 ? RecordType.data : RecordType.ping;
        const rec = tx.seal(type, Uint8Array.of(seq & 0xff));
        const header = rec.subarray(0, RECORD_HEADER);
        expect(Buffer.from(header.subarray(2)).readBigUInt64BE()).toBe(BigInt(seq));
        const pt = aead.open(recordNonce(iv, type, 0, BigInt(seq)), header, rec.subarray(RECORD_HEADER));
        expect(pt).toEqual(Uint8Array.of(seq & 0xff));
      }
    }
  });

  it('reads 64-bit sequence numbers above 2^32 from the header', () => {
    const rx = new RecordReceiver(nodeCrypto, 'aes-256-gcm', new Uint8Array(32), new Uint8Array(12));
    const rec = new Uint8Array(RECORD_HEADER + 16);
    rec[0] = RecordType.data;
    Buffer.from(rec.buffer).writeBigUInt64BE(2n ** 32n + 5n, 2);
    expect(() => rx.open(rec)).toThrow(/record 4294967301 out of order/);
    expect(() => rx.open(rec)).toThrow(expect.objectContaining({ code: 'OUT_OF_ORDER' }));
  });
});
