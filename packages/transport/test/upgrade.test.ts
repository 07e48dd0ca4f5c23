/**
 * The extension point for wrappers such as `@abi/link`'s secure transport: a `StreamUpgrade`
 * turns each raw stream into another one (here a toy XOR "cipher" with a one-byte handshake)
 * before framing starts, and the result must still pass the whole compliance suite.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, openConnection, StreamTransport, tcpNetwork, TransportError } from '../src/index.js';
import type { ByteStream, StreamUpgrade } from '../src/index.js';
import { transportCompliance } from '../src/compliance.js';

function xor(chunk: Uint8Array, key: number): Uint8Array {
  const out = new Uint8Array(chunk.length);
  for (let i = 0; i < chunk.length; i++) out[i] = (chunk[i] ?? 0) ^ key;
  return out;
}

/** Exchanges one key byte, then XORs everything. Stands in for a real handshake + AEAD. */
const xorUpgrade: StreamUpgrade = async (raw, { initiator, signal }) => {
  signal.throwIfAborted();
  const mine = initiator ? 0x5a : 0x3c;
  raw.write([Uint8Array.of(mine)]);
  const { theirs, rest } = await new Promise<{ theirs: number; rest: Uint8Array }>((resolve, reject) => {
    const sub = raw.onData((chunk) => {
      sub[Symbol.dispose]();
      closeSub[Symbol.dispose]();
      resolve({ theirs: chunk[0] ?? 0, rest: chunk.subarray(1) });
    });
    const closeSub = raw.onClose(() => {
      reject(new TransportError('CONNECTION_LOST', 'closed during handshake'));
    });
  });
  const key = mine ^ theirs;
  let listener: ((c: Uint8Array) => void) | undefined;
  const pending: Uint8Array[] = rest.length > 0 ? [rest] : [];
  raw.onData((c) => {
    if (listener === undefined) pending.push(c);
    else listener(xor(c, key));
  });
  const wrapped: ByteStream = {
    localAddress: raw.localAddress,
    remoteAddress: raw.remoteAddress,
    write: (chunks) => raw.write(chunks.map((c) => xor(c, key))),
    onData: (l) => {
      listener = l;
      for (const c of pending.splice(0)) l(xor(c, key));
      return {
        [Symbol.dispose]: () => {
          listener = undefined;
        },
      };
    },
    onDrain: (l) => raw.onDrain(l),
    onClose: (l) => raw.onClose(l),
    end: () => {
      raw.end();
    },
    destroy: (e) => {
      raw.destroy(e);
    },
  };
  return wrapped;
};

transportCompliance('tcp + stream upgrade (xor)', async () => {
  const a = new StreamTransport(tcpNetwork(), { upgrade: xorUpgrade });
  const b = new StreamTransport(tcpNetwork(), { upgrade: xorUpgrade });
  return {
    a,
    b,
    address: '127.0.0.1:0',
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});

describe('upgrade - seam', () => {
  it('bytes on the wire are transformed (the framing runs above the upgrade)', async () => {
    const net = new MemoryNetwork();
    const seen: Uint8Array[] = [];
    const spy: StreamUpgrade = async (raw, ctx) => {
      raw.onData((c) => seen.push(c));
      return xorUpgrade(raw, ctx);
    };
    const a = new StreamTransport(net.node('a'), { upgrade: spy });
    const b = new StreamTransport(net.node('b'), { upgrade: xorUpgrade });
    b.handle('echo', (p) => p);
    await b.listen('b');
    const conn = await a.dial('b');
    expect(await conn.request('echo', 'secret')).toBe('secret');
    const wire = Buffer.concat(seen);
    expect(wire.includes(Buffer.from('secret'))).toBe(false);
    expect(wire.includes(Buffer.from('TIBA'))).toBe(false);
    await a.close();
    await b.close();
  });

  it('openConnection runs the protocol over any ByteStream pair', async () => {
    const net = new MemoryNetwork();
    const node = net.node('x');
    let accepted: ByteStream | undefined;
    await node.listen('y', (s) => (accepted = s));
    const dialed = await node.dial('y');
    await new Promise((r) => setImmediate(r));
    const [client, server] = await Promise.all([
      openConnection(dialed, { initiator: true }),
      openConnection(accepted!, { initiator: false, handlers: (m) => (m === 'twice' ? (p: unknown) => (p as number) * 2 : undefined) }),
    ]);
    expect(await client.request('twice', 21)).toBe(42);
    await client.close();
    expect(server.state).toBe('closed');
  });

  it('a failing upgrade fails the dial with a typed error', async () => {
    const net = new MemoryNetwork();
    const bad: StreamUpgrade = () => Promise.reject(new Error('handshake refused'));
    const a = new StreamTransport(net.node('a'), { upgrade: bad });
    const b = new StreamTransport(net.node('b'));
    await b.listen('b');
    await expect(a.dial('b')).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    await a.close();
    await b.close();
  });
});

describe('upgrade - accept side is bounded', () => {
  it('a peer that stalls the handshake is cut off after connectTimeoutMs and frees its slot', async () => {
    const net = new MemoryNetwork({ clock: 'virtual' });
    let upgrades = 0;
    const stall: StreamUpgrade = (_raw, { signal }) =>
      new Promise((_resolve, reject) => {
        upgrades++;
        signal.addEventListener('abort', () => {
          reject(signal.reason as Error);
        });
      });
    const server = new StreamTransport(net.node('s'), { upgrade: stall, connectTimeoutMs: 1000, maxConnections: 1 });
    await server.listen('s');
    const client = new StreamTransport(net.node('c'), { upgrade: xorUpgrade });
    const first = await net.run(client.dial('s', { timeoutMs: 5000 }).catch((e: unknown) => e));
    expect((first as TransportError).code).toMatch(/CONNECT_TIMEOUT|CONNECTION_LOST/);
    expect(net.clock.now()).toBeLessThan(5000);
    // The slot is free again: a second stalled dial is accepted (not refused as TOO_MANY_CONNECTIONS).
    const second = await net.run(client.dial('s', { timeoutMs: 5000 }).catch((e: unknown) => e));
    expect((second as TransportError).code).not.toBe('TOO_MANY_CONNECTIONS');
    expect(upgrades).toBe(2);
    await client.close();
    await server.close();
  });
});
