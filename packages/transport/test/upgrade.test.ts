/**
 * The extension point for wrappers such as `@abi/link`'s secure transport: a `StreamUpgrade`
 * turns each raw stream into another one (here a toy XOR "cipher" with a one-byte handshake)
 * before framing starts, and the result must still pass the whole compliance suite.
 */
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor, encodeFrame, FrameDecoder, FrameType, isTransportError, MemoryNetwork, openConnection, StreamTransport, tcpNetwork, TransportError } from '../src/index.js';
import type { ByteStream, Connection, StreamNetwork, StreamUpgrade } from '../src/index.js';
import { transportCompliance } from '../src/compliance.js';
import { until } from './helpers.js';

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

/**
 * The XOR upgrade plus a stand-in for authentication: the dialer "proves" it is `client` and the
 * acceptor that it is `server`, and each side's upgraded stream carries the other's identity.
 */
function authUpgrade(ids: { readonly client: string; readonly server: string }): StreamUpgrade {
  return async (raw, ctx) => {
    const stream = await xorUpgrade(raw, ctx);
    return { ...stream, remoteIdentity: ctx.initiator ? ids.server : ids.client };
  };
}

const AUTH = { client: 'client-auth', server: 'server-auth' } as const;

/** Records every GOAWAY `[code, message]` the framing layer writes through the upgraded stream. */
function recordGoaways(upgrade: StreamUpgrade, goaways: [string, string][]): StreamUpgrade {
  return async (raw, ctx) => {
    const stream = await upgrade(raw, ctx);
    const decoder = new FrameDecoder((f) => {
      if (f.type !== FrameType.GOAWAY) return;
      const g = decodeCbor(f.payload) as unknown[];
      goaways.push([String(g[1]), String(g[2])]);
    });
    return {
      ...stream,
      write: (chunks) => {
        for (const c of chunks) decoder.push(c);
        return stream.write(chunks);
      },
    };
  };
}

/** Error of a failed dial, or the close reason of a dial that opened and was then refused. */
async function dialOutcome(t: StreamTransport, address: string): Promise<unknown> {
  return t.dial(address).then(
    (c) => c.closed,
    (e: unknown) => e,
  );
}

