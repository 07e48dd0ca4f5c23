/**
 * The abstract carrier a {@link SecureChannel} runs over: a duplex of frames (whole messages,
 * delivered intact and in order, or the duplex ends). Adapters: byte streams with a 4-byte length
 * prefix (TCP / Unix sockets), and an in-memory pair for tests.
 */
import type { Socket } from 'node:net';
import type { ByteStream } from '@abi/transport';
import { concatBytes } from './bytes.js';
import { InvalidArgumentError, LinkError, WireError } from './errors.js';

/**
 * A received frame: contiguous, or (from stream carriers, when it spans reads) the pieces that
 * concatenate to it, so large records are not copied before decryption.
 */
export type Frame = Uint8Array | readonly Uint8Array[];

/** Total length of a frame. */
export function frameLength(f: Frame): number {
  if (f instanceof Uint8Array) return f.length;
  let n = 0;
  for (const p of f) n += p.length;
  return n;
}

/** A frame as one contiguous array (copies only when it is in pieces). */
export function flattenFrame(f: Frame): Uint8Array {
  if (f instanceof Uint8Array) return f;
  if (f.length === 1 && f[0] !== undefined) return f[0];
  return concatBytes(...f);
}

export interface FrameSink {
  onFrame(frame: Frame): void;
  /** The duplex ended: cleanly (no argument) or with an error. Called at most once. */
  onEnd(error?: LinkError): void;
}

export interface FrameDuplex {
  /**
   * Sends one frame, given whole or as pieces to concatenate. A returned promise means "wait
   * before sending more" (back-pressure).
   */
  send(frame: Uint8Array | readonly Uint8Array[]): void | Promise<void>;
  /** Starts delivery to `sink`; called once. */
  start(sink: FrameSink): void;
  /** Limits the size of incoming frames; an oversized frame ends the duplex with RECORD_TOO_LARGE before it is buffered. */
  setMaxFrame?(bytes: number): void;
  /**
   * Optional: `bytes` of memory for the next frame, which the caller fills and passes to
   * {@link send} as is; the duplex reuses it once those bytes have left the process, so large
   * frames need no allocation. Undefined when none is free (the caller allocates instead).
   */
  reserve?(bytes: number): Uint8Array | undefined;
  /** Closes the carrier (idempotent). */
  close(): void;
}

/**
 * Send memory for {@link FrameDuplex.reserve}, recycled as a ring. Regions are handed out in order
 * with 4 bytes in front for the length prefix, and reclaimed in order once the writer no longer
 * references them: the arena counts the bytes of every frame sent ({@link take}), and the writer
 * says how many of those it still holds (`held`, e.g. `socket.writableLength`). A region is never
 * handed out again while any byte of it may still be read by the writer.
 */
