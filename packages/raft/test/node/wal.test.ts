import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfState, Entry } from '../../src/index.js';
import { isRaftError } from '../../src/index.js';
import { FileStorage, decodeHardStateFile, encodeHardStateFile } from '../../src/node/index.js';

const CONF: ConfState = { voters: ['a', 'b', 'c'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, removed: [] };
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'raft-wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ent = (index: number, term: number, size = 40): Entry => ({ index, term, type: 'normal', data: Buffer.alloc(size, index & 0xff) });
const range = (from: number, to: number, term: number, size = 40): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term, size));
const segments = (dir: string): string[] => readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.wal')).sort();

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    if (isRaftError(e)) return e.code;
    throw e;
  }
}

describe('FileStorage recovery', () => {
  it('truncates a torn tail record and keeps every complete record before it', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    for (let i = 1; i <= 10; i++) await s.append([ent(i, 1)]);
    await s.close();
    const seg = path.join(dir, 'wal', segments(dir).at(-1)!);
    const size = statSync(seg).size;
    truncateSync(seg, size - 7); // the last record (entry 10) lost its final bytes
    const r = await FileStorage.open(dir);
    expect(r.lastIndex()).toBe(9);
    expect(r.recovery.tornBytes).toBeGreaterThan(0);
    expect(statSync(seg).size).toBeLessThan(size - 7); // repaired on disk
    await r.append([ent(10, 1)]); // appends continue cleanly after the repair
    await r.close();
    const again = await FileStorage.open(dir);
    expect(again.lastIndex()).toBe(10);
    expect(again.recovery.tornBytes).toBe(0);
    await again.close();
  });

  it('treats a zero-filled tail and a header cut short as torn', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.append(range(1, 3, 1));
    await s.close();
    const seg = path.join(dir, 'wal', segments(dir).at(-1)!);
    appendFileSync(seg, Buffer.alloc(300));
    let r = await FileStorage.open(dir);
    expect(r.lastIndex()).toBe(3);
    await r.close();
    appendFileSync(seg, Buffer.from([1, 2, 3, 4, 5]));
    r = await FileStorage.open(dir);
    expect(r.lastIndex()).toBe(3);
    await r.close();
  });

  it('a payload checksum failure in the final record of the last segment is a torn tail', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.append(range(1, 4, 1));
    await s.append(range(5, 6, 1));
    await s.close();
    const seg = path.join(dir, 'wal', segments(dir).at(-1)!);
    const b = readFileSync(seg);
    b[b.length - 3]! ^= 0xff;
    writeFileSync(seg, b);
    const r = await FileStorage.open(dir);
    expect(r.lastIndex()).toBe(4);
    await r.close();
  });

  it('a corrupted record in the MIDDLE stops recovery with a typed error instead of dropping entries', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    for (let i = 1; i <= 20; i++) await s.append([ent(i, 1)]);
    await s.close();
    const seg = path.join(dir, 'wal', segments(dir).at(-1)!);
    const b = readFileSync(seg);
    b[24 + 16 + 20]! ^= 0x01; // inside the payload of the first record
    writeFileSync(seg, b);
    const err = await FileStorage.open(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRaftError(err) && err.code).toBe('corrupt');
    expect((err as { file: string }).file).toBe(seg);
    expect((err as { offset: number }).offset).toBe(24);
    expect(statSync(seg).size).toBe(b.length); // nothing truncated
  });

  it('a corrupted record header in the middle (bad length) is corruption, not a torn tail', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    for (let i = 1; i <= 5; i++) await s.append([ent(i, 1)]);
    await s.close();
    const seg = path.join(dir, 'wal', segments(dir).at(-1)!);
    const b = readFileSync(seg);
    b.writeUInt32LE(0x00ffffff, 24); // length of the first record now points past end of file
    writeFileSync(seg, b);
    expect(await codeOf(FileStorage.open(dir))).toBe('corrupt');
  });

  it('any damage inside a sealed (non-last) segment is corruption', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF, segmentBytes: 512 });
    for (let i = 1; i <= 40; i++) await s.append([ent(i, 1)]);
    await s.close();
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThan(2);
    const first = path.join(dir, 'wal', segs[0]!);
    truncateSync(first, statSync(first).size - 5);
    expect(await codeOf(FileStorage.open(dir))).toBe('corrupt');
  });

  it('a missing middle segment is reported as corruption', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF, segmentBytes: 512 });
    for (let i = 1; i <= 40; i++) await s.append([ent(i, 1)]);
    await s.close();
    const segs = segments(dir);
    rmSync(path.join(dir, 'wal', segs[1]!));
    expect(await codeOf(FileStorage.open(dir))).toBe('corrupt');
  });

  it('rolls segments over and deletes the ones fully covered by compaction', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF, segmentBytes: 1024 });
    for (let i = 1; i <= 100; i++) await s.append([ent(i, 1)]);
    const before = segments(dir);
    expect(before.length).toBeGreaterThan(4);
    await s.createSnapshot(80, CONF, Buffer.from('sm@80'));
    await s.compact(80);
    const after = segments(dir);
    expect(after.length).toBeLessThan(before.length);
    expect(after.at(-1)).toBe(before.at(-1));
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 1024 });
    expect(r.firstIndex()).toBe(81);
    expect(r.lastIndex()).toBe(100);
    expect(r.term(80)).toBe(1);
    expect(r.entries(81, 101).map((e) => e.index)).toEqual(range(81, 100, 1).map((e) => e.index));
    await r.close();
  });

  it('applySnapshot drops the old segments and keeps the log after the snapshot', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF, segmentBytes: 512 });
    for (let i = 1; i <= 30; i++) await s.append([ent(i, 1)]);
    await s.applySnapshot({ meta: { index: 500, term: 7, conf: CONF }, data: Buffer.from('big') });
    await s.append(range(501, 503, 7));
    expect(segments(dir).length).toBeLessThanOrEqual(2);
    await s.close();
    const r = await FileStorage.open(dir);
    expect(r.firstIndex()).toBe(501);
    expect(r.lastIndex()).toBe(503);
    expect(Buffer.from(r.snapshot().data).toString()).toBe('big');
    expect(readdirSync(path.join(dir, 'snap')).filter((n) => n.endsWith('.snap')).length).toBeLessThanOrEqual(2);
    await r.close();
  });

  it('a crash between the snapshot file and the WAL marker recovers to the snapshot', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.append(range(1, 5, 1));
    await s.close();
    // Simulate: the snapshot file (index 50) was renamed into place, the WAL marker never written.
    const { encodeSnapshotFile } = await import('../../src/node/index.js');
    writeFileSync(path.join(dir, 'snap', `${(50).toString(16).padStart(16, '0')}-${(3).toString(16).padStart(16, '0')}.snap`), Buffer.concat(encodeSnapshotFile({ meta: { index: 50, term: 3, conf: CONF }, data: Buffer.from('x') })));
    const r = await FileStorage.open(dir);
    expect(r.firstIndex()).toBe(51);
    expect(r.lastIndex()).toBe(50);
    expect(r.term(50)).toBe(3);
    await r.close();
  });

  it('hard state: the file is replaced atomically and a damaged file is a typed error', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.setHardState({ term: 4, vote: 'c', commit: 0 });
    await s.close();
    const file = path.join(dir, 'hardstate');
    expect(decodeHardStateFile(file, readFileSync(file))).toEqual({ term: 4, vote: 'c', commit: 0 });
    expect(readdirSync(dir)).not.toContain('hardstate.tmp');
    // a leftover temp file from a crash mid-replace is ignored: the old state wins
    writeFileSync(path.join(dir, 'hardstate.tmp'), encodeHardStateFile({ term: 9, vote: 'b', commit: 0 }).subarray(0, 10));
    let r = await FileStorage.open(dir);
    expect(r.hardState).toEqual({ term: 4, vote: 'c', commit: 0 });
    await r.close();
    const b = readFileSync(file);
    b[12]! ^= 0x40;
    writeFileSync(file, b);
    expect(await codeOf(FileStorage.open(dir))).toBe('corrupt');
    // commit durability comes from the WAL and never points past the recovered log
    writeFileSync(file, encodeHardStateFile({ term: 4, vote: 'c', commit: 0 }));
    r = await FileStorage.open(dir);
    await r.save({ entries: range(1, 3, 4), hardState: { term: 4, vote: 'c', commit: 3 } });
    await r.close();
    r = await FileStorage.open(dir);
    expect(r.hardState).toEqual({ term: 4, vote: 'c', commit: 3 });
    await r.close();
  });

  it('a commit index beyond the recovered log is reported, not silently accepted', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.save({ entries: range(1, 3, 1), hardState: { term: 1, vote: 'a', commit: 3 } });
    await s.close();
    writeFileSync(path.join(dir, 'hardstate'), encodeHardStateFile({ term: 1, vote: 'a', commit: 9 }));
    expect(await codeOf(FileStorage.open(dir))).toBe('corrupt');
  });

  it('after an fsync/write failure the storage refuses everything with code io', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.append(range(1, 2, 1));
    rmSync(path.join(dir, 'snap'), { recursive: true, force: true });
    writeFileSync(path.join(dir, 'snap'), 'not a dir'); // snapshot write will fail
    expect(await codeOf(s.createSnapshot(2, CONF, Buffer.from('x')))).toBe('io');
    expect(await codeOf(s.append([ent(3, 1)]))).toBe('io');
    await s.close();
  });

  it('a commit-only save with { sync: false } is written, and made durable by the next synced save or close', async () => {
    const dir = tmp();
    const s = await FileStorage.open(dir, { conf: CONF });
    await s.save({ entries: range(1, 5, 2), hardState: { term: 2, vote: 'a', commit: 1 } });
    await s.save({ hardState: { term: 2, vote: 'a', commit: 4 } }, { sync: false });
    expect(s.hardState.commit).toBe(4);
    // entries are never lazy, even when asked
    await s.save({ entries: range(6, 6, 2) }, { sync: false });
    await s.close();
    const r = await FileStorage.open(dir);
    expect(r.hardState).toEqual({ term: 2, vote: 'a', commit: 4 });
    expect(r.lastIndex()).toBe(6);
    await r.close();
  });
});

