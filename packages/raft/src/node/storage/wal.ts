import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CorruptionError, RaftError } from '../../errors.js';
import { checksum, fsyncDir } from './fsutil.js';

/**
 * Segmented write-ahead log. Byte layout (see PROTOCOL.md §WAL):
 *
 * segment file `<seq: 16 lowercase hex digits>.wal`:
 *   header (24 bytes): magic "ABIRWAL\0" | u32le version = 1 | u32le reserved = 0 | u64le seq
 *   records, back to back
 *
 * record:
 *   u32le payloadLength | u8 type | 3 bytes zero | u32le payloadCrc | u32le headerCrc | payload
 *   payloadCrc = CRC-32(payload); headerCrc = CRC-32(first 12 header bytes).
 *
 * Recovery reads every segment in sequence order. In the LAST segment, a record that is cut short
 * (fewer than 16 header bytes, or a valid header whose payload runs past end of file), or whose
 * bytes from its start to end of file are all zero, or whose payload checksum fails while it is
 * the final record of the file, is a torn tail: the file is truncated at that record. Any other
 * checksum failure — in an earlier segment, or with valid bytes after it — is corruption and
 * recovery throws `CorruptionError` (code `corrupt`) instead of dropping the records after it.
 */
export const WAL_MAGIC = Buffer.from('ABIRWAL\0', 'latin1');
export const WAL_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;
/** Upper bound on one record's payload; larger lengths are treated as corruption. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

export interface WalRecord {
  readonly type: number;
  readonly payload: Buffer;
  /** Segment sequence number holding the record. */
  readonly seq: number;
}

export interface WalOptions {
  /** Roll over to a new segment once the current one exceeds this many bytes. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** fdatasync on sync(). Default true. Turning it off is only for benchmarks' upper bounds. */
  readonly fsync?: boolean;
}

export interface WalRecovery {
  readonly wal: Wal;
  readonly records: WalRecord[];
  /** Bytes cut from the tail of the last segment (torn write), 0 if none. */
  readonly truncatedBytes: number;
}

export function encodeRecord(type: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  buf.writeUInt32LE(payload.length, 0);
  buf.writeUInt8(type, 4);
  buf.writeUInt8(0, 5);
  buf.writeUInt16LE(0, 6);
  buf.writeUInt32LE(checksum(payload), 8);
  buf.writeUInt32LE(checksum(buf.subarray(0, 12)), 12);
  buf.set(payload, RECORD_HEADER_BYTES);
  return buf;
}

function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

function segmentHeader(seq: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  WAL_MAGIC.copy(b, 0);
  b.writeUInt32LE(WAL_VERSION, 8);
  b.writeUInt32LE(0, 12);
  b.writeBigUInt64LE(BigInt(seq), 16);
  return b;
}

