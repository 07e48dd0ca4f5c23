import { RaftError } from '../errors.js';
import type { ConfState, Entry, EntryType, HardState, SnapshotMeta } from '../core/types.js';

/**
 * Little-endian binary writer/reader shared by the WAL, the hard-state and snapshot files and
 * the wire codec. Integers that hold indexes and terms are u64 on disk/wire but must be safe
 * integers in memory; a value above 2^53-1 is rejected as bad input.
 */
export class Writer {
  #buf: Buffer;
  #len = 0;
  constructor(initial = 256) {
    this.#buf = Buffer.allocUnsafe(initial);
  }
  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
  u8(v: number): this {
    this.#ensure(1);
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.#ensure(2);
    this.#buf.writeUInt16LE(v, this.#len);
    this.#len += 2;
    return this;
  }
  u32(v: number): this {
    this.#ensure(4);
    this.#buf.writeUInt32LE(v >>> 0, this.#len);
    this.#len += 4;
    return this;
  }
  u64(v: number): this {
    this.#ensure(8);
    this.#buf.writeUInt32LE(v % 0x1_0000_0000, this.#len);
    this.#buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.#len + 4);
    this.#len += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }
  /** u16 length + UTF-8 bytes. */
  str(s: string): this {
    const n = Buffer.byteLength(s);
    if (n > 0xffff) throw new RaftError('invalid-argument', `string of ${n} bytes exceeds 65535`);
    this.u16(n);
    this.#ensure(n);
    this.#buf.write(s, this.#len, 'utf8');
    this.#len += n;
    return this;
  }
  /** u32 length + bytes. */
  blob(b: Uint8Array): this {
    this.u32(b.length);
    return this.bytes(b);
  }
  get length(): number {
    return this.#len;
  }
  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}

export class Reader {
  readonly buf: Buffer;
  off: number;
  readonly what: string;
  constructor(buf: Uint8Array, what: string, off = 0) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.off = off;
    this.what = what;
  }
  fail(field: string, message: string): never {
    throw new RaftError('invalid-message', `${this.what}: ${message} [${field} @ offset ${this.off}]`);
  }
  #need(n: number, field: string): void {
    if (this.off + n > this.buf.length) this.fail(field, `needs ${n} bytes, ${this.buf.length - this.off} left`);
  }
  u8(field: string): number {
    this.#need(1, field);
    return this.buf[this.off++] ?? 0;
  }
  u16(field: string): number {
    this.#need(2, field);
    const v = this.buf.readUInt16LE(this.off);
    this.off += 2;
    return v;
  }
  u32(field: string): number {
    this.#need(4, field);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  u64(field: string): number {
    this.#need(8, field);
    const lo = this.buf.readUInt32LE(this.off);
    const hi = this.buf.readUInt32LE(this.off + 4);
    if (hi > 0x1f_ffff) this.fail(field, 'integer above 2^53-1');
    this.off += 8;
    return hi * 0x1_0000_0000 + lo;
  }
  bytes(n: number, field: string): Buffer {
    this.#need(n, field);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  str(field: string): string {
    const n = this.u16(field);
    return this.bytes(n, field).toString('utf8');
  }
  blob(field: string, max = Number.MAX_SAFE_INTEGER): Buffer {
    const n = this.u32(field);
    if (n > max) this.fail(field, `length ${n} exceeds ${max}`);
    return this.bytes(n, field);
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  end(): void {
    if (this.off !== this.buf.length) this.fail('end', `${this.buf.length - this.off} trailing bytes`);
  }
}

export const ENTRY_TYPE_CODES: Record<EntryType, number> = { normal: 0, 'conf-change': 1, noop: 2 };
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf-change', 'noop'];

export function entryTypeFromCode(r: Reader, code: number): EntryType {
  const t = ENTRY_TYPES[code];
  if (t === undefined) r.fail('entry.type', `unknown entry type ${code}`);
  return t;
}

/** u64 firstIndex | u32 count | count × (u64 term | u8 type | u32 dataLength | data). */
export function writeEntries(w: Writer, entries: readonly Entry[]): void {
  const first = entries[0]?.index ?? 0;
  w.u64(first).u32(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    if (e.index !== first + i) throw new RaftError('invalid-argument', `entries not contiguous at ${e.index} (expected ${first + i})`);
    w.u64(e.term).u8(ENTRY_TYPE_CODES[e.type]).blob(e.data);
  }
}

export function readEntries(r: Reader, copy: boolean): Entry[] {
  const first = r.u64('entries.firstIndex');
  const count = r.u32('entries.count');
  if (count > r.remaining / 13) r.fail('entries.count', `count ${count} does not fit in ${r.remaining} bytes`);
  if (count > 0 && first === 0) r.fail('entries.firstIndex', 'entry index 0');
  const out: Entry[] = new Array<Entry>(count);
  for (let i = 0; i < count; i++) {
    const term = r.u64('entry.term');
    const type = entryTypeFromCode(r, r.u8('entry.type'));
    const raw = r.blob('entry.data');
    const data = copy ? new Uint8Array(raw) : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    out[i] = { index: first + i, term, type, data };
  }
  return out;
}

function writeIds(w: Writer, ids: readonly string[]): void {
  w.u32(ids.length);
  for (const id of ids) w.str(id);
}

function readIds(r: Reader, field: string): string[] {
  const n = r.u32(field);
  if (n > r.remaining / 2) r.fail(field, `count ${n} does not fit`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.str(field));
  return out;
}

/** voters | learners | votersOutgoing | learnersNext | removed (each u32 count + u16-length strings) | u8 autoLeave. */
export function writeConf(w: Writer, c: ConfState): void {
  writeIds(w, c.voters);
  writeIds(w, c.learners);
  writeIds(w, c.votersOutgoing);
  writeIds(w, c.learnersNext);
  writeIds(w, c.removed);
  w.u8(c.autoLeave ? 1 : 0);
}

export function readConf(r: Reader): ConfState {
  const voters = readIds(r, 'conf.voters');
  const learners = readIds(r, 'conf.learners');
  const votersOutgoing = readIds(r, 'conf.votersOutgoing');
  const learnersNext = readIds(r, 'conf.learnersNext');
  const removed = readIds(r, 'conf.removed');
  const al = r.u8('conf.autoLeave');
  if (al > 1) r.fail('conf.autoLeave', `bad boolean ${al}`);
  return { voters, learners, votersOutgoing, learnersNext, removed, autoLeave: al === 1 };
}

/** u64 index | u64 term | conf. */
export function writeSnapshotMeta(w: Writer, m: SnapshotMeta): void {
  w.u64(m.index).u64(m.term);
  writeConf(w, m.conf);
}

export function readSnapshotMeta(r: Reader): SnapshotMeta {
  const index = r.u64('meta.index');
  const term = r.u64('meta.term');
  return { index, term, conf: readConf(r) };
}

/** u64 term | u64 commit | u8 hasVote | [str vote]. */
export function writeHardState(w: Writer, hs: HardState): void {
  w.u64(hs.term).u64(hs.commit);
  if (hs.vote === null) w.u8(0);
  else w.u8(1).str(hs.vote);
}

export function readHardState(r: Reader): HardState {
  const term = r.u64('hardState.term');
  const commit = r.u64('hardState.commit');
  const has = r.u8('hardState.hasVote');
  if (has > 1) r.fail('hardState.hasVote', `bad boolean ${has}`);
  const vote = has === 1 ? r.str('hardState.vote') : null;
  return { term, vote, commit };
}
