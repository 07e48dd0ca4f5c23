import { describe, expect, it } from 'vitest';
import { decodeHardStateFile, decodeMessage, decodeSnapshotFile, encodeBatch, encodeHardStateFile, encodeMessage, encodeRecord, encodeSnapshotFile } from '../../src/node/index.js';
import { Writer, writeEntries } from '../../src/node/codec.js';

const hex = (s: string): string => s.replace(/\s+/g, '');
const CONF = { voters: ['a', 'b', 'c'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, removed: [] };

describe('PROTOCOL.md test vectors', () => {
  it('vote message', () => {
    const bytes = encodeMessage({ type: 'vote', from: 'a', to: 'b', term: 3, lastLogIndex: 4, lastLogTerm: 2, transfer: false });
    expect(bytes.toString('hex')).toBe(hex('010101006101006203000000000000000400000000000000020000000000000000'));
    expect(decodeMessage(bytes)).toEqual({ type: 'vote', from: 'a', to: 'b', term: 3, lastLogIndex: 4, lastLogTerm: 2, transfer: false });
  });

  it('batch of one heartbeat-resp', () => {
    expect(encodeBatch([{ type: 'heartbeat-resp', from: 'b', to: 'a', term: 3, context: '' }]).toString('hex')).toBe(hex('12000000 01 08 0100 62 0100 61 0300000000000000 0000'));
  });

  it('WAL entries and commit records', () => {
    const w = new Writer();
    writeEntries(w, [{ index: 5, term: 3, type: 'normal', data: Buffer.from('hi') }]);
    expect(encodeRecord(1, w.finish()).toString('hex')).toBe(hex('1b000000 01 000000 ce51aa07 719395fb 0500000000000000 01000000 0300000000000000 00 02000000 6869'));
    expect(encodeRecord(2, new Writer().u64(5).finish()).toString('hex')).toBe(hex('08000000 02 000000 0dd1c22d 8fd9cefd 0500000000000000'));
  });

  it('hard-state file', () => {
    const b = encodeHardStateFile({ term: 3, vote: 'b', commit: 5 });
    expect(b.toString('hex')).toBe('41424952485354000100000003000000000000000500000000000000010100626c72a162');
    expect(decodeHardStateFile('x', b)).toEqual({ term: 3, vote: 'b', commit: 5 });
  });

  it('snapshot file', () => {
    const b = Buffer.concat(encodeSnapshotFile({ meta: { index: 5, term: 3, conf: CONF }, data: Buffer.from('kv') }));
    expect(b.toString('hex')).toBe(hex('41424952534e5000010000000500000000000000030000000000000003000000010061010062010063 000000000000000000000000000000000002000000000000006b7641fbf78b'));
    const s = decodeSnapshotFile('x', b);
    expect(s.meta).toEqual({ index: 5, term: 3, conf: CONF });
    expect(Buffer.from(s.data).toString()).toBe('kv');
  });
});
