/**
 * The hand-written references the benchmarks compare against: a minimal node:net + cbor-x
 * request/response with the same 24-byte framing (batched per tick like ours), a raw byte
 * ping-pong, and a raw byte stream with an end-of-run acknowledgement.
 */
import net from 'node:net';
import { Decoder, Encoder } from 'cbor-x';

const enc = new Encoder({ useRecords: false, tagUint8Array: false });
const dec = new Decoder({ useRecords: false, mapsAsObjects: true });
const MAGIC = 0x41424954;

function header(type: number, id: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(24);
  h.writeUInt32LE(MAGIC, 0);
  h[4] = 2;
  h[5] = type;
  h.writeUInt16LE(0, 6);
  h.writeUInt32LE(id >>> 0, 8);
  h.writeUInt32LE(0, 12);
  h.writeUInt32LE(length, 16);
  h.writeUInt32LE(0, 20);
  return h;
}

/** Splits a byte stream into frames (header + payload). */
function framer(onFrame: (type: number, id: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let off = 0;
    while (buf.length - off >= 24) {
      const len = buf.readUInt32LE(off + 16);
      if (buf.length - off < 24 + len) break;
      onFrame(buf[off + 5]!, buf.readUInt32LE(off + 8), buf.subarray(off + 24, off + 24 + len));
      off += 24 + len;
    }
    buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
  };
}

/** Minimal RPC server: decode the CBOR request, encode it back, one write per received chunk. */
export function minimalRpcServer(socket: net.Socket): void {
  socket.setNoDelay(true);
  const out: Buffer[] = [];
  const push = framer((_type, id, payload) => {
    const body = enc.encode(dec.decode(payload));
    out.push(header(0x12, id, body.length), body);
  });
  socket.on('data', (chunk: Buffer) => {
    push(chunk);
    if (out.length > 0) {
      socket.write(out.length === 2 ? Buffer.concat(out) : Buffer.concat(out));
      out.length = 0;
    }
  });
  socket.on('error', () => undefined);
}

/** Minimal RPC client: a map of pending ids, writes corked per tick. */
export class MinimalRpcClient {
  readonly #socket: net.Socket;
  readonly #pending = new Map<number, (v: unknown) => void>();
  #id = 0;
  #corked = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on(
      'data',
      framer((_type, id, payload) => {
        const r = this.#pending.get(id);
        this.#pending.delete(id);
        r?.(dec.decode(payload));
      }),
    );
  }

  request(value: unknown): Promise<unknown> {
    const id = ++this.#id;
    const body = enc.encode(value);
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(header(0x11, id, body.length));
    this.#socket.write(body);
    return new Promise((resolve) => this.#pending.set(id, resolve));
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Raw echo: whatever arrives goes straight back. */
export function rawEchoServer(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('data', (c) => socket.write(c));
  socket.on('error', () => undefined);
}

/** Raw sink: each run starts with a u64 LE byte count; one byte is written back when it has arrived. */
export function rawSinkServer(socket: net.Socket): void {
  let need = 0;
  let pre: Buffer = Buffer.alloc(0);
  const ack = Buffer.from([1]);
  socket.on('data', (chunk: Buffer) => {
    let c = chunk;
    while (c.length > 0) {
      if (need === 0) {
        pre = pre.length === 0 ? c : Buffer.concat([pre, c]);
        if (pre.length < 8) return;
        need = Number(pre.readBigUInt64LE(0));
        c = pre.subarray(8);
        pre = Buffer.alloc(0);
        if (need === 0) socket.write(ack);
      } else {
        const take = Math.min(need, c.length);
        need -= take;
        c = c.subarray(take);
        if (need === 0) socket.write(ack);
      }
    }
  });
  socket.on('error', () => undefined);
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => { resolve(s); });
    s.once('error', reject);
  });
}
