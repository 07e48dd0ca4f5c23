import { Decoder, Encoder } from 'cbor-x';
import { TransportError } from './errors.js';

/** Default maximum nesting depth of a decoded CBOR payload. */
export const DEFAULT_MAX_DEPTH = 64;

const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Encodes a value as CBOR (plain maps, no records, so any CBOR peer can read it). */
export function encodeCbor(value: unknown): Uint8Array {
  try {
    return encoder.encode(value);
  } catch (e) {
    throw new TransportError('PAYLOAD_INVALID', 'value cannot be encoded as CBOR', { cause: e });
  }
}

function cborFail(msg: string, pos: number): never {
  throw new TransportError('PAYLOAD_INVALID', `CBOR ${msg} at offset ${pos}`);
}

/**
 * Checks the nesting depth of CBOR bytes without decoding them (arrays, maps and tags nest).
 * Returns normally or throws PAYLOAD_INVALID naming the offset. Runs in O(length) with an
 * explicit stack, so hostile nesting cannot overflow the JS stack. (No closures: hot path.)
 */
export function checkCborDepth(bytes: Uint8Array, maxDepth: number): void {
  // Each stack entry counts the items still expected at that level (-1 = indefinite).
  const stack: number[] = [];
  let pos = 0;
  const n = bytes.length;
  while (pos < n) {
    const ib = bytes[pos] ?? 0;
    const major = ib >> 5;
    const info = ib & 0x1f;
    pos++;
    let completed = false;
    if (ib === 0xff) {
      // "break" closes the innermost indefinite container.
      if (stack.length === 0 || (stack[stack.length - 1] ?? 0) >= 0) cborFail('unexpected break', pos - 1);
      stack.pop();
      completed = true;
    } else {
      let arg = info;
      if (info >= 24 && info <= 27) {
        const size = 1 << (info - 24);
        if (pos + size > n) cborFail('truncated', pos);
        arg = 0;
        for (let i = 0; i < size; i++) arg = arg * 256 + (bytes[pos + i] ?? 0);
        pos += size;
      } else if (info > 27 && info < 31) cborFail('reserved additional info', pos - 1);
      const indefinite = info === 31;
      if (major <= 1 || major === 7) {
        if (indefinite && major !== 7) cborFail('bad indefinite', pos - 1);
        completed = true;
      } else if (major <= 3) {
        if (indefinite) {
          if (stack.length >= maxDepth) cborFail(`nesting deeper than ${maxDepth}`, pos - 1);
          stack.push(-1);
        } else {
          if (arg > n - pos) cborFail('truncated string', pos);
          pos += arg;
          completed = true;
        }
      } else if (major <= 5) {
        const items = indefinite ? -1 : major === 5 ? arg * 2 : arg;
        if (items === 0) completed = true;
        else {
          if (stack.length >= maxDepth) cborFail(`nesting deeper than ${maxDepth}`, pos - 1);
          if (items > n - pos) cborFail('truncated container', pos);
          stack.push(items);
        }
      } else {
        if (indefinite) cborFail('bad tag', pos - 1);
        if (stack.length >= maxDepth) cborFail(`nesting deeper than ${maxDepth}`, pos - 1);
        stack.push(1);
      }
    }
    // One item completed at the current level: pop the levels it finished.
    while (completed && stack.length > 0) {
      const top = stack.length - 1;
      const left = stack[top] ?? 0;
      if (left < 0) break;
      if (left > 1) {
        stack[top] = left - 1;
        break;
      }
      stack.pop();
    }
  }
}

/**
 * Cheap upper bound: nesting needs one array/map/tag head byte (0x80..0xdb) per level, so a payload
 * with at most `maxDepth` such bytes anywhere cannot nest deeper. Most payloads stop here.
 */
function mayNestDeeper(bytes: Uint8Array, maxDepth: number): boolean {
  // Hot path (every received payload longer than maxDepth): container heads have the high bit
  // set, so words without one are skipped four bytes at a time, and the scan stops as soon as the
  // bytes left could no longer push the count past the limit.
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  let heads = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    if (heads + (n - i) <= maxDepth) return false;
    if ((view.getUint32(i) & 0x80808080) === 0) continue;
    for (let j = i; j < i + 4; j++) if ((view.getUint8(j) - 0x80) >>> 0 <= 0xdb - 0x80) heads++;
    if (heads > maxDepth) return true;
  }
  for (; i < n; i++) if ((view.getUint8(i) - 0x80) >>> 0 <= 0xdb - 0x80) heads++;
  return heads > maxDepth;
}

