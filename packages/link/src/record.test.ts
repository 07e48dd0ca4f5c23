import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeCrypto, type CipherId } from './crypto.js';
import { RecordReceiver, RecordSender, RecordType } from './record.js';

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
});
