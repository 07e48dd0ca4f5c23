import type { Entry, Message, MessageType } from '../core/types.js';
import { RaftError } from '../errors.js';
import { Reader, Writer, entryTypeFromCode, ENTRY_TYPE_CODES, readSnapshotMeta, writeSnapshotMeta } from './codec.js';

/**
 * Binary encoding of Raft messages on the wire (PROTOCOL.md §Messages). Little-endian.
 *
 *   u8 version (= 1) | u8 type | str from | str to | u64 term | type-specific fields
 *
 * `str` is u16 length + UTF-8; `blob` is u32 length + bytes; entries are
 * u32 count + count × (u64 index | u64 term | u8 type | blob data).
 */
export const WIRE_VERSION = 1;

export const MESSAGE_TYPE_CODES: Record<MessageType, number> = {
  vote: 1,
  'vote-resp': 2,
  prevote: 3,
  'prevote-resp': 4,
  app: 5,
  'app-resp': 6,
  heartbeat: 7,
  'heartbeat-resp': 8,
  snap: 9,
  'snap-resp': 10,
  'timeout-now': 11,
  'read-index': 12,
  'read-index-resp': 13,
  prop: 14,
  'transfer-leader': 15,
};
const TYPES_BY_CODE = new Map<number, MessageType>(Object.entries(MESSAGE_TYPE_CODES).map(([k, v]) => [v, k as MessageType]));

export interface DecodeLimits {
  /** Largest data blob accepted in one entry or snapshot chunk. Default 64 MiB. */
  readonly maxBlobBytes?: number;
  /** Most entries accepted in one message. Default 1 000 000. */
  readonly maxEntries?: number;
}

function writeMsgEntries(w: Writer, entries: readonly Entry[]): void {
  w.u32(entries.length);
  for (const e of entries) w.u64(e.index).u64(e.term).u8(ENTRY_TYPE_CODES[e.type]).blob(e.data);
}

