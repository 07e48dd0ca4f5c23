import { describe, expect, it, vi } from 'vitest';
import { SecureChannel, memoryDuplexPair, nodeCrypto, portableCrypto, type CipherId, type Clock } from '../src/index.js';
import { alice, bob, closed, nextMessage, pair } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('SecureChannel', () => {
  for (const cipher of ['aes-256-gcm', 'chacha20-poly1305', 'xsalsa20-poly1305'] as CipherId[]) {
    it(`authenticates both peers and carries messages both ways (${cipher})`, async () => {
      const { client, server } = await pair({ ciphers: [cipher] });
      expect(client.cipher).toBe(cipher);
      expect(server.cipher).toBe(cipher);
      expect(client.peer.nodeId).toBe(bob.nodeId);
      expect(server.peer.nodeId).toBe(alice.nodeId);
      expect(client.sessionId).toEqual(server.sessionId);
      const got = nextMessage(server);
      await client.send(enc('hello bob'));
      expect(dec(await got)).toBe('hello bob');
      const back = nextMessage(client);
      await server.send(enc('hello alice'));
      expect(dec(await back)).toBe('hello alice');
      const sc = closed(server);
      await client.close();
      expect(await sc).toBeUndefined();
      expect(server.state).toBe('closed');
    });
  }

  it('interoperates across providers: node initiator, portable responder', async () => {
    const { client, server } = await pair({ provider: nodeCrypto }, { identity: bob.withProvider(portableCrypto) });
    expect(client.cipher).toBe('xsalsa20-poly1305');
    const got = nextMessage(client);
    await server.send(enc('from portable'));
    expect(dec(await got)).toBe('from portable');
  });

  it('picks the initiator preference among ciphers both allow', async () => {
    const { client } = await pair({ ciphers: ['chacha20-poly1305', 'aes-256-gcm'] }, { ciphers: ['aes-256-gcm', 'chacha20-poly1305'] });
    expect(client.cipher).toBe('chacha20-poly1305');
  });

  it('accepts a pinned peer and an allowlisted peer', async () => {
    const { client, server } = await pair({ peer: bob.nodeId }, { allow: [alice.nodeId] });
    expect(client.peer.nodeId).toBe(bob.nodeId);
    expect(server.peer.publicKey).toEqual(alice.publicKey);
  });

  it('measures RTT with ping', async () => {
    const { client } = await pair();
    const rtt = await client.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it('queues messages that arrive before a listener, in order', async () => {
    const { client, server } = await pair();
    for (let i = 0; i < 5; i++) await client.send(Uint8Array.of(i));
    await client.ping();
    const got: number[] = [];
    server.onMessage((m) => got.push(m[0]!));
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it('updates keys after the byte budget and keeps talking', async () => {
    const { client, server } = await pair({ rekeyAfterBytes: 100 });
    const got: number[] = [];
    server.onMessage((m) => got.push(m.length));
    for (let i = 0; i < 10; i++) await client.send(new Uint8Array(60));
    await client.ping();
    expect(got).toHaveLength(10);
    expect(client.stats.rekeysSent).toBe(4);
  });

  it('updates keys after the time budget (fake clock)', async () => {
    let t = 0;
    const clock: Clock = { now: () => t, setTimeout: () => 0, clearTimeout: () => undefined };
    const { client, server } = await pair({ rekeyAfterMs: 1000, clock }, { clock });
    const got: string[] = [];
    server.onMessage((m) => got.push(dec(m)));
    await client.send(enc('a'));
    t = 1500;
    await client.send(enc('b'));
    t = 1600;
    await client.send(enc('c'));
    t = 2600;
    await client.send(enc('d'));
    await vi.waitFor(() => { expect(got).toEqual(['a', 'b', 'c', 'd']); });
    expect(client.stats.rekeysSent).toBe(2);
  });

  it('rejects messages over maxMessageSize and send after close', async () => {
    const { client } = await pair({ maxMessageSize: 10 });
    await expect(client.send(new Uint8Array(11))).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE' });
    await client.close();
    await expect(client.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(client.ping()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('aborts a handshake through its AbortSignal', async () => {
    const [da] = memoryDuplexPair();
    const ac = new AbortController();
    const p = SecureChannel.connect(da, { identity: alice, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('SecureChannel edge cases', () => {
  it('send honours an aborted signal', async () => {
    const { client } = await pair();
    const ac = new AbortController();
    ac.abort();
    await expect(client.send(new Uint8Array(1), { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('replay window mode survives key updates with reordering across the update', async () => {
    const { RecordReceiver, RecordSender, RecordType } = await import('../src/index.js');
    const key = new Uint8Array(32).fill(8);
    const iv = new Uint8Array(12).fill(9);
    const tx = new RecordSender(nodeCrypto, 'chacha20-poly1305', key, iv, 0, { rekeyAfterBytes: 10 });
    const rx = new RecordReceiver(nodeCrypto, 'chacha20-poly1305', key, iv, { replayWindow: 32 });
    const a = tx.seal(RecordType.data, new Uint8Array(4).fill(1)); // seq 0, phase 0
    const b = tx.seal(RecordType.data, new Uint8Array(4).fill(2)); // seq 1, phase 0
    const k = tx.rekey(0); // seq 2: REKEY, then phase 1
    const c = tx.seal(RecordType.data, new Uint8Array(4).fill(3)); // seq 3, phase 1
    expect(rx.open(a).payload[0]).toBe(1);
    expect(rx.open(k).type).toBe(RecordType.rekey);
    expect(rx.open(c).payload[0]).toBe(3);
    expect(rx.open(b).payload[0]).toBe(2); // late record of the old phase, inside the window
    expect(() => rx.open(b)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
    expect(rx.phase).toBe(1);
  });
});

describe('SecureChannel.messages()', () => {
  it('iterates messages in order and ends on a clean close', async () => {
    const { client, server } = await pair();
    const it = server.messages();
    for (let i = 0; i < 3; i++) await client.send(Uint8Array.of(i));
    const got: number[] = [];
    const consumer = (async () => { for await (const m of it) got.push(m[0]!); })();
    await client.ping();
    await client.close();
    await consumer;
    expect(got).toEqual([0, 1, 2]);
  });

  it('throws the close error after a truncation, and ABORTED on its signal', async () => {
    const { client, server, da } = await pair();
    const it = server.messages()[Symbol.asyncIterator]();
    await client.send(Uint8Array.of(7));
    expect((await it.next()).value).toEqual(Uint8Array.of(7));
    da.cut();
    await expect(it.next()).rejects.toMatchObject({ code: 'TRUNCATED' });
    const p2 = await pair();
    const ac = new AbortController();
    const it2 = p2.server.messages({ signal: ac.signal })[Symbol.asyncIterator]();
    const next = it2.next();
    ac.abort();
    await expect(next).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('closes the channel with QUEUE_OVERFLOW when the reader falls behind its bound', async () => {
    const { client, server } = await pair();
    server.messages({ maxQueued: 2 });
    for (let i = 0; i < 3; i++) await client.send(Uint8Array.of(i));
    await vi.waitFor(() => { expect(server.closeError?.code).toBe('QUEUE_OVERFLOW'); });
  });
});
