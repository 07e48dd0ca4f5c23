/** The channel over real loopback sockets: truncation inside a frame and oversized frames. */
import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { socketStream } from '@abi/transport';
import { SecureChannel, byteStreamDuplex, nativeAead, socketDuplex, type FrameDuplex } from '../src/index.js';
import { alice, bob, nextMessage } from './helpers.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  servers.push(server);
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  return [c, await accepted];
}

describe('SecureChannel over TCP sockets', () => {
  it('carries messages and closes cleanly', async () => {
    const [cs, ss] = await socketPair();
    const [c, s] = await Promise.all([SecureChannel.connect(socketDuplex(cs), { identity: alice }), SecureChannel.accept(socketDuplex(ss), { identity: bob })]);
    const m = nextMessage(s);
    await c.send(new Uint8Array(100_000).fill(9));
    expect((await m).length).toBe(100_000);
    const closed = new Promise<unknown>((r) => s.onClose(r));
    await c.close();
    expect(await closed).toBeUndefined();
  });

  it('a stream cut inside a record → TRUNCATED', async () => {
    const [cs, ss] = await socketPair();
    const [c, s] = await Promise.all([SecureChannel.connect(socketDuplex(cs), { identity: alice }), SecureChannel.accept(socketDuplex(ss), { identity: bob })]);
    const closed = new Promise<string | undefined>((r) => s.onClose((e) => { r(e?.code); }));
    // write the first half of a length-prefixed frame, then FIN
    cs.write(Uint8Array.of(0, 0, 1, 0, 0x17, 0, 0, 0));
    cs.end();
    expect(await closed).toBe('TRUNCATED');
    expect(c.state).not.toBe('handshake');
  });

  it('a length prefix over the limit is refused before buffering → RECORD_TOO_LARGE / HANDSHAKE_TOO_LARGE', async () => {
    const [cs, ss] = await socketPair();
    const srv = SecureChannel.accept(socketDuplex(ss), { identity: bob });
    cs.write(Uint8Array.of(0x7f, 0xff, 0xff, 0xff));
    await expect(srv).rejects.toMatchObject({ code: 'HANDSHAKE_TOO_LARGE' });
    cs.destroy();
    const [cs2, ss2] = await socketPair();
    const [c2, s2] = await Promise.all([SecureChannel.connect(socketDuplex(cs2), { identity: alice }), SecureChannel.accept(socketDuplex(ss2), { identity: bob, maxMessageSize: 1000 })]);
    const closed = new Promise<string | undefined>((r) => s2.onClose((e) => { r(e?.code); }));
    cs2.write(Uint8Array.of(0, 0x10, 0, 0));
    expect(await closed).toBe('RECORD_TOO_LARGE');
    await c2.close();
  });
});

/**
 * Sends 300 messages of 4–64 KiB through a channel whose sending duplex recycles a small arena
 * (256 KiB) while the reader stalls now and then, so the ring wraps and runs full many times: a
 * region reused before its bytes left the process would corrupt a message.
 */
async function recycledMessagesArriveIntact(duplex: FrameDuplex, peer: FrameDuplex, readerSocket: net.Socket): Promise<number> {
  const reserve = duplex.reserve!.bind(duplex);
  let served = 0;
  duplex.reserve = (n) => {
    const r = reserve(n);
    if (r !== undefined) served++;
    return r;
  };
  const [c, s] = await Promise.all([SecureChannel.connect(duplex, { identity: alice }), SecureChannel.accept(peer, { identity: bob })]);
  const sizes = fc.sample(fc.integer({ min: 4096, max: 64 * 1024 }), { numRuns: 300, seed: 7 });
  const got: Uint8Array[] = [];
  const all = new Promise<void>((resolve, reject) => {
    s.onClose((e) => { reject(e ?? new Error('closed before every message arrived')); });
    s.onMessage((m) => {
      got.push(Uint8Array.from(m));
      if (got.length % 37 === 0) {
        readerSocket.pause();
        setTimeout(() => readerSocket.resume(), 5);
      }
      if (got.length === sizes.length) resolve();
    });
  });
  for (const [i, n] of sizes.entries()) {
    const m = new Uint8Array(n);
    for (let j = 0; j < n; j += 251) m[j] = (i + j) & 0xff;
    m[n - 1] = i & 0xff;
    const r = c.trySend(m);
    m.fill(0xee); // the channel must not depend on the caller's buffer after trySend returns
    if (r !== undefined) await r;
  }
  await all;
  for (const [i, n] of sizes.entries()) {
    const m = got[i]!;
    expect(m.length).toBe(n);
    let ok = m[n - 1] === (i & 0xff);
    for (let j = 0; j < n - 1 && ok; j += 251) ok = m[j] === ((i + j) & 0xff);
    expect(ok, `message ${i} (${n} bytes) corrupted`).toBe(true);
  }
  await c.close();
  return served;
}

describe('recycled send memory', () => {
  const opts = { sendArenaBytes: 256 * 1024, writeBufferBytes: 128 * 1024 };

  it('socketDuplex: large messages arrive intact while the reader stalls', async () => {
    const [cs, ss] = await socketPair();
    const served = await recycledMessagesArriveIntact(socketDuplex(cs, opts), socketDuplex(ss), ss);
    // with the native AEAD the records were sealed into the arena (node:crypto allocates instead)
    if (nativeAead().loaded) expect(served).toBeGreaterThan(100);
  });

  it('byteStreamDuplex over @abi/transport\'s socket stream: the same', async () => {
    const [cs, ss] = await socketPair();
    const served = await recycledMessagesArriveIntact(byteStreamDuplex(socketStream(cs), opts), byteStreamDuplex(socketStream(ss)), ss);
    if (nativeAead().loaded) expect(served).toBeGreaterThan(100);
  });

  it('a stream that does not report writableLength gets no reserve', () => {
    const stream = { write: () => true, onData: () => ({ [Symbol.dispose]: () => undefined }), onDrain: () => ({ [Symbol.dispose]: () => undefined }), onClose: () => ({ [Symbol.dispose]: () => undefined }), end: () => undefined, destroy: () => undefined };
    expect(byteStreamDuplex(stream).reserve?.(10_000)).toBeUndefined();
    expect(byteStreamDuplex({ ...stream, writableLength: 0 }).reserve?.(10_000)?.length).toBe(10_000);
  });

  it('bad duplex options are refused with INVALID_ARGUMENT naming the option', () => {
    const stream = { write: () => true, onData: () => ({ [Symbol.dispose]: () => undefined }), onDrain: () => ({ [Symbol.dispose]: () => undefined }), onClose: () => ({ [Symbol.dispose]: () => undefined }), end: () => undefined, destroy: () => undefined, writableLength: 0 };
    const bad = (f: () => unknown, field: string): void => {
      expect(f).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field }));
    };
    bad(() => socketDuplex(new net.Socket(), { sendArenaBytes: 1.5 }), 'sendArenaBytes');
    bad(() => socketDuplex(new net.Socket(), { maxFrame: 0 }), 'maxFrame');
    bad(() => byteStreamDuplex(stream, { writeBufferBytes: -1 }), 'writeBufferBytes');
    bad(() => byteStreamDuplex(stream, { sendArenaBytes: Number.NaN }), 'sendArenaBytes');
    expect(byteStreamDuplex(stream, { sendArenaBytes: 0 }).reserve?.(10_000)).toBeUndefined();
  });
});