/**
 * Decodes CBOR with limits: the size is bounded by the frame size, nesting by `maxDepth`, and
 * keys named `__proto__` never reach an object's prototype (cbor-x renames them). Any failure is
 * a PAYLOAD_INVALID {@link TransportError}.
 */
export function decodeCbor(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  if (bytes.length > maxDepth && mayNestDeeper(bytes, maxDepth)) checkCborDepth(bytes, maxDepth);
  try {
    return decoder.decode(bytes);
  } catch (e) {
    throw new TransportError('PAYLOAD_INVALID', 'payload is not valid CBOR', { cause: e });
  }
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

const prefixCache = new Map<string, Uint8Array>();
const prefixCacheT = new Map<string, Uint8Array>();

/** Encodes the method prefix of REQUEST/MESSAGE payloads: u8 length + UTF-8 name (+ u32 LE timeout). */
export function encodeMethodPrefix(method: string, timeoutMs: number | undefined): Uint8Array {
  // Prefixes without a deadline are the same bytes every time: cache them (bounded).
  if (timeoutMs === undefined || timeoutMs === 0) {
    const cache = timeoutMs === undefined ? prefixCache : prefixCacheT;
    const hit = cache.get(method);
    if (hit !== undefined) return hit;
    const fresh = buildMethodPrefix(method, timeoutMs);
    if (cache.size < 4096) cache.set(method, fresh);
    return fresh;
  }
  return buildMethodPrefix(method, timeoutMs);
}

function buildMethodPrefix(method: string, timeoutMs: number | undefined): Uint8Array {
  const name = utf8.encode(method);
  if (name.length === 0 || name.length > 255) {
    throw new TransportError('INVALID_ARGUMENT', `method name must be 1..255 UTF-8 bytes, got ${name.length}`);
  }
  const withTimeout = timeoutMs !== undefined;
  const out = new Uint8Array(1 + name.length + (withTimeout ? 4 : 0));
  out[0] = name.length;
  out.set(name, 1);
  if (withTimeout) new DataView(out.buffer).setUint32(1 + name.length, Math.max(0, Math.min(0xffffffff, Math.ceil(timeoutMs))), true);
  return out;
}

const shared = { method: '', timeoutMs: 0, bodyOffset: 0 };

/** Remembers the last method name decoded on a connection, so repeated calls skip UTF-8 decoding. */
export interface MethodCache {
  bytes: Uint8Array;
  name: string;
}

/** Parses the method prefix; returns the method, the timeout (0 = none) and where the body starts. */
export function decodeMethodPrefix(
  payload: Uint8Array,
  withTimeout: boolean,
  cache?: MethodCache,
): { method: string; timeoutMs: number; bodyOffset: number } {
  const len = payload[0] ?? 0;
  const fixed = 1 + len + (withTimeout ? 4 : 0);
  if (len === 0 || payload.length < fixed) throw new TransportError('PROTOCOL_ERROR', 'truncated method prefix');
  if (cache?.bytes.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (cache.bytes[i] !== payload[i + 1]) {
        same = false;
        break;
      }
    }
    if (same) {
      // Hot path: one shared result object, consumed at once by the caller.
      shared.method = cache.name;
      shared.timeoutMs = withTimeout ? readU32(payload, 1 + len) : 0;
      shared.bodyOffset = fixed;
      return shared;
    }
  }
  let method = '';
  let ascii = true;
  for (let i = 1; i <= len; i++) {
    const c = payload[i] ?? 0;
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    method += String.fromCharCode(c);
  }
  if (!ascii) {
    try {
      method = utf8d.decode(payload.subarray(1, 1 + len));
    } catch (e) {
      throw new TransportError('PROTOCOL_ERROR', 'method name is not UTF-8', { cause: e });
    }
  }
  if (cache !== undefined) {
    cache.bytes = payload.slice(1, 1 + len);
    cache.name = method;
  }
  const timeoutMs = withTimeout ? readU32(payload, 1 + len) : 0;
  return { method, timeoutMs, bodyOffset: fixed };
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) | ((b[off + 1] ?? 0) << 8) | ((b[off + 2] ?? 0) << 16)) + (b[off + 3] ?? 0) * 0x1000000;
}
