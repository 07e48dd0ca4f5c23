import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  FrameType,
  openConnection,
  seededRandom,
  TcpTransport,
} from '../src/index.js';
import type { ByteStream, Connection, Frame } from '../src/index.js';
import { goawayCode, helloPayload, rawConnect } from './helpers.js';

/** Frames pushed into the decoder. `pnpm --filter @abi/transport fuzz` runs 1 000 000+. */
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 1_000_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_121);
const types = Object.values(FrameType);

/** Generates one input: a valid frame, a mutated one, a truncated one, or random bytes. */
function generator(seed: number): () => Uint8Array {
  const rnd = seededRandom(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  // A seeded pool of random bytes: inputs are views into it (fast enough for 1M+ inputs).
  const pool = new Uint8Array(1 << 20);
  for (let i = 0; i < pool.length; i++) pool[i] = int(256);
  const bytes = (n: number): Uint8Array => {
    const at = int(pool.length - n);
    return pool.subarray(at, at + n);
  };
  return () => {
    const kind = int(10);
    if (kind === 0) return bytes(1 + int(48)).slice();
    const frame: Frame = {
      type: types[int(types.length)]!,
      flags: int(8),
      id: int(2) === 0 ? int(1000) : Math.floor(rnd() * Number.MAX_SAFE_INTEGER),
      payload: bytes(int(20) === 0 ? int(2000) : int(40)),
    };
    const b = encodeFrame(frame, { checksum: int(4) === 0 });
    if (kind <= 3) {
      // Mutate: flip 1..3 bytes, biased towards the header.
      for (let m = 1 + int(3); m > 0; m--) {
        const at = int(3) === 0 ? int(b.length) : int(Math.min(24, b.length));
        b[at] = int(256);
      }
    } else if (kind === 4) {
      return b.subarray(0, int(b.length));
    }
    return b;
  };
}

describe('fuzz - decoder', () => {
  it(`${FRAMES} random and mutated frames: only typed FrameErrors, bounded buffering (seed ${SEED})`, { timeout: FRAMES > 1_000_000 ? 1_800_000 : 180_000 }, () => {
    const next = generator(SEED);
    const rnd = seededRandom(SEED ^ 0x5a5a);
    const max = 1024;
    let decoded = 0;
    let errors = 0;
    let maxBuffered = 0;
    let decoder = new FrameDecoder(
      (f) => {
        decoded++;
        if (f.payload.length > max || !types.includes(f.type)) throw new Error('invariant broken');
      },
      { maxFrameSize: max },
    );
    const fresh = (): FrameDecoder =>
      new FrameDecoder(
        (f) => {
          decoded++;
          if (f.payload.length > max || !types.includes(f.type)) throw new Error('invariant broken');
        },
        { maxFrameSize: max },
      );
    for (let n = 0; n < FRAMES; n++) {
      const input = next();
      // Split each input into 1..3 chunks at random points.
      const cut = Math.floor(rnd() * (input.length + 1));
      for (const chunk of [input.subarray(0, cut), input.subarray(cut)]) {
        try {
          decoder.push(chunk);
        } catch (e) {
          if (!(e instanceof FrameError)) throw new Error(`untyped error at input ${n} (seed ${SEED})`, { cause: e });
          errors++;
          decoder = fresh(); // a new connection
          break;
        }
        maxBuffered = Math.max(maxBuffered, decoder.buffered);
      }
    }
    expect(decoded).toBeGreaterThan(FRAMES / 4);
    expect(errors).toBeGreaterThan(FRAMES / 20);
    expect(maxBuffered).toBeLessThanOrEqual(24 + max);
  });
});

/** An in-process ByteStream whose writes are discarded: drives the engine synchronously. */
function sinkStream(): { stream: ByteStream; feed: (b: Uint8Array) => void; closed: () => boolean } {
  let onData: ((c: Uint8Array) => void) | undefined;
  let onClose: ((e?: Error) => void) | undefined;
  let closed = false;
  const close = (e?: Error): void => {
    if (closed) return;
    closed = true;
    onClose?.(e);
  };
  return {
    stream: {
      localAddress: 'fuzz-local',
      remoteAddress: 'fuzz-remote',
      write: () => true,
      onData: (l) => {
        onData = l;
        return { [Symbol.dispose]: () => (onData = undefined) };
      },
      onDrain: () => ({ [Symbol.dispose]: () => undefined }),
      onClose: (l) => {
        onClose = l;
        return { [Symbol.dispose]: () => (onClose = undefined) };
      },
      end: () => {
        close();
      },
      destroy: (e) => {
        close(e);
      },
    },
    feed: (b) => onData?.(b),
    closed: () => closed,
  };
}

describe('fuzz - connection engine', () => {
  it('frames with valid headers and random payloads never escape as exceptions', async () => {
    const rnd = seededRandom(SEED + 1);
    const int = (n: number): number => Math.floor(rnd() * n);
    let connections = 0;
    let frames = 0;
    const reasons = new Set<string>();
    while (frames < 30_000) {
      const s = sinkStream();
      const p = openConnection(s.stream, {
        initiator: int(2) === 0,
        keepAliveMs: 0,
        handlers: (m) => (m.length % 2 === 0 ? (x: unknown) => x : undefined),
      });
      s.feed(encodeFrame({ type: FrameType.HELLO, flags: 0, id: 0, payload: helloPayload() }));
      const conn: Connection = await p;
      connections++;
      for (let i = 0; i < 200 && !s.closed(); i++, frames++) {
        const payload = new Uint8Array(int(24));
        for (let j = 0; j < payload.length; j++) payload[j] = int(4) === 0 ? int(8) : int(256);
        if (int(2) === 0 && payload.length > 0) payload[0] = Math.min(payload[0]!, payload.length - 1);
        s.feed(encodeFrame({ type: types[int(types.length)]!, flags: int(8), id: int(64), payload }));
      }
      await new Promise((r) => setImmediate(r));
      conn.abort();
      const reason = await conn.closed;
      if (reason !== undefined) reasons.add(reason.code);
    }
    expect(connections).toBeGreaterThan(10);
    expect([...reasons].every((r) => typeof r === 'string')).toBe(true);
  });
});

/** A real GC for memory assertions (vitest does not pass --expose-gc). */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describe('fuzz - live server', () => {
  it('mutated frame streams from many clients: typed goaway, those connections closed, a good client unaffected, memory bounded', async () => {
    const gc = collector();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    await using server = new TcpTransport({ maxFrameSize: 4096 });
    server.handle('echo', (p) => p);
    const listener = await server.listen('127.0.0.1:0');
    await using goodClient = new TcpTransport();
    const good = await goodClient.dial(listener.address);
    let goodCalls = 0;
    const control = { stop: false };
    const traffic = (async () => {
      while (!control.stop) {
        expect(await good.request('echo', { n: goodCalls })).toEqual({ n: goodCalls });
        goodCalls++;
      }
    })();
    const next = generator(SEED + 2);
    const codes: string[] = [];
    for (let c = 0; c < 40; c++) {
      const peer = await rawConnect(listener.address);
      peer.hello();
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 2000; i++) batch.push(next());
      peer.write(Buffer.concat(batch));
      await Promise.race([peer.closed, new Promise((r) => setTimeout(r, 200))]);
      peer.socket.destroy();
      await peer.closed;
      const code = goawayCode(peer.frames);
      if (code !== undefined) codes.push(code);
    }
    control.stop = true;
    await traffic;
    expect(good.state).toBe('open');
    expect(goodCalls).toBeGreaterThan(0);
    // Every garbage connection is gone: only the good one remains on the server.
    for (let i = 0; i < 500 && server.connections.size > 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(server.connections.size).toBe(1);
    expect(codes.length).toBeGreaterThan(30);
    gc();
    // 40 × 2 000 hostile frames went through; what stays behind is bounded (no per-frame leak).
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect(codes.every((c) => ['FRAME_INVALID', 'FRAME_TOO_LARGE', 'CHECKSUM_MISMATCH', 'PROTOCOL_ERROR', 'PAYLOAD_INVALID'].includes(c))).toBe(true);
  });
});
