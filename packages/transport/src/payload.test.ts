import { describe, expect, it } from 'vitest';
import { checkCborDepth, decodeCbor, decodeMethodPrefix, encodeCbor, encodeMethodPrefix } from './payload.js';

describe('payload - CBOR with limits', () => {
  it('round-trips plain values; byte strings come back as bytes', () => {
    const v = { a: 1, b: 'x', c: [true, null, 1.5], d: new Uint8Array([1, 2]) };
    const back = decodeCbor(encodeCbor(v)) as typeof v;
    expect(back.a).toBe(1);
    expect(Array.from(back.d)).toEqual([1, 2]);
  });

  it('a __proto__ key never reaches the prototype', () => {
    // {"__proto__": {"polluted": 1}}
    const bytes = Uint8Array.from([0xa1, 0x69, ...Buffer.from('__proto__'), 0xa1, 0x68, ...Buffer.from('polluted'), 0x01]);
    const o = decodeCbor(bytes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(o.polluted).toBeUndefined();
  });

  it('rejects nesting deeper than the limit without recursion', () => {
    const deep = new Uint8Array(100_001).fill(0x81);
    deep[100_000] = 0x00;
    expect(() => decodeCbor(deep)).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }) as Error);
    const ok = new Uint8Array(11).fill(0x81);
    ok[10] = 0;
    expect(() => {
      checkCborDepth(ok, 10);
    }).not.toThrow();
    expect(() => {
      checkCborDepth(ok, 9);
    }).toThrow(/deeper than 9/);
    const maps = encodeCbor({ a: { b: { c: { d: [[[1]]] } } } });
    expect(() => {
      checkCborDepth(maps, 7);
    }).not.toThrow();
    expect(() => {
      checkCborDepth(maps, 6);
    }).toThrow();
  });

  it('garbage is a typed error', () => {
    expect(() => decodeCbor(Uint8Array.of(0x1c))).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }) as Error);
    expect(() => decodeCbor(Uint8Array.of(0x5a, 0xff, 0xff, 0xff, 0xff, 0x00))).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }) as Error);
  });

  it('method prefix round-trips and rejects bad names', () => {
    const p = encodeMethodPrefix('kv.get', 1500);
    expect(decodeMethodPrefix(p, true)).toEqual({ method: 'kv.get', timeoutMs: 1500, bodyOffset: 11 });
    expect(() => encodeMethodPrefix('', undefined)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => encodeMethodPrefix('x'.repeat(256), undefined)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => decodeMethodPrefix(Uint8Array.of(5, 0x61), false)).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }) as Error);
    expect(() => decodeMethodPrefix(Uint8Array.of(1, 0xff), false)).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }) as Error);
  });
});
