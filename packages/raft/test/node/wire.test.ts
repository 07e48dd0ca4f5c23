import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry, Message } from '../../src/index.js';
import { isRaftError } from '../../src/index.js';
import { decodeBatch, decodeMessage, encodeBatch, encodeMessage } from '../../src/node/index.js';

const conf = { voters: ['a', 'b'], learners: ['l'], votersOutgoing: [], learnersNext: [], autoLeave: false, removed: ['z'] };
const ents: Entry[] = [
  { index: 7, term: 2, type: 'normal', data: new Uint8Array([1, 2, 3]) },
  { index: 8, term: 2, type: 'conf-change', data: new Uint8Array([]) },
  { index: 9, term: 3, type: 'noop', data: new Uint8Array([255]) },
];
const base = { from: 'n1', to: 'n2', term: 2 ** 40 + 5 };
export const SAMPLES: Message[] = [
  { ...base, type: 'vote', lastLogIndex: 9, lastLogTerm: 3, transfer: true },
  { ...base, type: 'prevote', lastLogIndex: 0, lastLogTerm: 0, transfer: false },
  { ...base, type: 'vote-resp', reject: false },
  { ...base, type: 'prevote-resp', reject: true },
  { ...base, type: 'app', prevIndex: 6, prevTerm: 2, commit: 5, entries: ents },
  { ...base, type: 'app', prevIndex: 6, prevTerm: 2, commit: 5, entries: [] },
  { ...base, type: 'app-resp', reject: true, index: 6, hintIndex: 4, hintTerm: 1 },
  { ...base, type: 'heartbeat', commit: 3, context: 'n1/1' },
  { ...base, type: 'heartbeat-resp', context: '' },
  { ...base, type: 'snap', meta: { index: 100, term: 4, conf }, offset: 1024, totalBytes: 4096, data: new Uint8Array([9, 9]), done: false },
  { ...base, type: 'snap-resp', index: 100, nextOffset: 2048, done: false, reject: false },
  { ...base, type: 'timeout-now' },
  { ...base, type: 'read-index', context: 'ctx-é' },
  { ...base, type: 'read-index-resp', context: 'ctx', index: 12, reject: false },
  { ...base, type: 'prop', entries: [{ index: 0, term: 0, type: 'normal', data: new Uint8Array([42]) }] },
  { ...base, type: 'transfer-leader', target: 'n3' },
];

function plain(m: Message): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    if (isRaftError(e)) return e.code;
    throw e;
  }
}

describe('raft wire codec', () => {
  it('round-trips every message type', () => {
    for (const m of SAMPLES) expect(plain(decodeMessage(encodeMessage(m)))).toEqual(plain(m));
    expect(decodeBatch(encodeBatch(SAMPLES)).map(plain)).toEqual(SAMPLES.map(plain));
  });

  it('matches the PROTOCOL.md test vector', () => {
    const hex = encodeMessage({ from: 'a', to: 'b', term: 3, type: 'app', prevIndex: 4, prevTerm: 2, commit: 4, entries: [{ index: 5, term: 3, type: 'normal', data: new Uint8Array([0x68, 0x69]) }] }).toString('hex');
    expect(hex).toBe(
      '0105' + '0100' + '61' + '0100' + '62' + '0300000000000000' + '0400000000000000' + '0200000000000000' + '0400000000000000' + '01000000' + '0500000000000000' + '0300000000000000' + '00' + '02000000' + '6869',
    );
  });

  it('rejects truncated, trailing, unknown-type and oversize input with a typed error naming the field', () => {
    const good = encodeMessage(SAMPLES[4]!);
    for (let cut = 0; cut < good.length; cut++) expect(codeOf(() => decodeMessage(good.subarray(0, cut)))).toBe('invalid-message');
    expect(codeOf(() => decodeMessage(Buffer.concat([good, Buffer.from([0])])))).toBe('invalid-message');
    const badType = Buffer.from(good);
    badType[1] = 99;
    expect(() => decodeMessage(badType)).toThrow(/type/);
    const badVersion = Buffer.from(good);
    badVersion[0] = 2;
    expect(() => decodeMessage(badVersion)).toThrow(/version/);
    const snap = encodeMessage(SAMPLES[9]!);
    expect(codeOf(() => decodeMessage(snap, { maxBlobBytes: 1 }))).toBe('invalid-message');
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0x7fffffff, 2 + 4 + 4 + 8 * 4); // entries.count
    expect(() => decodeMessage(huge)).toThrow(/entries.count/);
    const bigTerm = Buffer.from(good);
    bigTerm.writeUInt32LE(0xffffffff, 2 + 4 + 4 + 4); // high word of term
    expect(() => decodeMessage(bigTerm)).toThrow(/term/);
  });

  it('never throws anything but a typed error on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeMessage(bytes);
          decodeBatch(bytes);
        } catch (e) {
          return isRaftError(e) && e.code === 'invalid-message';
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});
