import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameError } from './errors.js';
import { encodeFrame, FrameDecoder, FrameEncoder, FrameFlags, FrameType, HEADER_SIZE } from './frame.js';
import type { Frame } from './frame.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The test vectors of PROTOCOL.md: frame → exact bytes. */
export const vectors: { name: string; frame: Frame; checksum?: boolean; bytes: string }[] = [
  { name: 'ping', frame: { type: FrameType.PING, flags: 0, id: 0, payload: new Uint8Array(8) }, bytes: '5449424102020000000000000000000008000000000000000000000000000000' },
  {
    name: 'request echo {a:1}',
    frame: { type: FrameType.REQUEST, flags: 0, id: 1, payload: hex('046563686f00000000a1616101') },
    bytes: '544942410211000001000000000000000d00000000000000046563686f00000000a1616101',
  },
  {
    name: 'raw response with CRC-32',
    frame: { type: FrameType.RESPONSE, flags: FrameFlags.RAW, id: 1, payload: hex('010203') },
    checksum: true,
    bytes: '54494241021201000100000000000000030000001d80bc55010203',
  },
  { name: 'cancel, 41-bit id, empty payload', frame: { type: FrameType.CANCEL, flags: 0, id: 2 ** 40 + 3, payload: new Uint8Array(0) }, bytes: '544942410214000003000000000100000000000000000000' },
  {
    name: 'hello',
    frame: { type: FrameType.HELLO, flags: 0, id: 0, payload: hex('a461768102686d61784672616d651a010000006b6d6178496e466c696768741904006677696e646f771820') },
    bytes: '544942410201000000000000000000002b00000000000000a461768102686d61784672616d651a010000006b6d6178496e466c696768741904006677696e646f771820',
  },
  {
    name: 'error UNIMPLEMENTED',
    frame: { type: FrameType.ERROR, flags: 0, id: 1, payload: hex('820c776e6f2068616e646c657220666f72206d6574686f642078') },
    bytes: '544942410213000001000000000000001a00000000000000820c776e6f2068616e646c657220666f72206d6574686f642078',
  },
  { name: 'credit 16', frame: { type: FrameType.CREDIT, flags: 0, id: 2, payload: hex('10000000') }, bytes: '54494241021700000200000000000000040000000000000010000000' },
  {
    name: 'goaway TOO_MANY_CONNECTIONS',
    frame: { type: FrameType.GOAWAY, flags: 0, id: 0, payload: hex('830074544f4f5f4d414e595f434f4e4e454354494f4e536466756c6c') },
    bytes: '544942410204000000000000000000001c00000000000000830074544f4f5f4d414e595f434f4e4e454354494f4e536466756c6c',
  },
];

function decodeAll(chunks: Uint8Array[], maxFrameSize?: number): Frame[] {
  const out: Frame[] = [];
  const d = new FrameDecoder((f) => out.push({ ...f, payload: f.payload.slice() }), maxFrameSize === undefined ? {} : { maxFrameSize });
  for (const c of chunks) d.push(c);
  expect(d.state).toBe('idle');
  return out;
}

const norm = (f: Frame): unknown => ({ type: f.type, flags: f.flags, id: f.id, payload: toHex(f.payload) });

describe('frame codec - test vectors', () => {
  for (const v of vectors) {
    it(`${v.name}: encodes to the exact bytes`, () => {
      expect(toHex(encodeFrame(v.frame, { checksum: v.checksum === true }))).toBe(v.bytes);
    });

    it(`${v.name}: decodes split at every byte boundary and byte by byte`, () => {
      const bytes = hex(v.bytes);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const frames = decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
        expect(frames.map(norm)).toEqual([norm(v.frame)]);
      }
      const bytewise = decodeAll(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
      expect(bytewise.map(norm)).toEqual([norm(v.frame)]);
    });
  }

  it('all vectors back to back, split at every pair of boundaries', () => {
    const all = Buffer.concat(vectors.map((v) => hex(v.bytes)));
    const expected = vectors.map((v) => norm(v.frame));
    for (let i = 0; i <= all.length; i += 1) {
      for (let j = i; j <= all.length; j += 7) {
        const frames = decodeAll([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]);
        expect(frames.map(norm)).toEqual(expected);
      }
    }
  });
});

