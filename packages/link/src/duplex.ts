/**
 * The abstract carrier a {@link SecureChannel} runs over: a duplex of frames (whole messages,
 * delivered intact and in order, or the duplex ends). Adapters: byte streams with a 4-byte length
 * prefix (TCP / Unix sockets), and an in-memory pair for tests.
 */
import type { Socket } from 'node:net';
import { concatBytes } from './bytes.js';
import { LinkError, WireError } from './errors.js';

export interface FrameSink {
  onFrame(frame: Uint8Array): void;
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
  /** Closes the carrier (idempotent). */
  close(): void;
}

/** Options for {@link socketDuplex}. */
export interface SocketDuplexOptions {
  /** Initial incoming frame limit in bytes. Default 16 MiB + 64. */
  readonly maxFrame?: number;
}

/**
 * Frames a byte stream (a `net.Socket`, TCP or Unix) with a 4-byte big-endian length prefix.
 * A stream that ends inside a frame ends the duplex with TRUNCATED.
 */
export function socketDuplex(socket: Socket, options: SocketDuplexOptions = {}): FrameDuplex {
  let maxFrame = options.maxFrame ?? 16 * 1024 * 1024 + 64;
  let sink: FrameSink | undefined;
  let ended = false;
  let chunks: Buffer[] = [];
  let buffered = 0;
  let need = -1; // -1: reading a length prefix
  let drain: Promise<void> | undefined;

  const isEnded = (): boolean => ended;
  const end = (e?: LinkError): void => {
    if (ended) return;
    ended = true;
    sink?.onEnd(e);
  };

  const take = (n: number): Buffer => {
    const first = chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) chunks.shift();
      else chunks[0] = first.subarray(n);
      buffered -= n;
      return out;
    }
    const all = Buffer.concat(chunks, buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    chunks = rest.length > 0 ? [rest] : [];
    buffered -= n;
    return out;
  };

  const onData = (data: Buffer): void => {
    if (ended) return;
    chunks.push(data);
    buffered += data.length;
    for (;;) {
      if (need < 0) {
        if (buffered < 4) return;
        need = take(4).readUInt32BE(0);
        if (need > maxFrame) {
          end(new WireError('RECORD_TOO_LARGE', 'length', 0, `frame of ${need} bytes exceeds ${maxFrame}`));
          socket.destroy();
          return;
        }
      }
      if (buffered < need) return;
      const frame = take(need);
      need = -1;
      sink?.onFrame(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
      if (isEnded()) return;
    }
  };

  return {
    send(frame: Uint8Array | readonly Uint8Array[]): void | Promise<void> {
      if (ended || socket.destroyed) throw new LinkError('CLOSED', 'socket closed');
      const parts = frame instanceof Uint8Array ? [frame] : frame;
      let len = 0;
      for (const p of parts) len += p.length;
      const hdr = Buffer.allocUnsafe(4);
      hdr.writeUInt32BE(len, 0);
      socket.cork();
      socket.write(hdr);
      let ok = true;
      for (const p of parts) ok = socket.write(p);
      socket.uncork();
      if (ok) return;
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
      socket.on('data', onData);
      socket.on('end', () => {
        if (need >= 0 || buffered > 0) end(new LinkError('TRUNCATED', 'stream ended inside a frame'));
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
      maxFrame = bytes;
    },
    close(): void {
      if (!socket.destroyed) socket.end();
      setImmediate(() => socket.destroy()).unref();
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