function readMsgEntries(r: Reader, maxEntries: number, maxBlob: number): Entry[] {
  const n = r.u32('entries.count');
  if (n > maxEntries) r.fail('entries.count', `${n} entries exceed the limit ${maxEntries}`);
  if (n > r.remaining / 21) r.fail('entries.count', `count ${n} does not fit in ${r.remaining} bytes`);
  const out: Entry[] = new Array<Entry>(n);
  for (let i = 0; i < n; i++) {
    const index = r.u64('entry.index');
    const term = r.u64('entry.term');
    const type = entryTypeFromCode(r, r.u8('entry.type'));
    const raw = r.blob('entry.data', maxBlob);
    out[i] = { index, term, type, data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
  }
  return out;
}

function bool(r: Reader, field: string): boolean {
  const v = r.u8(field);
  if (v > 1) r.fail(field, `bad boolean ${v}`);
  return v === 1;
}

/** Appends one encoded message to `w`. */
export function writeMessage(w: Writer, m: Message): void {
  w.u8(WIRE_VERSION).u8(MESSAGE_TYPE_CODES[m.type]).str(m.from).str(m.to).u64(m.term);
  switch (m.type) {
    case 'vote':
    case 'prevote':
      w.u64(m.lastLogIndex).u64(m.lastLogTerm).u8(m.transfer ? 1 : 0);
      break;
    case 'vote-resp':
    case 'prevote-resp':
      w.u8(m.reject ? 1 : 0);
      break;
    case 'app':
      w.u64(m.prevIndex).u64(m.prevTerm).u64(m.commit);
      writeMsgEntries(w, m.entries);
      break;
    case 'app-resp':
      w.u8(m.reject ? 1 : 0).u64(m.index).u64(m.hintIndex).u64(m.hintTerm);
      break;
    case 'heartbeat':
      w.u64(m.commit).str(m.context);
      break;
    case 'heartbeat-resp':
      w.str(m.context);
      break;
    case 'snap':
      writeSnapshotMeta(w, m.meta);
      w.u64(m.offset).u64(m.totalBytes).u8(m.done ? 1 : 0).blob(m.data);
      break;
    case 'snap-resp':
      w.u64(m.index).u64(m.nextOffset).u8(m.done ? 1 : 0).u8(m.reject ? 1 : 0);
      break;
    case 'timeout-now':
      break;
    case 'read-index':
      w.str(m.context);
      break;
    case 'read-index-resp':
      w.str(m.context).u64(m.index).u8(m.reject ? 1 : 0);
      break;
    case 'prop':
      writeMsgEntries(w, m.entries);
      break;
    case 'transfer-leader':
      w.str(m.target);
      break;
  }
}

function sizeHint(m: Message): number {
  switch (m.type) {
    case 'app':
    case 'prop': {
      let n = 96;
      for (const e of m.entries) n += 32 + e.data.byteLength;
      return n;
    }
    case 'snap':
      return 256 + m.data.byteLength;
    default:
      return 96;
  }
}

export function encodeMessage(m: Message): Buffer {
  const w = new Writer(sizeHint(m));
  writeMessage(w, m);
  return w.finish();
}

/**
 * Decodes one message occupying `r` from its current offset. Malformed input throws
 * `RaftError('invalid-message')` naming the field and offset; it never crashes.
 */
export function readMessage(r: Reader, limits: DecodeLimits = {}): Message {
  const maxBlob = limits.maxBlobBytes ?? 64 * 1024 * 1024;
  const maxEntries = limits.maxEntries ?? 1_000_000;
  const version = r.u8('version');
  if (version !== WIRE_VERSION) r.fail('version', `unsupported wire version ${version}`);
  const code = r.u8('type');
  const type = TYPES_BY_CODE.get(code);
  if (type === undefined) r.fail('type', `unknown message type ${code}`);
  const from = r.str('from');
  const to = r.str('to');
  const term = r.u64('term');
  const base = { from, to, term };
  switch (type) {
    case 'vote':
    case 'prevote':
      return { ...base, type, lastLogIndex: r.u64('lastLogIndex'), lastLogTerm: r.u64('lastLogTerm'), transfer: bool(r, 'transfer') };
    case 'vote-resp':
    case 'prevote-resp':
      return { ...base, type, reject: bool(r, 'reject') };
    case 'app': {
      const prevIndex = r.u64('prevIndex');
      const prevTerm = r.u64('prevTerm');
      const commit = r.u64('commit');
      return { ...base, type, prevIndex, prevTerm, commit, entries: readMsgEntries(r, maxEntries, maxBlob) };
    }
    case 'app-resp':
      return { ...base, type, reject: bool(r, 'reject'), index: r.u64('index'), hintIndex: r.u64('hintIndex'), hintTerm: r.u64('hintTerm') };
    case 'heartbeat':
      return { ...base, type, commit: r.u64('commit'), context: r.str('context') };
    case 'heartbeat-resp':
      return { ...base, type, context: r.str('context') };
    case 'snap': {
      const meta = readSnapshotMeta(r);
      const offset = r.u64('offset');
      const totalBytes = r.u64('totalBytes');
      const done = bool(r, 'done');
      const raw = r.blob('data', maxBlob);
      return { ...base, type, meta, offset, totalBytes, done, data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
    }
    case 'snap-resp':
      return { ...base, type, index: r.u64('index'), nextOffset: r.u64('nextOffset'), done: bool(r, 'done'), reject: bool(r, 'reject') };
    case 'timeout-now':
      return { ...base, type };
    case 'read-index':
      return { ...base, type, context: r.str('context') };
    case 'read-index-resp':
      return { ...base, type, context: r.str('context'), index: r.u64('index'), reject: bool(r, 'reject') };
    case 'prop':
      return { ...base, type, entries: readMsgEntries(r, maxEntries, maxBlob) };
    case 'transfer-leader':
      return { ...base, type, target: r.str('target') };
  }
}

export function decodeMessage(bytes: Uint8Array, limits?: DecodeLimits): Message {
  const r = new Reader(bytes, 'raft message');
  const m = readMessage(r, limits);
  r.end();
  return m;
}

/** A batch on the transport: repeated (u32 length | message). */
export function encodeBatch(messages: readonly Message[]): Buffer {
  let hint = 0;
  for (const m of messages) hint += 4 + sizeHint(m);
  const w = new Writer(hint);
  for (const m of messages) {
    const at = w.length;
    w.u32(0);
    writeMessage(w, m);
    const buf = w.finish();
    buf.writeUInt32LE(w.length - at - 4, at);
  }
  return w.finish();
}

export function decodeBatch(bytes: Uint8Array, limits?: DecodeLimits): Message[] {
  const r = new Reader(bytes, 'raft batch');
  const out: Message[] = [];
  while (r.remaining > 0) {
    const len = r.u32('batch.length');
    if (len > r.remaining) r.fail('batch.length', `message length ${len} exceeds the ${r.remaining} bytes left`);
    const sub = new Reader(r.bytes(len, 'batch.message'), 'raft message');
    out.push(readMessage(sub, limits));
    sub.end();
  }
  return out;
}

export function isInvalidMessage(e: unknown): boolean {
  return e instanceof RaftError && e.code === 'invalid-message';
}