describe('frame codec - decoder', () => {
  it('payloads inside one chunk are views, not copies', () => {
    const bytes = hex(vectors[1]!.bytes);
    let payload: Uint8Array | undefined;
    new FrameDecoder((f) => (payload = f.payload)).push(bytes);
    expect(payload!.buffer).toBe(bytes.buffer);
  });

  it('reuseFrame passes one object, correct during each call', () => {
    const seen: unknown[] = [];
    const objects = new Set<Frame>();
    const d = new FrameDecoder(
      (f) => {
        objects.add(f);
        seen.push(norm(f));
      },
      { reuseFrame: true },
    );
    d.push(Buffer.concat(vectors.map((v) => hex(v.bytes))));
    expect(objects.size).toBe(1);
    expect(seen).toEqual(vectors.map((v) => norm(v.frame)));
  });

  it('rejects an oversize length from the header alone, before any payload', () => {
    const header = encodeFrame({ type: FrameType.RESPONSE, flags: 0, id: 1, payload: new Uint8Array(0) });
    new DataView(header.buffer).setUint32(16, 1025, true);
    const d = new FrameDecoder(() => undefined, { maxFrameSize: 1024 });
    let err: unknown;
    try {
      d.push(header);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).code).toBe('FRAME_TOO_LARGE');
    expect((err as FrameError).field).toBe('length');
    expect(d.buffered).toBe(0);
  });

  const corrupt = (offset: number, value: number): Uint8Array => {
    const b = hex(vectors[0]!.bytes);
    b[offset] = value;
    return b;
  };

  it.each([
    ['magic', 0, 0x00, 'FRAME_INVALID'],
    ['magic', 3, 0x00, 'FRAME_INVALID'],
    ['version', 4, 1, 'FRAME_INVALID'],
    ['type', 5, 0x7f, 'FRAME_INVALID'],
    ['flags', 6, 0x80, 'FRAME_INVALID'],
    ['id', 15, 0x01, 'FRAME_INVALID'],
  ] as const)('bad %s (byte %i) is a typed error naming the field', (field, offset, value, code) => {
    for (const chunks of [[corrupt(offset, value)], Array.from(corrupt(offset, value), (x) => Uint8Array.of(x))]) {
      const d = new FrameDecoder(() => undefined);
      let err: unknown;
      try {
        for (const c of chunks) d.push(c);
      } catch (e) {
        err = e;
      }
      expect((err as FrameError).code).toBe(code);
      expect((err as FrameError).field).toBe(field);
      expect(d.state).toBe('failed');
      expect(() => {
        d.push(new Uint8Array(1));
      }).toThrow(FrameError);
    }
  });

  it('detects a corrupted payload when the CRC-32 is present', () => {
    const b = hex(vectors[2]!.bytes);
    b[HEADER_SIZE + 1] = (b[HEADER_SIZE + 1] ?? 0) ^ 0xff;
    expect(() => {
      new FrameDecoder(() => undefined).push(b);
    }).toThrow(expect.objectContaining({ code: 'CHECKSUM_MISMATCH' }) as Error);
  });

  it('reports partial header and payload states', () => {
    const b = hex(vectors[1]!.bytes);
    const d = new FrameDecoder(() => undefined);
    d.push(b.subarray(0, 10));
    expect(d.state).toBe('header');
    d.push(b.subarray(10, 30));
    expect(d.state).toBe('payload');
    d.push(b.subarray(30));
    expect(d.state).toBe('idle');
  });
});

describe('frame codec - split payloads', () => {
  it('large payloads in mixed chunk sizes (1 B trickles and 40 KiB slabs) reassemble exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200_000 }), fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 40 }), fc.boolean(), (len, sizes, crc) => {
        const payload = new Uint8Array(len);
        for (let i = 0; i < len; i++) payload[i] = (i * 31 + 7) & 0xff;
        const bytes = encodeFrame({ type: FrameType.STREAM_DATA, flags: FrameFlags.RAW, id: 9, payload }, { checksum: crc });
        const chunks: Uint8Array[] = [];
        let pos = 0;
        for (let k = 0; pos < bytes.length; k++) {
          const n = k % 3 === 0 ? 1 : (sizes[k % sizes.length] ?? 1);
          chunks.push(bytes.subarray(pos, pos + n));
          pos += n;
        }
        const frames = decodeAll(chunks);
        expect(frames).toHaveLength(1);
        expect(Buffer.compare(Buffer.from(frames[0]!.payload), Buffer.from(payload))).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('a trickled frame counts only the bytes that arrived, not the announced length', () => {
    const header = encodeFrame({ type: FrameType.RESPONSE, flags: 0, id: 1, payload: new Uint8Array(0) });
    new DataView(header.buffer).setUint32(16, 8 * 1024 * 1024, true);
    const d = new FrameDecoder(() => undefined);
    d.push(header);
    for (let i = 0; i < 1000; i++) d.push(Uint8Array.of(i & 0xff));
    expect(d.state).toBe('payload');
    expect(d.buffered).toBe(1000);
  });
});

describe('frame codec - encoder', () => {
  it('batches small frames into one buffer and keeps large payloads by reference', () => {
    const e = new FrameEncoder({ copyThreshold: 100 });
    const big = new Uint8Array(1000).fill(9);
    e.push(FrameType.MESSAGE, 0, 0, Uint8Array.of(1, 2), Uint8Array.of(1, 0x61));
    e.push(FrameType.RESPONSE, FrameFlags.RAW, 3, big);
    e.push(FrameType.PING, 0, 0, new Uint8Array(8));
    expect(e.pendingBytes).toBe(3 * HEADER_SIZE + 4 + 1000 + 8);
    const chunks = e.flush();
    expect(chunks).toContain(big);
    const frames = decodeAll(chunks);
    expect(frames.map((f) => f.type)).toEqual([FrameType.MESSAGE, FrameType.RESPONSE, FrameType.PING]);
    expect(Array.from(frames[0]!.payload)).toEqual([1, 0x61, 1, 2]);
    expect(e.pendingBytes).toBe(0);
  });

  it('property: any frames, any chunking, decode to the same frames', () => {
    const frameArb = fc.record({
      type: fc.constantFrom(...Object.values(FrameType)),
      flags: fc.integer({ min: 0, max: 7 }),
      id: fc.maxSafeNat(),
      payload: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (frames, cuts, checksum) => {
        const e = new FrameEncoder({ checksum, copyThreshold: 64 });
        for (const f of frames) e.push(f.type, f.flags, f.id, f.payload);
        const bytes = Buffer.concat(e.flush());
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(prev, p));
          prev = p;
        }
        chunks.push(bytes.subarray(prev));
        expect(decodeAll(chunks).map(norm)).toEqual(frames.map(norm));
      }),
      { numRuns: 300 },
    );
  });
});