export class SendArena {
  readonly #size: number;
  #buf: Uint8Array | undefined;
  #head = 0;
  /** Bytes of all frames sent so far, prefixes included. */
  #written = 0;
  /** In use, oldest first: [start, end) and the byte count once it was sent (Infinity: not yet). */
  readonly #used: { start: number; end: number; mark: number }[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  /** Bytes currently held by regions not yet reclaimed. */
  get inUse(): number {
    let n = 0;
    for (const r of this.#used) n += r.end - r.start;
    return n;
  }

  /**
   * Memory for a frame of `bytes` (the caller fills it and passes it to {@link take}), or
   * undefined when the ring has no such free stretch. `held`: bytes sent that the writer still
   * references.
   */
  reserve(bytes: number, held: number): Uint8Array | undefined {
    // a region reserved and never sent is released with everything sent so far
    const last = this.#used.at(-1);
    if (last !== undefined && last.mark === Infinity) last.mark = this.#written;
    const completed = this.#written - held;
    while (this.#used.length > 0 && (this.#used[0]?.mark ?? Infinity) <= completed) this.#used.shift();
    const n = 4 + bytes;
    if (n > this.#size / 4) return undefined;
    this.#buf ??= new Uint8Array(this.#size);
    let start: number;
    const oldest = this.#used[0];
    if (oldest === undefined) start = 0;
    else if (this.#head > oldest.start) {
      if (this.#head + n <= this.#size) start = this.#head;
      else if (n <= oldest.start) start = 0;
      else return undefined;
    } else if (this.#head + n <= oldest.start) start = this.#head;
    else return undefined;
    this.#head = start + n;
    this.#used.push({ start, end: start + n, mark: Infinity });
    return this.#buf.subarray(start + 4, start + n);
  }

  /**
   * Counts a frame being sent. When it is the memory handed out last by {@link reserve}, writes
   * its length prefix in front and returns prefix and frame as one array to write; else undefined
   * (the caller writes the prefix itself).
   */
  take(frame: Uint8Array | readonly Uint8Array[]): Uint8Array | undefined {
    const len = frameLength(frame);
    this.#written += 4 + len;
    const last = this.#used.at(-1);
    const buf = this.#buf;
    if (buf === undefined || last === undefined || last.mark !== Infinity || !(frame instanceof Uint8Array) || frame.buffer !== buf.buffer || frame.byteOffset !== last.start + 4 || len !== last.end - last.start - 4) return undefined;
    last.mark = this.#written;
    buf[last.start] = len >>> 24;
    buf[last.start + 1] = (len >>> 16) & 0xff;
    buf[last.start + 2] = (len >>> 8) & 0xff;
    buf[last.start + 3] = len & 0xff;
    return buf.subarray(last.start, last.end);
  }
}

/**
 * Reassembles 4-byte big-endian length-prefixed frames from a byte stream. Rejects a length above
 * the limit before buffering its payload.
 */
export class LengthPrefixFramer {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #need = -1; // -1: reading a length prefix
  maxFrame: number;
  readonly #onFrame: (f: Frame) => void;

  constructor(maxFrame: number, onFrame: (f: Frame) => void) {
    this.maxFrame = maxFrame;
    this.#onFrame = onFrame;
  }

  /** True while a frame (or its length prefix) is partially received. */
  get partial(): boolean {
    return this.#need >= 0 || this.#buffered > 0;
  }

  /** Takes n bytes as pieces (subarrays of the received chunks, no copy). */
  #takeParts(n: number): Frame {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return this.#take(n);
    const parts: Uint8Array[] = [];
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0];
      if (c === undefined) break;
      if (c.length <= left) {
        parts.push(c);
        this.#chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.subarray(0, left));
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= n;
    return parts;
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const all = Buffer.concat(this.#chunks, this.#buffered);
    const out = new Uint8Array(all.buffer, all.byteOffset, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered -= n;
    return out;
  }

  /** Feeds bytes; throws RECORD_TOO_LARGE for an oversized length prefix. */
  push(data: Uint8Array): void {
    this.#chunks.push(data);
    this.#buffered += data.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        const h = this.#take(4);
        this.#need = (((h[0] ?? 0) << 24) | ((h[1] ?? 0) << 16) | ((h[2] ?? 0) << 8) | (h[3] ?? 0)) >>> 0;
        if (this.#need > this.maxFrame) throw new WireError('RECORD_TOO_LARGE', 'length', 0, `frame of ${this.#need} bytes exceeds ${this.maxFrame}`);
      }
      if (this.#buffered < this.#need) return;
      const frame = this.#takeParts(this.#need);
      this.#need = -1;
      this.#onFrame(frame);
    }
  }
}

function lengthPrefix(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const hdr = new Uint8Array(4);
  new DataView(hdr.buffer).setUint32(0, len);
  return hdr;
}

/** The duplex options, checked: each is a non-negative integer (sendArenaBytes 0 turns recycling off). */
function duplexOptions(o: SocketDuplexOptions): { maxFrame: number; writeBuffer: number; arenaBytes: number } {
  const get = (field: keyof SocketDuplexOptions, fallback: number, min: number): number => {
    const v = o[field] ?? fallback;
    if (!Number.isSafeInteger(v) || v < min) throw new InvalidArgumentError(field, `must be an integer ≥ ${min}, got ${String(v)}`);
    return v;
  };
  return {
    maxFrame: get('maxFrame', 16 * 1024 * 1024 + 64, 1),
    writeBuffer: get('writeBufferBytes', 1024 * 1024, 0),
    arenaBytes: get('sendArenaBytes', 4 * 1024 * 1024, 0),
  };
}

/** Pieces up to this size are copied behind the length prefix instead of written separately. */
const SMALL = 256;

/** The 4-byte length prefix (of `total`, default the piece's length) followed by `piece`, in one array. */
function prefixed(piece: Uint8Array, total = piece.length): Uint8Array {
  const out = new Uint8Array(4 + piece.length);
  out[0] = total >>> 24;
  out[1] = (total >>> 16) & 0xff;
  out[2] = (total >>> 8) & 0xff;
  out[3] = total & 0xff;
  out.set(piece, 4);
  return out;
}

/** Options for {@link socketDuplex}. */
export interface SocketDuplexOptions {
  /** Initial incoming frame limit in bytes. Default 16 MiB + 64. */
  readonly maxFrame?: number;
  /**
   * Bytes the socket may hold unsent before `send` asks the caller to wait (back-pressure), so the
   * next record can be sealed while the kernel drains the previous one. Default 1 MiB.
   */
  readonly writeBufferBytes?: number;
  /**
   * Size of the ring {@link FrameDuplex.reserve} hands out send memory from (allocated on first
   * use; frames over a quarter of it are not served). 0 disables reserve. Default 4 MiB.
   */
  readonly sendArenaBytes?: number;
}

/**
 * Frames a byte stream (a `net.Socket`, TCP or Unix) with a 4-byte big-endian length prefix.
 * A stream that ends inside a frame ends the duplex with TRUNCATED.
 */
export function socketDuplex(socket: Socket, options: SocketDuplexOptions = {}): FrameDuplex {
  let sink: FrameSink | undefined;
  let ended = false;
  let drain: Promise<void> | undefined;
  const { maxFrame, writeBuffer, arenaBytes } = duplexOptions(options);
  const framer = new LengthPrefixFramer(maxFrame, (f) => sink?.onFrame(f));
  // socket.writableLength: bytes written that the stream still references (queued, or in a write
  // libuv has not completed); the rest have left the process and their memory can be reused
  const arena = arenaBytes > 0 ? new SendArena(arenaBytes) : undefined;

  const end = (e?: LinkError): void => {
    if (ended) return;
    ended = true;
    sink?.onEnd(e);
  };

  return {
    reserve(bytes: number): Uint8Array | undefined {
      if (arena === undefined || ended || socket.destroyed) return undefined;
      return arena.reserve(bytes, socket.writableLength);
    },
    send(frame: Uint8Array | readonly Uint8Array[]): void | Promise<void> {
      if (ended || socket.destroyed) throw new LinkError('CLOSED', 'socket closed');
      // reserved memory leaves with its prefix in one write
      const whole = arena?.take(frame);
      if (whole !== undefined) socket.write(whole);
      else if (frame instanceof Uint8Array) {
        if (frame.length <= SMALL) socket.write(prefixed(frame));
        else {
          socket.cork();
          socket.write(lengthPrefix([frame]));
          socket.write(frame);
          socket.uncork();
        }
      } else {
        // a record comes as header, ciphertext, tag: the length prefix rides with the header in
        // one small buffer, the ciphertext goes out as is (one writev, no copy of the payload)
        const first = frame[0];
        socket.cork();
        if (first !== undefined && first.length <= SMALL) {
          socket.write(prefixed(first, frameLength(frame)));
          for (let i = 1; i < frame.length; i++) socket.write(frame[i] as Uint8Array);
        } else {
          socket.write(lengthPrefix(frame));
          for (const p of frame) socket.write(p);
        }
        socket.uncork();
      }
      if (socket.writableLength <= writeBuffer) return;
      drain ??= new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          drain = undefined;
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
      return drain;
    },
    start(s: FrameSink): void {
      sink = s;
      socket.on('data', (data: Buffer) => {
        if (ended) return;
        try {
          framer.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        } catch (e) {
          end(e as LinkError);
          socket.destroy();
        }
      });
      socket.on('end', () => {
        if (framer.partial) end(new LinkError('TRUNCATED', 'stream ended inside a frame'));
        else end();
      });
      socket.on('error', (e) => {
        end(new LinkError('TRUNCATED', `socket error: ${e.message}`, { cause: e }));
      });
      socket.on('close', () => {
        end();
      });
    },
    setMaxFrame(bytes: number): void {
      framer.maxFrame = bytes;
    },
    close(): void {
      if (socket.destroyed) return;
      // graceful: queued records (the CLOSE record last) are flushed; a peer that never reads is cut after 5 s
      socket.end();
      const t = setTimeout(() => socket.destroy(), 5000);
      t.unref();
      socket.once('close', () => { clearTimeout(t); });
    },
  };
}

/** The part of `@abi/transport`'s `ByteStream` a duplex uses (`writableLength` enables {@link FrameDuplex.reserve}). */
export type ByteStreamLike = Pick<ByteStream, 'write' | 'onData' | 'onDrain' | 'onClose' | 'end' | 'destroy' | 'writableLength'>;

/** Frames an `@abi/transport` ByteStream with a 4-byte big-endian length prefix. */
export function byteStreamDuplex(stream: ByteStreamLike, options: SocketDuplexOptions = {}): FrameDuplex {
  let sink: FrameSink | undefined;
  let ended = false;
  let closedLocally = false;
  let drain: Promise<void> | undefined;
  let drainResolve: (() => void) | undefined;
  const { maxFrame, writeBuffer, arenaBytes } = duplexOptions(options);
  const framer = new LengthPrefixFramer(maxFrame, (f) => sink?.onFrame(f));
  // Bytes written since the stream last asked us to wait: up to writeBuffer more are accepted
  // before the caller has to wait, so sealing the next record overlaps with sending this one.
  let overflow = -1;
  // Send memory is recycled only on streams that say how much of what they accepted they still hold.
  const arena = arenaBytes > 0 && typeof stream.writableLength === 'number' ? new SendArena(arenaBytes) : undefined;
  const end = (e?: LinkError): void => {
    if (ended) return;
    ended = true;
    drainResolve?.();
    sink?.onEnd(e);
  };
  return {
    reserve(bytes: number): Uint8Array | undefined {
      if (arena === undefined || ended || closedLocally) return undefined;
      return arena.reserve(bytes, stream.writableLength ?? Number.POSITIVE_INFINITY);
    },
    send(frame: Uint8Array | readonly Uint8Array[]): void | Promise<void> {
      if (ended || closedLocally) throw new LinkError('CLOSED', 'stream closed');
      const parts = frame instanceof Uint8Array ? [frame] : frame;
      const whole = arena?.take(frame);
      const ok = stream.write(whole !== undefined ? [whole] : [lengthPrefix(parts), ...parts]);
      if (ok && overflow < 0) return;
      overflow = Math.max(0, overflow) + 4 + frameLength(parts);
      if (overflow <= writeBuffer && drain === undefined) return;
      drain ??= new Promise<void>((resolve) => {
        drainResolve = () => {
          drain = undefined;
          drainResolve = undefined;
          resolve();
        };
      });
      return drain;
    },
    start(s: FrameSink): void {
      sink = s;
      stream.onData((chunk) => {
        if (ended) return;
        try {
          framer.push(chunk);
        } catch (e) {
          end(e as LinkError);
          stream.destroy();
        }
      });
      stream.onDrain(() => {
        overflow = -1;
        drainResolve?.();
      });
      stream.onClose((e) => {
        if (e !== undefined) end(new LinkError('TRUNCATED', `stream error: ${e.message}`, { cause: e }));
        else if (framer.partial) end(new LinkError('TRUNCATED', 'stream ended inside a frame'));
        else end();
      });
    },
    setMaxFrame(bytes: number): void {
      framer.maxFrame = bytes;
    },
    close(): void {
      if (closedLocally) return;
      closedLocally = true;
      stream.end();
    },
  };
}

/** One end of {@link memoryDuplexPair}, with hooks tests use to tamper with frames. */
export interface MemoryDuplex extends FrameDuplex {
  /** Ends the duplex abruptly on both sides without a close record (a cut wire). */
  cut(): void;
}

/**
 * Two connected in-memory frame duplexes. Frames are delivered asynchronously (microtask) and in
 * order; `intercept` on either side may rewrite, drop (return undefined) or multiply frames.
 */
export function memoryDuplexPair(intercept?: { aToB?: (f: Uint8Array) => Uint8Array[] | Uint8Array | undefined; bToA?: (f: Uint8Array) => Uint8Array[] | Uint8Array | undefined }): [MemoryDuplex, MemoryDuplex] {
  const make = (): { sink: FrameSink | undefined; pending: Uint8Array[]; ended: boolean } => ({ sink: undefined, pending: [], ended: false });
  const sa = make();
  const sb = make();
  const deliver = (to: typeof sa, frame: Uint8Array): void => {
    queueMicrotask(() => {
      if (to.ended) return;
      if (to.sink === undefined) to.pending.push(frame);
      else to.sink.onFrame(frame);
    });
  };
  const endSide = (s: typeof sa, e?: LinkError): void => {
    queueMicrotask(() => {
      if (s.ended) return;
      s.ended = true;
      s.sink?.onEnd(e);
    });
  };
  const side = (me: typeof sa, other: typeof sa, tap: ((f: Uint8Array) => Uint8Array[] | Uint8Array | undefined) | undefined): MemoryDuplex => ({
    send(frame: Uint8Array | readonly Uint8Array[]): void {
      if (me.ended) throw new LinkError('CLOSED', 'duplex closed');
      const copy = frame instanceof Uint8Array ? Uint8Array.from(frame) : concatBytes(...frame);
      const out = tap === undefined ? copy : tap(copy);
      if (out === undefined) return;
      for (const f of Array.isArray(out) ? out : [out]) deliver(other, f);
    },
    start(sink: FrameSink): void {
      me.sink = sink;
      const p = me.pending;
      me.pending = [];
      for (const f of p) sink.onFrame(f);
    },
    close(): void {
      endSide(me);
      endSide(other);
    },
    cut(): void {
      endSide(me);
      endSide(other);
    },
  });
  return [side(sa, sb, intercept?.aToB), side(sb, sa, intercept?.bToA)];
}