function allZero(b: Buffer, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

interface ParsedSegment {
  records: WalRecord[];
  /** Offset where valid data ends (== length when the segment is intact). */
  validEnd: number;
}

function parseSegment(file: string, buf: Buffer, seq: number, isLast: boolean): ParsedSegment {
  const records: WalRecord[] = [];
  if (buf.length < SEGMENT_HEADER_BYTES) {
    if (isLast && (WAL_MAGIC.subarray(0, buf.length).equals(buf.subarray(0, Math.min(buf.length, 8))) || allZero(buf, 0))) {
      return { records, validEnd: 0 };
    }
    throw new CorruptionError(file, 0, `segment header cut short (${buf.length} bytes)`);
  }
  if (!buf.subarray(0, 8).equals(WAL_MAGIC)) throw new CorruptionError(file, 0, 'bad segment magic');
  const version = buf.readUInt32LE(8);
  if (version !== WAL_VERSION) throw new CorruptionError(file, 8, `unsupported WAL version ${version}`);
  const hseq = Number(buf.readBigUInt64LE(16));
  if (hseq !== seq) throw new CorruptionError(file, 16, `segment header seq ${hseq} does not match file name seq ${seq}`);
  let off = SEGMENT_HEADER_BYTES;
  while (off < buf.length) {
    const remaining = buf.length - off;
    const torn = (detail: string): ParsedSegment => {
      if (isLast) return { records, validEnd: off };
      throw new CorruptionError(file, off, `${detail} in a sealed segment`);
    };
    if (remaining < RECORD_HEADER_BYTES) return torn('record header cut short');
    const headerOk = buf.readUInt32LE(off + 12) === checksum(buf.subarray(off, off + 12));
    if (!headerOk) {
      if (allZero(buf, off)) return torn('zero-filled tail');
      throw new CorruptionError(file, off, 'record header checksum mismatch');
    }
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt8(off + 4);
    if (len > MAX_RECORD_BYTES) throw new CorruptionError(file, off, `record length ${len} exceeds ${MAX_RECORD_BYTES}`);
    const end = off + RECORD_HEADER_BYTES + len;
    if (end > buf.length) return torn('record payload cut short');
    const payload = buf.subarray(off + RECORD_HEADER_BYTES, end);
    if (checksum(payload) !== buf.readUInt32LE(off + 8)) {
      if (end === buf.length || allZero(buf, end)) return torn('payload checksum mismatch in final record');
      throw new CorruptionError(file, off, 'record payload checksum mismatch');
    }
    records.push({ type, payload, seq });
    off = end;
  }
  return { records, validEnd: off };
}

interface SegmentInfo {
  seq: number;
  bytes: number;
}

/** An open segmented WAL. Appends are serialized by the caller (FileStorage keeps one queue). */
export class Wal {
  readonly dir: string;
  readonly #segmentBytes: number;
  readonly #fsync: boolean;
  #segments: SegmentInfo[];
  #fh: FileHandle;
  #closed = false;
  #dirty = false;

  private constructor(dir: string, segments: SegmentInfo[], fh: FileHandle, options: WalOptions) {
    this.dir = dir;
    this.#segments = segments;
    this.#fh = fh;
    this.#segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.#fsync = options.fsync ?? true;
  }

  /** Opens (creating if needed) the WAL in `dir`, replays it and repairs a torn tail. */
  static async open(dir: string, options: WalOptions = {}): Promise<WalRecovery> {
    await fsp.mkdir(dir, { recursive: true });
    const names = (await fsp.readdir(dir)).filter((n) => /^[0-9a-f]{16}\.wal$/.test(n)).sort();
    // Leftover temp files from an interrupted rollover are never referenced; remove them.
    for (const n of await fsp.readdir(dir)) if (n.endsWith('.wal.tmp')) await fsp.rm(path.join(dir, n), { force: true });
    const records: WalRecord[] = [];
    const segments: SegmentInfo[] = [];
    let truncatedBytes = 0;
    let prevSeq: number | undefined;
    for (let i = 0; i < names.length; i++) {
      const name = names[i] ?? '';
      const seq = Number.parseInt(name.slice(0, 16), 16);
      if (prevSeq !== undefined && seq !== prevSeq + 1) {
        throw new CorruptionError(path.join(dir, name), 0, `segment ${seq} follows segment ${prevSeq}`);
      }
      prevSeq = seq;
      const file = path.join(dir, name);
      const buf = await fsp.readFile(file);
      const isLast = i === names.length - 1;
      const parsed = parseSegment(file, buf, seq, isLast);
      for (const r of parsed.records) records.push(r);
      if (parsed.validEnd < buf.length) {
        truncatedBytes = buf.length - parsed.validEnd;
        if (parsed.validEnd < SEGMENT_HEADER_BYTES) {
          await fsp.writeFile(file, segmentHeader(seq));
        } else {
          await fsp.truncate(file, parsed.validEnd);
        }
        const fh = await fsp.open(file, 'r+');
        await fh.sync();
        await fh.close();
      }
      segments.push({ seq, bytes: Math.max(parsed.validEnd, SEGMENT_HEADER_BYTES) });
    }
    if (segments.length === 0) {
      await Wal.#createSegment(dir, 1);
      segments.push({ seq: 1, bytes: SEGMENT_HEADER_BYTES });
    }
    const last = segments[segments.length - 1];
    if (last === undefined) throw new RaftError('io', 'no WAL segment');
    const fh = await fsp.open(path.join(dir, segmentName(last.seq)), 'a');
    return { wal: new Wal(dir, segments, fh, options), records, truncatedBytes };
  }

  static async #createSegment(dir: string, seq: number): Promise<void> {
    // Write the header to a temp file and rename it into place, so a crash never leaves a
    // segment with a partial header that could be mistaken for corruption.
    const tmp = path.join(dir, `${segmentName(seq)}.tmp`);
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(segmentHeader(seq));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path.join(dir, segmentName(seq)));
    await fsyncDir(dir);
  }

  /** Sequence number of the segment that receives appends. */
  get currentSeq(): number {
    return this.#current().seq;
  }

  get segmentSeqs(): number[] {
    return this.#segments.map((s) => s.seq);
  }

  #current(): SegmentInfo {
    const s = this.#segments[this.#segments.length - 1];
    if (s === undefined) throw new RaftError('io', 'no WAL segment');
    return s;
  }

  /**
   * Appends already-encoded records with one write(2). Not durable until {@link sync}.
   * Rolls over to a new segment first when the current one is full. Returns the segment's seq.
   */
  async write(records: readonly Buffer[]): Promise<number> {
    this.#check();
    if (records.length === 0) return this.#current().seq;
    const cur = this.#current();
    if (cur.bytes >= this.#segmentBytes) await this.rollover();
    const buf = records.length === 1 ? (records[0] ?? Buffer.alloc(0)) : Buffer.concat(records);
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.#fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    const seg = this.#current();
    seg.bytes += buf.length;
    this.#dirty = true;
    return seg.seq;
  }

  /** fdatasync of the current segment: everything written so far is durable when this resolves. */
  async sync(): Promise<void> {
    this.#check();
    if (!this.#dirty) return;
    this.#dirty = false;
    if (this.#fsync) await this.#fh.datasync();
  }

  /** Seals the current segment (fsync) and starts the next one. */
  async rollover(): Promise<void> {
    this.#check();
    await this.sync();
    const seq = this.#current().seq + 1;
    await Wal.#createSegment(this.dir, seq);
    await this.#fh.close();
    this.#fh = await fsp.open(path.join(this.dir, segmentName(seq)), 'a');
    this.#segments.push({ seq, bytes: SEGMENT_HEADER_BYTES });
  }

  /** Deletes sealed segments with seq < `seq` (never the current one), then fsyncs the dir. */
  async removeSegmentsBefore(seq: number): Promise<number> {
    this.#check();
    const cur = this.#current().seq;
    const limit = Math.min(seq, cur);
    let removed = 0;
    while (this.#segments.length > 1 && (this.#segments[0]?.seq ?? Infinity) < limit) {
      const s = this.#segments.shift();
      if (s === undefined) break;
      await fsp.rm(path.join(this.dir, segmentName(s.seq)), { force: true });
      removed++;
    }
    if (removed > 0) await fsyncDir(this.dir);
    return removed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close();
  }

  #check(): void {
    if (this.#closed) throw new RaftError('closed', 'WAL is closed');
  }
}
