import net from 'node:net';
import { decodeCbor, encodeCbor, encodeFrame, FrameDecoder, FrameType, PROTOCOL_VERSION } from '../src/index.js';
import type { Frame } from '../src/index.js';

/** A hand-driven protocol peer over a raw socket, for hostile and edge-case tests. */
export interface RawPeer {
  readonly socket: net.Socket;
  readonly frames: Frame[];
  readonly closed: Promise<void>;
  hello(overrides?: Record<string, unknown>): void;
  frame(frame: Frame): void;
  write(bytes: Uint8Array): void;
  waitFor(pred: (frames: Frame[]) => boolean, what: string): Promise<void>;
  isClosed(): boolean;
}

export function helloPayload(overrides: Record<string, unknown> = {}): Uint8Array {
  return encodeCbor({ v: [PROTOCOL_VERSION], maxFrame: 1 << 24, maxInFlight: 1024, window: 32, ...overrides });
}

export function wrapRaw(socket: net.Socket): RawPeer {
  const frames: Frame[] = [];
  let isClosed = false;
  const decoder = new FrameDecoder((f) => frames.push({ ...f, payload: f.payload.slice() }));
  socket.on('data', (c) => {
    try {
      decoder.push(c);
    } catch {
      socket.destroy();
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return {
    socket,
    frames,
    closed,
    hello(overrides) {
      socket.write(encodeFrame({ type: FrameType.HELLO, flags: 0, id: 0, payload: helloPayload(overrides) }));
    },
    frame(f) {
      socket.write(encodeFrame(f));
    },
    write(bytes) {
      socket.write(bytes);
    },
    async waitFor(pred, what) {
      for (let i = 0; i < 5000; i++) {
        if (pred(frames)) return;
        await new Promise((r) => setTimeout(r, 2));
      }
      throw new Error(`raw peer: timed out waiting for ${what}`);
    },
    isClosed: () => isClosed,
  };
}

export async function rawConnect(address: string): Promise<RawPeer> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (m === null) throw new Error(`bad address ${address}`);
  const socket = net.connect({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return wrapRaw(socket);
}

/** A raw TCP server: hands every accepted socket to `onPeer`. */
export async function rawServer(onPeer: (peer: RawPeer) => void): Promise<{ address: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    onPeer(wrapRaw(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => { resolve(); });
      }),
  };
}

export function goawayCode(frames: Frame[]): string | undefined {
  const g = frames.find((f) => f.type === FrameType.GOAWAY);
  if (g === undefined) return undefined;
  return (decodeCbor(g.payload) as unknown[])[1] as string;
}

export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
