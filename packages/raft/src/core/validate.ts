import { InvalidMessageError } from '../errors.js';
import type { Entry, Message } from './types.js';

const TYPES = new Set<string>([
  'vote', 'vote-resp', 'prevote', 'prevote-resp', 'app', 'app-resp', 'heartbeat', 'heartbeat-resp',
  'snap', 'snap-resp', 'timeout-now', 'read-index', 'read-index-resp', 'prop', 'transfer-leader',
]);

function bad(field: string, msg: string): InvalidMessageError {
  return new InvalidMessageError('invalid-message', field, msg);
}

function u(o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, `${field} must be a non-negative safe integer`);
  return v;
}

function str(o: Record<string, unknown>, field: string, allowEmpty = false): string {
  const v = o[field];
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0)) throw bad(field, `${field} must be a ${allowEmpty ? '' : 'non-empty '}string`);
  return v;
}

function bool(o: Record<string, unknown>, field: string): boolean {
  const v = o[field];
  if (typeof v !== 'boolean') throw bad(field, `${field} must be a boolean`);
  return v;
}

function bytes(o: Record<string, unknown>, field: string): Uint8Array {
  const v = o[field];
  if (!(v instanceof Uint8Array)) throw bad(field, `${field} must be a Uint8Array`);
  return v;
}

function entries(o: Record<string, unknown>, field: string, firstIndex: number, maxTerm: number, minTerm: number, checkIdx: boolean): void {
  const v = o[field];
  if (!Array.isArray(v)) throw bad(field, `${field} must be an array`);
  let prevTerm = minTerm;
  // Hot path (every append): plain checks, field names are only built on failure.
  for (let i = 0; i < v.length; i++) {
    const e = v[i] as { term?: unknown; index?: unknown; type?: unknown; data?: unknown } | null;
    if (typeof e !== 'object' || e === null) throw bad(`${field}[${i}]`, 'entry must be an object');
    const { term, index, type, data } = e;
    if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0) throw bad(`${field}[${i}].term`, 'term must be a non-negative safe integer');
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw bad(`${field}[${i}].index`, 'index must be a non-negative safe integer');
    if (type !== 'normal' && type !== 'conf-change' && type !== 'noop') throw bad(`${field}[${i}].type`, 'unknown entry type');
    if (!(data instanceof Uint8Array)) throw bad(`${field}[${i}].data`, 'data must be a Uint8Array');
    if (checkIdx) {
      if (index !== firstIndex + i) throw bad(`${field}[${i}].index`, `entries must be contiguous from ${firstIndex}`);
      if (term < prevTerm || term > maxTerm) throw bad(`${field}[${i}].term`, `entry term ${term} out of range [${prevTerm}, ${maxTerm}]`);
      prevTerm = term;
    }
  }
}

export interface ValidationLimits {
  readonly maxSnapshotChunkBytes: number;
  readonly maxSnapshotBytes: number;
}

/**
 * Structural validation of a message from the wire. Throws `InvalidMessageError` naming the
 * field; never mutates anything.
 */
export function validateMessage(m: unknown, limits: ValidationLimits): asserts m is Message {
  if (typeof m !== 'object' || m === null) throw bad('message', 'message must be an object');
  const o = m as Record<string, unknown>;
  if (typeof o.type !== 'string' || !TYPES.has(o.type)) throw bad('type', `unknown message type ${String(o.type)}`);
  str(o, 'from');
  str(o, 'to');
  const term = u(o, 'term');
  switch (o.type as Message['type']) {
    case 'vote':
    case 'prevote': {
      const li = u(o, 'lastLogIndex');
      const lt = u(o, 'lastLogTerm');
      bool(o, 'transfer');
      if (lt > term) throw bad('lastLogTerm', 'lastLogTerm is above the campaign term');
      if (li === 0 && lt !== 0) throw bad('lastLogTerm', 'lastLogTerm must be 0 for an empty log');
      break;
    }
    case 'vote-resp':
    case 'prevote-resp':
      bool(o, 'reject');
      break;
    case 'app': {
      const prev = u(o, 'prevIndex');
      const pt = u(o, 'prevTerm');
      u(o, 'commit');
      if (pt > term) throw bad('prevTerm', 'prevTerm is above the message term');
      if (prev === 0 && pt !== 0) throw bad('prevTerm', 'prevTerm must be 0 at index 0');
      entries(o, 'entries', prev + 1, term, pt, true);
      break;
    }
    case 'app-resp': {
      bool(o, 'reject');
      const idx = u(o, 'index');
      const hi = u(o, 'hintIndex');
      u(o, 'hintTerm');
      if (hi > idx) throw bad('hintIndex', 'hintIndex is above the rejected index');
      break;
    }
    case 'heartbeat':
      u(o, 'commit');
      str(o, 'context', true);
      break;
    case 'heartbeat-resp':
      str(o, 'context', true);
      break;
    case 'snap': {
      const meta = o.meta;
      if (typeof meta !== 'object' || meta === null) throw bad('meta', 'meta must be an object');
      const mr = meta as Record<string, unknown>;
      const mi = u(mr, 'index');
      const mt = u(mr, 'term');
      if (mi === 0) throw bad('meta.index', 'snapshot index must be > 0');
      if (mt > term || mt === 0) throw bad('meta.term', 'snapshot term out of range');
      const conf = mr.conf;
      if (typeof conf !== 'object' || conf === null) throw bad('meta.conf', 'conf must be an object');
      const cr = conf as Record<string, unknown>;
      for (const k of ['voters', 'learners', 'votersOutgoing', 'learnersNext', 'removed']) {
        const arr = cr[k];
        if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string' && x.length > 0)) {
          throw bad(`meta.conf.${k}`, 'must be an array of node ids');
        }
      }
      bool(cr, 'autoLeave');
      const offset = u(o, 'offset');
      const total = u(o, 'totalBytes');
      const data = bytes(o, 'data');
      const done = bool(o, 'done');
      if (data.byteLength > limits.maxSnapshotChunkBytes) {
        throw new InvalidMessageError('snapshot-chunk-too-large', 'data', `chunk of ${data.byteLength} bytes exceeds ${limits.maxSnapshotChunkBytes}`);
      }
      if (total > limits.maxSnapshotBytes) {
        throw new InvalidMessageError('snapshot-chunk-too-large', 'totalBytes', `snapshot of ${total} bytes exceeds ${limits.maxSnapshotBytes}`);
      }
      if (offset + data.byteLength > total) throw bad('offset', 'chunk extends beyond totalBytes');
      if (done !== (offset + data.byteLength === total)) throw bad('done', 'done must be set exactly on the last chunk');
      break;
    }
    case 'snap-resp':
      u(o, 'index');
      u(o, 'nextOffset');
      bool(o, 'done');
      bool(o, 'reject');
      break;
    case 'timeout-now':
      break;
    case 'read-index':
      str(o, 'context', true);
      break;
    case 'read-index-resp':
      str(o, 'context', true);
      u(o, 'index');
      bool(o, 'reject');
      break;
    case 'prop':
      entries(o, 'entries', 0, 0, 0, false);
      break;
    case 'transfer-leader':
      str(o, 'target');
      break;
  }
}

export type { Entry };
