import { crc32 } from 'node:zlib';
import { FrameError } from './errors.js';

/** Size of every frame header in bytes. */
export const HEADER_SIZE = 24;
/** The magic number, a u32 LE at offset 0: bytes `54 49 42 41` on the wire (the seed's "ABIT" header). */
export const MAGIC = 0x41424954;
/** The framing version carried in every header (byte 4). Version 1 was the seed's incompatible framing. */
export const PROTOCOL_VERSION = 2;
/** Default maximum payload size: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** Largest request id: ids are u64 on the wire but must fit a JS safe integer. */
export const MAX_FRAME_ID = Number.MAX_SAFE_INTEGER;

/** Frame types (byte 5 of the header). */
export const FrameType = {
  HELLO: 0x01,
  PING: 0x02,
  PONG: 0x03,
  GOAWAY: 0x04,
  MESSAGE: 0x10,
  REQUEST: 0x11,
  RESPONSE: 0x12,
  ERROR: 0x13,
  CANCEL: 0x14,
  STREAM_DATA: 0x15,
  STREAM_END: 0x16,
  CREDIT: 0x17,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const knownTypes = new Set<number>(Object.values(FrameType));

/** Frame flags (u16 LE at offset 6). Unknown bits must be zero. */
export const FrameFlags = {
  /** The body is raw bytes, not CBOR. */
  RAW: 0x0001,
  /** REQUEST: the caller expects a stream of STREAM_DATA frames (server streaming). */
  SERVER_STREAM: 0x0002,
  /** REQUEST: the request body follows as STREAM_DATA frames (client streaming). */
  CLIENT_STREAM: 0x0004,
} as const;
const KNOWN_FLAGS = 0x0007;

/** One decoded frame. `payload` is a view into the received bytes whenever possible (no copy). */
export interface Frame {
  readonly type: FrameType;
  readonly flags: number;
  readonly id: number;
  readonly payload: Uint8Array;
}

export interface FrameDecoderOptions {
  /** Largest accepted payload in bytes; larger headers are rejected before buffering. @default 16 MiB */
  readonly maxFrameSize?: number;
  /** Verify the CRC-32 when a header carries a non-zero checksum. @default true */
  readonly verifyChecksum?: boolean;
  /**
   * Pass the same frame object to every `onFrame` call (fewer allocations on hot paths). The
   * object is valid only during the call; its `payload` bytes stay valid. @default false
   */
  readonly reuseFrame?: boolean;
}

interface MutableFrame {
  type: FrameType;
  flags: number;
  id: number;
  payload: Uint8Array;
}

/** Decoder states, exposed for header timeouts and tests. */
export type DecoderState = 'idle' | 'header' | 'payload' | 'failed';

/**
 * A buffer to assemble a payload split across chunks: uninitialised memory (every byte is
 * overwritten before the frame is emitted), so large payloads are not zero-filled first.
 */
function assemblyBuffer(length: number): Uint8Array {
  return length >= 4096 ? Buffer.allocUnsafeSlow(length) : new Uint8Array(length);
}

/**
 * Validates a 24-byte header starting at `off` of `buf`; returns the payload length.
 * Throws a {@link FrameError} naming the field and offset.
 */
function checkHeader(view: DataView, off: number, maxFrameSize: number): number {
  if (view.getUint32(off, true) !== MAGIC) throw new FrameError('FRAME_INVALID', 'magic', 0, 'bad magic');
  const version = view.getUint8(off + 4);
  if (version !== PROTOCOL_VERSION) throw new FrameError('FRAME_INVALID', 'version', 4, `unsupported version ${version}`);
  const type = view.getUint8(off + 5);
  if (!knownTypes.has(type)) throw new FrameError('FRAME_INVALID', 'type', 5, `unknown frame type 0x${type.toString(16)}`);
  const flags = view.getUint16(off + 6, true);
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new FrameError('FRAME_INVALID', 'flags', 6, `unknown flags 0x${flags.toString(16)}`);
  if (view.getUint32(off + 12, true) > 0x1fffff) throw new FrameError('FRAME_INVALID', 'id', 8, 'id above 2^53-1');
  const length = view.getUint32(off + 16, true);
  if (length > maxFrameSize) throw new FrameError('FRAME_TOO_LARGE', 'length', 16, `payload of ${length} bytes exceeds ${maxFrameSize}`);
  return length;
}

/**
 * Push parser for frames. Feed it chunks as they arrive, in any split; it calls `onFrame` for every
 * complete frame, in order. Payloads that arrive within one chunk are views into that chunk (no
 * copy); payloads split across chunks are assembled into one buffer of exactly their length.
 *
 * On bad input `push` throws a {@link FrameError} and the decoder stays failed (every later push
 * throws the same error): a byte stream cannot resynchronise after a bad header.
 */
export class FrameDecoder {
  readonly #maxFrameSize: number;
  readonly #verify: boolean;
  readonly #onFrame: (frame: Frame) => void;
  readonly #reused: MutableFrame | undefined;
  readonly #header = new Uint8Array(HEADER_SIZE);
  readonly #headerView = new DataView(this.#header.buffer);
  #headerFill = 0;
  /** Pieces of a payload split across chunks (views, joined once when complete), and its length. */
  #parts: Uint8Array[] | undefined;
  /** Bytes used in each part (a scratch part may not be full). */
  #partLens: number[] = [];
  /** Index in #parts of the scratch buffer small pieces are copied into, or -1. */
  #scratch = -1;
  #payloadLength = 0;
  #payloadFill = 0;
  #error: FrameError | undefined;

  constructor(onFrame: (frame: Frame) => void, options: FrameDecoderOptions = {}) {
    this.#onFrame = onFrame;
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#verify = options.verifyChecksum ?? true;
    this.#reused = options.reuseFrame === true ? { type: FrameType.PING, flags: 0, id: 0, payload: new Uint8Array(0) } : undefined;
  }

  /** Where the decoder is: between frames, inside a header, inside a payload, or failed. */
  get state(): DecoderState {
    if (this.#error !== undefined) return 'failed';
    if (this.#parts !== undefined) return 'payload';
    return this.#headerFill > 0 ? 'header' : 'idle';
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.#headerFill + this.#payloadFill;
  }

  push(chunk: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    try {
      this.#push(chunk);
    } catch (e) {
      if (e instanceof FrameError) this.#error = e;
      throw e;
    }
  }

  #push(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.length;
    // Finish a payload in progress.
    if (this.#parts !== undefined) {
      pos = this.#fillPayload(chunk, 0);
      if (this.#inPayload()) return;
    }
    // Finish a header in progress.
    if (this.#headerFill > 0) {
      const take = Math.min(HEADER_SIZE - this.#headerFill, end - pos);
      this.#header.set(chunk.subarray(pos, pos + take), this.#headerFill);
      this.#headerFill += take;
      pos += take;
      if (this.#headerFill < HEADER_SIZE) return;
      this.#headerFill = 0;
      const length = checkHeader(this.#headerView, 0, this.#maxFrameSize);
      if (end - pos >= length) {
        this.#emit(this.#headerView, 0, chunk.subarray(pos, pos + length));
        pos += length;
      } else {
        this.#startPayload(length);
        pos = this.#fillPayload(chunk, pos);
        if (this.#inPayload()) return;
      }
    }
    // Whole frames straight out of the chunk.
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (end - pos >= HEADER_SIZE) {
      const length = checkHeader(view, pos, this.#maxFrameSize);
      const start = pos + HEADER_SIZE;
      if (end - start >= length) {
        this.#emit(view, pos, chunk.subarray(start, start + length));
        pos = start + length;
      } else {
        this.#header.set(chunk.subarray(pos, start));
        this.#startPayload(length);
        this.#fillPayload(chunk, start);
        return;
      }
    }
    if (pos < end) {
      // A partial header: validate what we can already (magic, version, type) to fail early.
      this.#header.set(chunk.subarray(pos, end));
      this.#headerFill = end - pos;
      this.#checkPartialHeader();
    }
  }

  #inPayload(): boolean {
    return this.#parts !== undefined;
  }

  #startPayload(length: number): void {
    this.#parts = [];
    this.#partLens = [];
    this.#scratch = -1;
    this.#payloadLength = length;
    this.#payloadFill = 0;
  }

  #checkPartialHeader(): void {
    const h = this.#header;
    const n = this.#headerFill;
    const magic = [0x54, 0x49, 0x42, 0x41];
    for (let i = 0; i < Math.min(n, 4); i++) {
      if (h[i] !== magic[i]) throw new FrameError('FRAME_INVALID', 'magic', i, 'bad magic');
    }
    if (n > 4 && h[4] !== PROTOCOL_VERSION) throw new FrameError('FRAME_INVALID', 'version', 4, `unsupported version ${h[4] ?? 0}`);
    if (n > 5 && !knownTypes.has(h[5] ?? 0)) throw new FrameError('FRAME_INVALID', 'type', 5, `unknown frame type 0x${(h[5] ?? 0).toString(16)}`);
  }

  /**
   * Collects a payload split across chunks. Large pieces are kept as views (the ByteStream
   * contract: delivered chunks are not modified afterwards); small pieces (a trickle) are copied
   * into 64 KiB scratch buffers. Everything is joined with one copy when complete, so the memory
   * held tracks what actually arrived (plus at most one scratch buffer), never the length a header
   * merely announced, and a one-byte-at-a-time sender cannot make us hold one object per byte.
   */
  #fillPayload(chunk: Uint8Array, pos: number): number {
    const parts = this.#parts;
    if (parts === undefined) return pos;
    const take = Math.min(this.#payloadLength - this.#payloadFill, chunk.length - pos);
    if (take >= 16 * 1024) {
      parts.push(chunk.subarray(pos, pos + take));
      this.#partLens.push(take);
      this.#scratch = -1;
    } else if (take > 0) {
      let idx = this.#scratch;
      let buf = idx >= 0 ? parts[idx] : undefined;
      let used = idx >= 0 ? (this.#partLens[idx] ?? 0) : 0;
      if (buf === undefined || buf.length - used < take) {
        const remaining = this.#payloadLength - this.#payloadFill;
        buf = assemblyBuffer(Math.max(take, Math.min(remaining, 64 * 1024)));
        idx = parts.length;
        parts.push(buf);
        this.#partLens.push(0);
        this.#scratch = idx;
        used = 0;
      }
      buf.set(chunk.subarray(pos, pos + take), used);
      this.#partLens[idx] = used + take;
    }
    this.#payloadFill += take;
    if (this.#payloadFill === this.#payloadLength) {
      const payload = assemblyBuffer(this.#payloadLength);
      let off = 0;
      for (let k = 0; k < parts.length; k++) {
        const len = this.#partLens[k] ?? 0;
        const part = parts[k];
        if (part !== undefined) payload.set(len === part.length ? part : part.subarray(0, len), off);
        off += len;
      }
      this.#parts = undefined;
      this.#partLens = [];
      this.#scratch = -1;
      this.#payloadFill = 0;
      this.#emit(this.#headerView, 0, payload);
    }
    return pos + take;
  }

  #emit(view: DataView, off: number, payload: Uint8Array): void {
    const crc = view.getUint32(off + 20, true);
    if (crc !== 0 && this.#verify && crc32(payload) !== crc) {
      throw new FrameError('CHECKSUM_MISMATCH', 'checksum', 20, 'payload CRC-32 mismatch');
    }
    const id = view.getUint32(off + 8, true) + view.getUint32(off + 12, true) * 0x1_0000_0000;
    const type = view.getUint8(off + 5) as FrameType;
    const flags = view.getUint16(off + 6, true);
    const r = this.#reused;
    if (r === undefined) {
      this.#onFrame({ type, flags, id, payload });
      return;
    }
    r.type = type;
    r.flags = flags;
    r.id = id;
    r.payload = payload;
    this.#onFrame(r);
  }
}

/** Writes a 24-byte header into `out` at `off`. `crc` 0 means "not computed". */
export function writeHeader(out: Uint8Array, off: number, type: FrameType, flags: number, id: number, length: number, crc = 0): void {
  // Byte by byte: no DataView allocation per frame (hot path).
  out[off] = 0x54;
  out[off + 1] = 0x49;
  out[off + 2] = 0x42;
  out[off + 3] = 0x41;
  out[off + 4] = PROTOCOL_VERSION;
  out[off + 5] = type;
  out[off + 6] = flags & 0xff;
  out[off + 7] = flags >>> 8;
  const lo = id >>> 0;
  const hi = Math.floor(id / 0x1_0000_0000);
  out[off + 8] = lo & 0xff;
  out[off + 9] = (lo >>> 8) & 0xff;
  out[off + 10] = (lo >>> 16) & 0xff;
  out[off + 11] = lo >>> 24;
  out[off + 12] = hi & 0xff;
  out[off + 13] = (hi >>> 8) & 0xff;
  out[off + 14] = (hi >>> 16) & 0xff;
  out[off + 15] = hi >>> 24;
  out[off + 16] = length & 0xff;
  out[off + 17] = (length >>> 8) & 0xff;
  out[off + 18] = (length >>> 16) & 0xff;
  out[off + 19] = length >>> 24;
  out[off + 20] = crc & 0xff;
  out[off + 21] = (crc >>> 8) & 0xff;
  out[off + 22] = (crc >>> 16) & 0xff;
  out[off + 23] = crc >>> 24;
}

/** Encodes one frame into a single new buffer (tests, vectors, one-off writes). */
export function encodeFrame(frame: Frame, options: { checksum?: boolean } = {}): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + frame.payload.length);
  writeHeader(out, 0, frame.type, frame.flags, frame.id, frame.payload.length, options.checksum === true ? crc32(frame.payload) : 0);
  out.set(frame.payload, HEADER_SIZE);
  return out;
}

export interface FrameEncoderOptions {
  /** Compute a CRC-32 of every payload. @default false (checksum field 0 = not computed) */
  readonly checksum?: boolean;
  /** Payloads up to this size are copied into a shared batch buffer; larger ones are referenced. @default 4096 */
  readonly copyThreshold?: number;
}

/**
 * Accumulates frames into a batch for one vectored write: small frames are packed into one
 * buffer, large payloads are kept by reference next to their header (no copy). `flush()` returns
 * the chunks to hand to `writev` / a corked socket, and resets the batch.
 */
export class FrameEncoder {
  readonly #checksum: boolean;
  readonly #copyThreshold: number;
  #chunks: Uint8Array[] = [];
  #buf: Uint8Array = new Uint8Array(0);
  #nextSize = 128;
  #start = 0;
  #pos = 0;
  #bytes = 0;

  constructor(options: FrameEncoderOptions = {}) {
    this.#checksum = options.checksum ?? false;
    this.#copyThreshold = options.copyThreshold ?? 4096;
  }

  /** Bytes waiting in the batch. */
  get pendingBytes(): number {
    return this.#bytes;
  }

  /** Adds one frame; `body` chunks are concatenated to form the payload. */
  push(type: FrameType, flags: number, id: number, body: Uint8Array, prefix?: Uint8Array): void {
    const plen = body.length + (prefix?.length ?? 0);
    let crc = 0;
    if (this.#checksum && plen > 0) crc = prefix === undefined ? crc32(body) : crc32(body, crc32(prefix));
    const inline = plen <= this.#copyThreshold;
    const need = HEADER_SIZE + (inline ? plen : prefix?.length ?? 0);
    this.#reserve(need);
    writeHeader(this.#buf, this.#pos, type, flags, id, plen, crc);
    this.#pos += HEADER_SIZE;
    if (prefix !== undefined) {
      this.#buf.set(prefix, this.#pos);
      this.#pos += prefix.length;
    }
    if (inline) {
      this.#buf.set(body, this.#pos);
      this.#pos += body.length;
    } else {
      this.#cut();
      this.#chunks.push(body);
    }
    this.#bytes += HEADER_SIZE + plen;
  }

  #reserve(n: number): void {
    if (this.#buf.length - this.#pos >= n) return;
    this.#cut();
    // Grow the batch buffer with demand: idle connections stay small, busy ones batch in 64 KiB.
    this.#buf = Buffer.allocUnsafeSlow(Math.max(this.#nextSize, n)); // every byte is written before it is sent
    this.#nextSize = Math.min(64 * 1024, this.#nextSize * 2);
    this.#start = 0;
    this.#pos = 0;
  }

  #cut(): void {
    if (this.#pos > this.#start) this.#chunks.push(this.#buf.subarray(this.#start, this.#pos));
    this.#start = this.#pos;
  }

  /** Returns the batch as chunks (each frame whole within the list) and starts a new batch. */
  flush(): Uint8Array[] {
    this.#cut();
    const out = this.#chunks;
    this.#chunks = [];
    this.#bytes = 0;
    // The written region of the batch buffer now belongs to the caller; continue after it.
    this.#start = this.#pos;
    return out;
  }
}