describe('upgrade - authenticated remoteIdentity', () => {
  const sides = [
    ['memory', () => new MemoryNetwork().node(), 'srv'],
    ['tcp', () => tcpNetwork(), '127.0.0.1:0'],
  ] as const satisfies readonly (readonly [string, () => StreamNetwork, string])[];

  for (const [name, network, bind] of sides) {
    it(`${name}: both sides see the identity the upgrade authenticated, not the hello's`, async () => {
      const net = network();
      // The server announces no id in hello, the client announces the same id it authenticated as.
      const server = new StreamTransport(net, { upgrade: authUpgrade(AUTH) });
      const client = new StreamTransport(net, { upgrade: authUpgrade(AUTH), identity: AUTH.client });
      server.handle('who', (_p, ctx) => ctx.connection.remoteIdentity);
      const inbound: Connection[] = [];
      server.onConnection((c) => inbound.push(c));
      try {
        const l = await server.listen(bind);
        const conn = await client.dial(l.address);
        expect(conn.remoteIdentity).toBe(AUTH.server);
        expect(await conn.request('who')).toBe(AUTH.client);
        expect(inbound.map((c) => c.remoteIdentity)).toEqual([AUTH.client]);
      } finally {
        await client.close();
        await server.close();
      }
    });

    it(`${name}: a dialer whose hello id differs from its authenticated id is refused with PROTOCOL_ERROR, and nothing leaks`, async () => {
      const net = network();
      const goaways: [string, string][] = [];
      const server = new StreamTransport(net, { upgrade: recordGoaways(authUpgrade(AUTH), goaways), maxConnections: 1 });
      const liar = new StreamTransport(net, { upgrade: authUpgrade(AUTH), identity: 'mallory' });
      const good = new StreamTransport(net, { upgrade: authUpgrade(AUTH), identity: AUTH.client });
      server.handle('echo', (p) => p);
      const inbound: Connection[] = [];
      server.onConnection((c) => inbound.push(c));
      try {
        const l = await server.listen(bind);
        const err = await dialOutcome(liar, l.address);
        // The server received the bad hello: its setup failed with PROTOCOL_ERROR naming both ids,
        // which it sent to the dialer in a GOAWAY before dropping the stream.
        expect(goaways).toHaveLength(1);
        const [code, message] = goaways[0]!;
        expect(code).toBe('PROTOCOL_ERROR');
        expect(message).toContain('mallory');
        expect(message).toContain(AUTH.client);
        expect(inbound).toEqual([]);
        // The dialer's dial fails or its connection closes, with the GOAWAY's reason: the server
        // ends the stream after it and lingers instead of cutting it.
        expect(isTransportError(err)).toBe(true);
        expect((err as TransportError).code).toBe('PROTOCOL_ERROR');
        await until(() => liar.connections.size === 0 && server.connections.size === 0, 'connections released');
        // The inbound slot (maxConnections: 1) was released: a good client is accepted.
        const conn = await good.dial(l.address);
        expect(await conn.request('echo', 'ok')).toBe('ok');
        expect(inbound.map((c) => c.remoteIdentity)).toEqual([AUTH.client]);
      } finally {
        await good.close();
        await liar.close();
        await server.close();
      }
    });

    it(`${name}: a listener whose hello id differs from its authenticated id fails the dial with PROTOCOL_ERROR`, async () => {
      const net = network();
      const liar = new StreamTransport(net, { upgrade: authUpgrade(AUTH), identity: 'mallory' });
      const client = new StreamTransport(net, { upgrade: authUpgrade(AUTH) });
      try {
        const l = await liar.listen(bind);
        // The dialer is the side that receives the bad hello: its dial itself rejects.
        const err = await client.dial(l.address).then(() => undefined, (e: unknown) => e);
        expect(isTransportError(err)).toBe(true);
        expect((err as TransportError).code).toBe('PROTOCOL_ERROR');
        expect((err as TransportError).message).toContain('mallory');
        expect((err as TransportError).message).toContain(AUTH.server);
        expect(client.connections.size).toBe(0);
        await until(() => liar.connections.size === 0, 'liar connection closed');
      } finally {
        await client.close();
        await liar.close();
      }
    });
  }

  it('openConnection: the remoteIdentity option wins over the hello; a contradicting hello id is PROTOCOL_ERROR', async () => {
    const net = new MemoryNetwork();
    const node = net.node('x');
    const pairOf = async (address: string): Promise<[ByteStream, ByteStream]> => {
      let accepted: ByteStream | undefined;
      const l = await node.listen(address, (s) => (accepted = s));
      const dialed = await node.dial(l.address);
      await until(() => accepted !== undefined, 'accept');
      await l.close();
      return [dialed, accepted!];
    };
    // Same id, or none: accepted, remoteIdentity is the authenticated one.
    const [d1, a1] = await pairOf('y1');
    const [c1, s1] = await Promise.all([
      openConnection(d1, { initiator: true, remoteIdentity: 'srv' }),
      openConnection(a1, { initiator: false, remoteIdentity: 'cli', identity: 'srv' }),
    ]);
    expect(c1.remoteIdentity).toBe('srv');
    expect(s1.remoteIdentity).toBe('cli');
    await c1.close();
    // Different id: the receiving side fails with PROTOCOL_ERROR.
    const [d2, a2] = await pairOf('y2');
    const [c2, s2] = await Promise.allSettled([
      openConnection(d2, { initiator: true, remoteIdentity: 'srv' }),
      openConnection(a2, { initiator: false, identity: 'impostor' }),
    ]);
    expect(c2.status).toBe('rejected');
    expect(((c2 as PromiseRejectedResult).reason as TransportError).code).toBe('PROTOCOL_ERROR');
    if (s2.status === 'fulfilled') await s2.value.closed;
  });

  it('a refusal ends the stream after its GOAWAY and destroys it only when the peer closes or after the linger', async () => {
    // a stream that records what the connection does to it; the peer side is played by the test
    const run = async (finish: 'peer closes' | 'linger expires'): Promise<string[]> => {
      const log: string[] = [];
      let onData: ((c: Uint8Array) => void) | undefined;
      const closeListeners = new Set<(e?: Error) => void>();
      const timers: { fn: () => void; ms: number }[] = [];
      const stream: ByteStream = {
        localAddress: 'a',
        remoteAddress: 'b',
        remoteIdentity: 'cli',
        write: (chunks) => {
          const types: string[] = [];
          const d = new FrameDecoder((f) => types.push(Object.entries(FrameType).find(([, v]) => v === f.type)?.[0] ?? String(f.type)));
          for (const c of chunks) d.push(c);
          log.push(`write ${types.join(',')}`);
          return true;
        },
        onData: (l) => {
          onData = l;
          return { [Symbol.dispose]: () => { onData = undefined; } };
        },
        onDrain: () => ({ [Symbol.dispose]: () => undefined }),
        onClose: (l) => {
          closeListeners.add(l);
          return { [Symbol.dispose]: () => { closeListeners.delete(l); } };
        },
        end: () => { log.push('end'); },
        destroy: () => { log.push('destroy'); },
      };
      const clock = { now: () => 0, setTimeout: (fn: () => void, ms: number) => { timers.push({ fn, ms }); return timers.length; }, clearTimeout: (h: unknown) => { const t = timers[(h as number) - 1]; if (t !== undefined) t.fn = () => undefined; } };
      const opened = openConnection(stream, { initiator: false, identity: 'srv', clock }).catch((e: unknown) => e);
      // the peer's hello announces another id than the one its stream authenticated
      onData?.(encodeFrame({ type: FrameType.HELLO, flags: 0, id: 0, payload: encodeCbor({ v: 1, id: 'impostor' }) }));
      const err = await opened;
      expect((err as TransportError).code).toBe('PROTOCOL_ERROR');
      expect(log).toEqual(['write HELLO,GOAWAY', 'end']);
      const linger = timers.find((t) => t.ms === 1000);
      expect(linger, 'a linger timer').toBeDefined();
      if (finish === 'peer closes') for (const l of [...closeListeners]) l();
      else linger!.fn();
      return log;
    };
    expect(await run('peer closes')).toEqual(['write HELLO,GOAWAY', 'end', 'destroy']);
    expect(await run('linger expires')).toEqual(['write HELLO,GOAWAY', 'end', 'destroy']);
  });

  it('a GOAWAY reason outranks the stream error that follows it (the peer refuses, then cuts the stream)', async () => {
    const net = new MemoryNetwork();
    const node = net.node('x');
    let accepted: ByteStream | undefined;
    await node.listen('y', (s) => (accepted = s));
    const dialed = await node.dial('y');
    await until(() => accepted !== undefined, 'accept');
    // the client's stream, with its close event under the test's control
    const closeListeners = new Set<(e?: Error) => void>();
    const wrapped: ByteStream = {
      localAddress: dialed.localAddress,
      remoteAddress: dialed.remoteAddress,
      write: (c) => dialed.write(c),
      onData: (l) => dialed.onData(l),
      onDrain: (l) => dialed.onDrain(l),
      onClose: (l) => {
        closeListeners.add(l);
        return { [Symbol.dispose]: () => { closeListeners.delete(l); } };
      },
      end: () => { dialed.end(); },
      destroy: (e) => { dialed.destroy(e); },
    };
    const [client, server] = await Promise.all([openConnection(wrapped, { initiator: true }), openConnection(accepted!, { initiator: false })]);
    const pending = client.request('never', null).catch((e: unknown) => e);
    accepted!.write([encodeFrame({ type: FrameType.GOAWAY, flags: 0, id: 0, payload: encodeCbor([0, 'PROTOCOL_ERROR', 'hello id does not match']) })]);
    await until(() => client.state === 'closing', 'client sees the GOAWAY');
    for (const l of closeListeners) l(new Error('read ECONNRESET'));
    const reason = await client.closed;
    expect(reason?.code).toBe('PROTOCOL_ERROR');
    expect(reason?.message).toContain('hello id does not match');
    expect(isTransportError(await pending)).toBe(true);
    await server.close();
  });
});
