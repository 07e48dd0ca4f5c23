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

/**
 * Checks the nesting depth of CBOR bytes without decoding them (arrays, maps and tags nest).
 * Returns normally or throws PAYLOAD_INVALID naming the offset. Runs in O(length) with an
 * explicit stack, so hostile nesting cannot overflow the JS stack.
 */
export function checkCborDepth(bytes: Uint8Array, maxDepth: number): void {
  // Each stack entry counts the items still expected at that level (-1 = indefinite).
  const stack: number[] = [];
  let pos = 0;
  const n = bytes.length;
  const at = (i: number): number => bytes[i] ?? 0;
  const fail = (msg: string): never => {
    throw new TransportError('PAYLOAD_INVALID', `CBOR ${msg} at offset ${pos}`);
  };
  const itemDone = (): void => {
    // One item completed at the current level; pop finished levels.
    while (stack.length > 0) {
      const top = stack.length - 1;
      const left = stack[top] ?? 0;
      if (left < 0) return;
      if (left > 1) {
        stack[top] = left - 1;
        return;
      }
      stack.pop();
    }
  };
  while (pos < n) {
    const ib = at(pos);
    const major = ib >> 5;
    const info = ib & 0x1f;
    pos++;
    if (ib === 0xff) {
      // "break" closes the innermost indefinite container.
      if (stack.length === 0 || (stack[stack.length - 1] ?? 0) >= 0) fail('unexpected break');
      stack.pop();
      itemDone();
      continue;
    }
    let arg = info;
    if (info === 24) {
      if (pos >= n) fail('truncated');
      arg = at(pos++);
    }
    else if (info === 25) {
      if (pos + 2 > n) fail('truncated');
      arg = (at(pos) << 8) | at(pos + 1);
      pos += 2;
    } else if (info === 26) {
      if (pos + 4 > n) fail('truncated');
      arg = at(pos) * 0x1000000 + ((at(pos + 1) << 16) | (at(pos + 2) << 8) | at(pos + 3));
      pos += 4;
    } else if (info === 27) {
      if (pos + 8 > n) fail('truncated');
      const hi = at(pos) * 0x1000000 + ((at(pos + 1) << 16) | (at(pos + 2) << 8) | at(pos + 3));
      const lo = at(pos + 4) * 0x1000000 + ((at(pos + 5) << 16) | (at(pos + 6) << 8) | at(pos + 7));
      arg = hi * 0x1_0000_0000 + lo;
      pos += 8;
    } else if (info > 27 && info < 31) fail('reserved additional info');
    const indefinite = info === 31;
    switch (major) {
      case 0:
      case 1:
      case 7:
        if (indefinite && major !== 7) fail('bad indefinite');
        itemDone();
        break;
      case 2:
      case 3:
        if (indefinite) {
          if (stack.length >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
          stack.push(-1);
        } else {
          if (arg > n - pos) fail('truncated string');
          pos += arg;
          itemDone();
        }
        break;
      case 4:
      case 5: {
        const items = indefinite ? -1 : major === 5 ? arg * 2 : arg;
        if (items === 0) {
          itemDone();
          break;
        }
        if (stack.length >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
        if (items > n - pos) fail('truncated container');
        stack.push(items);
        break;
      }
      case 6:
        if (indefinite) fail('bad tag');
        if (stack.length >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
        stack.push(1);
        break;
    }
  }
}

/**
 * Decodes CBOR with limits: the size is bounded by the frame size, nesting by `maxDepth`, and
 * keys named `__proto__` never reach an object's prototype (cbor-x renames them). Any failure is
 * a PAYLOAD_INVALID {@link TransportError}.
 */
export function decodeCbor(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  if (bytes.length > maxDepth) checkCborDepth(bytes, maxDepth);
  try {
    return decoder.decode(bytes);
  } catch (e) {
    throw new TransportError('PAYLOAD_INVALID', 'payload is not valid CBOR', { cause: e });
  }
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** Encodes the method prefix of REQUEST/MESSAGE payloads: u8 length + UTF-8 name (+ u32 LE timeout). */
export function encodeMethodPrefix(method: string, timeoutMs: number | undefined): Uint8Array {
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

const methodCache = new Map<string, string>();

/** Parses the method prefix; returns the method, the timeout (0 = none) and where the body starts. */
export function decodeMethodPrefix(payload: Uint8Array, withTimeout: boolean): { method: string; timeoutMs: number; bodyOffset: number } {
  const len = payload[0] ?? 0;
  const fixed = 1 + len + (withTimeout ? 4 : 0);
  if (len === 0 || payload.length < fixed) throw new TransportError('PROTOCOL_ERROR', 'truncated method prefix');
  const nameBytes = payload.subarray(1, 1 + len);
  let method: string;
  try {
    method = utf8d.decode(nameBytes);
  } catch (e) {
    throw new TransportError('PROTOCOL_ERROR', 'method name is not UTF-8', { cause: e });
  }
  if (methodCache.size < 1024) {
    const cached = methodCache.get(method);
    if (cached === undefined) methodCache.set(method, method);
    else method = cached;
  }
  const timeoutMs = withTimeout ? new DataView(payload.buffer, payload.byteOffset + 1 + len, 4).getUint32(0, true) : 0;
  return { method, timeoutMs, bodyOffset: fixed };
}
