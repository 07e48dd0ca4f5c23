import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCbor, encodeFrame, FrameType, isTransportError, parseAddress, formatAddress, RpcError, socketStream, TcpTransport } from '../src/index.js';
import type { Connection, TcpTransportInit } from '../src/index.js';
import { goawayCode, helloPayload, rawConnect, rawServer, until } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(init: TcpTransportInit = {}, address = '127.0.0.1:0'): Promise<{ t: TcpTransport; address: string; inbound: Connection[] }> {
  const t = new TcpTransport(init);
  cleanup.push(() => t.close());
  const inbound: Connection[] = [];
  t.onConnection((c) => inbound.push(c));
  const l = await t.listen(address);
  return { t, address: l.address, inbound };
}

function client(init: TcpTransportInit = {}): TcpTransport {
  const t = new TcpTransport(init);
  cleanup.push(() => t.close());
  return t;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    if (isTransportError(e)) return e.code;
    throw e;
  }
}

const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = net.createServer();
  s.once('error', () => { resolve(false); });
  s.listen(0, '::1', () => s.close(() => { resolve(true); }));
});

describe('tcp - addresses', () => {
  it('parses and formats host:port, [v6]:port, tcp:// and unix paths', () => {
    expect(parseAddress('127.0.0.1:80')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 80 });
    expect(parseAddress('tcp://localhost:9000')).toEqual({ kind: 'tcp', host: 'localhost', port: 9000 });
    expect(parseAddress('[::1]:0')).toEqual({ kind: 'tcp', host: '::1', port: 0 });
    expect(parseAddress('unix:/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('unix:///tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('/tmp/y.sock')).toEqual({ kind: 'unix', path: '/tmp/y.sock' });
    expect(formatAddress({ kind: 'tcp', host: '::1', port: 5 })).toBe('[::1]:5');
    for (const bad of ['nope', '1.2.3.4', '1.2.3.4:99999', ':80', '[::1]80', '::1:80', 'h:-1', 'unix:']) {
      expect(() => parseAddress(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_ADDRESS' }) as Error);
    }
  });

  it.skipIf(!hasIpv6)('IPv6 loopback works end to end', async () => {
    const s = await server({}, '[::1]:0');
    s.t.handle('echo', (p) => p);
    expect(s.address.startsWith('[::1]:')).toBe(true);
    const conn = await client().dial(s.address);
    expect(await conn.request('echo', 'v6')).toBe('v6');
  });

  it('a busy address is INVALID_ADDRESS, nothing listening is CONNECTION_REFUSED', async () => {
    const s = await server();
    expect(await codeOf(new TcpTransport().listen(s.address))).toBe('INVALID_ADDRESS');
    const port = Number(/:(\d+)$/.exec(s.address)![1]);
    await s.t.close();
    expect(await codeOf(client().dial(`127.0.0.1:${port}`))).toBe('CONNECTION_REFUSED');
  });
});

describe('tcp - timeouts and liveness', () => {
  it('connect timeout: a peer that accepts but never says hello', async () => {
    const raw = await rawServer(() => undefined);
    cleanup.push(raw.close);
    expect(await codeOf(client().dial(raw.address, { timeoutMs: 100 }))).toBe('CONNECT_TIMEOUT');
  });

  it('an aborted dial signal rejects with its reason', async () => {
    const raw = await rawServer(() => undefined);
    cleanup.push(raw.close);
    const ac = new AbortController();
    const p = client().dial(raw.address, { signal: ac.signal });
    ac.abort(new Error('stop'));
    expect(await codeOf(p)).toBe('ABORTED');
  });

  it('keep-alive: a half-open peer (hello, then silence) is detected as PEER_TIMEOUT and pending calls fail', async () => {
    const raw = await rawServer((peer) => {
      peer.hello();
      peer.socket.pause(); // stops reading: pings go unanswered
    });
    cleanup.push(raw.close);
    const conn = await client({ keepAliveMs: 50, keepAliveTimeoutMs: 100 }).dial(raw.address);
    const pending = conn.request('anything');
    const reason = await conn.closed;
    expect(reason?.code).toBe('PEER_TIMEOUT');
    expect(await codeOf(pending)).toBe('CONNECTION_LOST');
  });

  it('keep-alive: a live idle peer answers pings and the connection stays up', async () => {
    const s = await server({ keepAliveMs: 20, keepAliveTimeoutMs: 200 });
    s.t.handle('x', () => 1);
    const conn = await client({ keepAliveMs: 20, keepAliveTimeoutMs: 200 }).dial(s.address);
    await new Promise((r) => setTimeout(r, 150));
    expect(conn.state).toBe('open');
    expect(await conn.request('x')).toBe(1);
  });

  it('header timeout: a slowloris sending a header one byte at a time is cut off', async () => {
    const s = await server({ headerTimeoutMs: 100, helloTimeoutMs: 10_000 });
    const peer = await rawConnect(s.address);
    const hello = encodeFrame({ type: FrameType.HELLO, flags: 0, id: 0, payload: helloPayload() });
    let i = 0;
    const timer = setInterval(() => {
      if (i < hello.length && !peer.isClosed()) peer.write(hello.subarray(i, ++i));
    }, 20);
    await peer.closed;
    clearInterval(timer);
    expect(i).toBeLessThan(24);
    expect(goawayCode(peer.frames)).toBe('HEADER_TIMEOUT');
  });

  it('hello timeout: a peer that connects and sends nothing is dropped', async () => {
    await server({ helloTimeoutMs: 50 }).then(async (s) => {
      const peer = await rawConnect(s.address);
      await peer.closed;
      expect(goawayCode(peer.frames)).toBe('HEADER_TIMEOUT');
    });
  });

  it('idle timeout closes a quiet connection gracefully with IDLE_TIMEOUT', async () => {
    const s = await server({ idleTimeoutMs: 50 });
    s.t.handle('x', () => 1);
    const conn = await client().dial(s.address);
    expect(await conn.request('x')).toBe(1);
    const reason = await conn.closed;
    expect(reason?.code).toBe('IDLE_TIMEOUT');
  });
});

describe('tcp - limits', () => {
  it('max connections: a flood past the limit is refused while existing connections keep working', async () => {
    const s = await server({ maxConnections: 10 });
    s.t.handle('inc', async (p) => (p as number) + 1);
    const c = client();
    const kept = await Promise.all(Array.from({ length: 10 }, () => c.dial(s.address)));
    const flood = await Promise.all(Array.from({ length: 40 }, () => codeOf(c.dial(s.address))));
    expect(flood.every((x) => x === 'TOO_MANY_CONNECTIONS')).toBe(true);
    const results = await Promise.all(kept.map((k, i) => k.request('inc', i)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    // Closing one frees a slot.
    await kept[0]!.close();
    await until(() => s.inbound.filter((x) => x.state !== 'closed').length === 9, 'slot freed');
    const again = await c.dial(s.address);
    expect(await again.request('inc', 41)).toBe(42);
  });

  it('max in-flight: the client queues beyond the server limit; the server never runs more', async () => {
    const s = await server({ maxInFlight: 4 });
    let running = 0;
    let peak = 0;
    s.t.handle('slow', async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return 'ok';
    });
    const conn = await client().dial(s.address);
    const results = await Promise.all(Array.from({ length: 40 }, () => conn.request('slow')));
    expect(results.every((r) => r === 'ok')).toBe(true);
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });

  it('max in-flight: a raw client that ignores the limit gets RESOURCE_EXHAUSTED for the excess', async () => {
    const s = await server({ maxInFlight: 3 });
    s.t.handle('hang', () => new Promise(() => undefined));
    const peer = await rawConnect(s.address);
    peer.hello();
    const prefix = Uint8Array.of(4, ...Buffer.from('hang'), 0, 0, 0, 0);
    for (let id = 1; id <= 19; id += 2) peer.frame({ type: FrameType.REQUEST, flags: 0, id, payload: prefix });
    await peer.waitFor((fs) => fs.filter((f) => f.type === FrameType.ERROR).length === 7, '7 errors');
    const statuses = peer.frames.filter((f) => f.type === FrameType.ERROR).map((f) => f.id);
    expect(statuses).toEqual([7, 9, 11, 13, 15, 17, 19]);
    peer.socket.destroy();
  });

  it('a payload above the peer frame limit is refused locally with FRAME_TOO_LARGE', async () => {
    const s = await server({ maxFrameSize: 1024 });
    s.t.handle('echo', (p) => p);
    const conn = await client().dial(s.address);
    expect(await codeOf(conn.request('echo', new Uint8Array(2000)))).toBe('FRAME_TOO_LARGE');
    expect(await conn.request('echo', new Uint8Array(100))).toHaveLength(100);
  });

  it('a response above the caller frame limit becomes RESOURCE_EXHAUSTED', async () => {
    const s = await server();
    s.t.handle('big', () => new Uint8Array(5000));
    const conn = await client({ maxFrameSize: 1024 }).dial(s.address);
    const err = (await conn.request('big').catch((e: unknown) => e)) as RpcError;
    expect(err.status).toBe('RESOURCE_EXHAUSTED');
  });
});

describe('tcp - hostile input', () => {
  it('garbage into a live server: typed error, that connection closed, others unaffected', async () => {
    const s = await server();
    s.t.handle('echo', (p) => p);
    const good = await client().dial(s.address);
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(64, 0xff), Buffer.from('5449424101', 'hex')]) {
      const peer = await rawConnect(s.address);
      peer.write(garbage);
      await peer.closed;
      expect(goawayCode(peer.frames)).toBe('FRAME_INVALID');
    }
    // A valid hello followed by an oversize header.
    const peer = await rawConnect(s.address);
    peer.hello();
    const h = encodeFrame({ type: FrameType.REQUEST, flags: 0, id: 1, payload: new Uint8Array(0) });
    new DataView(h.buffer).setUint32(16, 0xffffffff, true);
    peer.write(h);
    await peer.closed;
    expect(goawayCode(peer.frames)).toBe('FRAME_TOO_LARGE');
    // A request before hello is a protocol error.
    const early = await rawConnect(s.address);
    early.frame({ type: FrameType.REQUEST, flags: 0, id: 1, payload: Uint8Array.of(1, 0x61, 0, 0, 0, 0) });
    await early.closed;
    expect(goawayCode(early.frames)).toBe('PROTOCOL_ERROR');
    // A hello with no common version.
    const old = await rawConnect(s.address);
    old.frame({ type: FrameType.HELLO, flags: 0, id: 0, payload: encodeCbor({ v: [1], maxFrame: 1024, maxInFlight: 1, window: 1 }) });
    await old.closed;
    expect(goawayCode(old.frames)).toBe('PROTOCOL_ERROR');
    expect(await good.request('echo', 'still fine')).toBe('still fine');
    expect(good.state).toBe('open');
  });

  it('a bad request body is answered INVALID_ARGUMENT without closing the connection', async () => {
    const s = await server();
    s.t.handle('echo', (p) => p);
    const peer = await rawConnect(s.address);
    peer.hello();
    peer.frame({ type: FrameType.REQUEST, flags: 0, id: 1, payload: Uint8Array.of(4, ...Buffer.from('echo'), 0, 0, 0, 0, 0x1c) });
    peer.frame({ type: FrameType.REQUEST, flags: 0, id: 3, payload: Uint8Array.of(4, ...Buffer.from('echo'), 0, 0, 0, 0, 0x01) });
    await peer.waitFor((fs) => fs.some((f) => f.type === FrameType.RESPONSE), 'second response');
    const err = peer.frames.find((f) => f.type === FrameType.ERROR);
    expect(err?.id).toBe(1);
    expect(peer.isClosed()).toBe(false);
    peer.socket.destroy();
  });
});

describe('tcp - back-pressure', () => {
  it('a stalled reader makes senders wait; the send queue stays bounded; resuming drains it', async () => {
    let stalled: net.Socket | undefined;
    let received = 0;
    const raw = await rawServer((peer) => {
      peer.hello();
      stalled = peer.socket;
      peer.socket.on('data', (c: Buffer) => (received += c.length));
      peer.socket.pause();
    });
    cleanup.push(raw.close);
    const conn = await client({ sendQueueBytes: 256 * 1024 }).dial(raw.address);
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    const attempts = 2000; // 128 MiB if nothing pushed back
    const sender = (async () => {
      for (let i = 0; i < attempts; i++) {
        await conn.send('sink', chunk);
        sent++;
      }
    })();
    // Wait until the sender is stuck: no progress over a few hundred ms.
    let last = -1;
    while (sent !== last) {
      last = sent;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sent).toBeLessThan(attempts);
    // Queue bound (256 KiB) + socket buffers (kernel autotuning stays within a few MiB on loopback).
    expect(sent * chunk.length).toBeLessThan(40 * 1024 * 1024);
    stalled!.resume();
    await sender;
    expect(sent).toBe(attempts);
    await until(() => received >= attempts * chunk.length, 'all bytes received', 20_000);
  });
});

describe('tcp - socketStream', () => {
  it('writableLength counts the bytes the stream still holds, and falls to 0 once the peer reads them', async () => {
    const srv = net.createServer();
    cleanup.push(() => new Promise<void>((r) => { srv.close(() => { r(); }); }));
    const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const sock = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', r));
    const peer = await accepted;
    peer.pause();
    const s = socketStream(sock);
    expect(s.writableLength).toBe(0);
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 16; i++) s.write([chunk.subarray(0, 4), chunk]);
    // the kernel takes a few MiB at most; the rest stays with the stream
    expect(s.writableLength).toBeGreaterThan(0);
    expect(s.writableLength).toBe(sock.writableLength);
    let got = 0;
    peer.on('data', (d: Buffer) => { got += d.length; });
    peer.resume();
    await until(() => got === 16 * ((1 << 20) + 4), 'the peer reads everything');
    expect(s.writableLength).toBe(0);
    sock.destroy();
    peer.destroy();
  });
});

describe('tcp - receive-side back-pressure', () => {
  it('slow one-way handlers pause reading; the sender waits; nothing is lost when they catch up', async () => {
    const s = await server({ maxInFlight: 16 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let pending = 0;
    let peak = 0;
    let handled = 0;
    s.t.handle('slow', async () => {
      pending++;
      peak = Math.max(peak, pending);
      await gate;
      pending--;
      handled++;
    });
    const conn = await client({ sendQueueBytes: 64 * 1024 }).dial(s.address);
    const total = 20_000;
    const body = new Uint8Array(1024);
    let sent = 0;
    const sender = (async () => {
      for (let i = 0; i < total; i++) {
        await conn.send('slow', body);
        sent++;
      }
    })();
    let last = -1;
    while (sent !== last) {
      last = sent;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sent).toBeLessThan(total);
    // Handlers started is bounded by the limit plus one received chunk of messages.
    expect(peak).toBeLessThan(16 + 128);
    release();
    await sender;
    await until(() => handled === total, 'all messages handled', 20_000);
  });
});

describe('tcp - hello negotiation', () => {
  it('a peer offering more versions and unknown hello keys is accepted (forward compatible)', async () => {
    const s = await server();
    s.t.handle('echo', (p) => p);
    const peer = await rawConnect(s.address);
    peer.frame({ type: FrameType.HELLO, flags: 0, id: 0, payload: encodeCbor({ v: [2, 3, 99], maxFrame: 4096, maxInFlight: 8, window: 4, future: { x: 1 } }) });
    peer.frame({ type: FrameType.REQUEST, flags: 0, id: 1, payload: Uint8Array.of(4, ...Buffer.from('echo'), 0, 0, 0, 0, 0x07) });
    await peer.waitFor((fs) => fs.some((f) => f.type === FrameType.RESPONSE), 'response');
    expect(peer.frames[0]!.type).toBe(FrameType.HELLO);
    expect(Array.from(peer.frames.find((f) => f.type === FrameType.RESPONSE)!.payload)).toEqual([0x07]);
    peer.socket.destroy();
  });

  it('the identity option travels in hello as remoteIdentity; limits are announced', async () => {
    const s = await server({ identity: 'node-b' });
    const conn = await client({ identity: 'node-a' }).dial(s.address);
    await until(() => s.inbound.length === 1, 'inbound');
    expect(conn.remoteIdentity).toBe('node-b');
    expect(s.inbound[0]!.remoteIdentity).toBe('node-a');
  });

  it('checksum: true puts a CRC-32 on every frame and the peer verifies it', async () => {
    const s = await server({ checksum: true });
    s.t.handle('echo', (p) => p);
    const peer = await rawConnect(s.address);
    const bytes: Buffer[] = [];
    peer.socket.on('data', (b: Buffer) => bytes.push(b));
    peer.hello();
    peer.frame({ type: FrameType.REQUEST, flags: 0, id: 1, payload: Uint8Array.of(4, ...Buffer.from('echo'), 0, 0, 0, 0, 0x07) });
    await peer.waitFor((fs) => fs.some((f) => f.type === FrameType.RESPONSE), 'response');
    // Walk the frames the server sent: every one with a payload carries a non-zero CRC-32
    // (the raw peer's decoder already verified them).
    const all = Buffer.concat(bytes);
    let crcs = 0;
    for (let off = 0; off + 24 <= all.length; off += 24 + all.readUInt32LE(off + 16)) {
      if (all.readUInt32LE(off + 16) > 0) {
        expect(all.readUInt32LE(off + 20)).not.toBe(0);
        crcs++;
      }
    }
    expect(crcs).toBeGreaterThanOrEqual(2);
    const conn = await client({ checksum: true }).dial(s.address);
    expect(await conn.request('echo', { big: new Uint8Array(100_000).fill(1) })).toMatchObject({ big: expect.any(Uint8Array) as unknown });
    peer.socket.destroy();
  });
});
