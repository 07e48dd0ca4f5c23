import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryNetwork, StreamTransport, TransportError, isTransportError, tcpNetwork } from '@abi/transport';
import { transportCompliance } from '@abi/transport/compliance';
import { describe, expect, it, vi } from 'vitest';
import { Identity, SecureChannel, SecureTransport, channelByteStream, memoryDuplexPair, nodeCrypto, plaintextAllowed, secureTcpTransport, secureUpgrade } from '../src/index.js';

const ida = Identity.fromSeed(new Uint8Array(32).fill(0x31));
const idb = Identity.fromSeed(new Uint8Array(32).fill(0x32));

transportCompliance('secure over memory', async () => {
  const network = new MemoryNetwork({ seed: 7 });
  const a = new SecureTransport(network.node('a'), { identity: ida });
  const b = new SecureTransport(network.node('b'), { identity: idb });
  return { a, b, address: 'b', close: async () => { await a.close(); await b.close(); } };
});

transportCompliance('secure over tcp', async () => {
  const a = secureTcpTransport({ identity: ida });
  const b = secureTcpTransport({ identity: idb, allow: [ida.nodeId] });
  return { a, b, address: '127.0.0.1:0', close: async () => { await a.close(); await b.close(); } };
});

transportCompliance('secure over unix socket, local plaintext allowed', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'abi-link-'));
  const a = secureTcpTransport({ identity: ida, localPlaintext: 'unix' });
  const b = secureTcpTransport({ identity: idb, localPlaintext: 'unix' });
  return { a, b, address: `unix:${path.join(dir, 's.sock')}`, close: async () => { await a.close(); await b.close(); } };
});

describe('SecureTransport', () => {
  it('reports the authenticated peer as remoteIdentity on both sides', async () => {
    await using a = secureTcpTransport({ identity: ida });
    await using b = secureTcpTransport({ identity: idb });
    b.handle('who', (_p, ctx) => ctx.connection.remoteIdentity);
    const l = await b.listen('127.0.0.1:0');
    const conn = await a.dial(l.address, { peer: idb.nodeId });
    expect(conn.remoteIdentity).toBe(idb.nodeId);
    expect(SecureTransport.peerOf(conn)?.publicKey).toEqual(idb.publicKey);
    expect(await conn.request('who')).toBe(ida.nodeId);
  });

  it('a dial pinned to the wrong identity fails with PROTOCOL_ERROR caused by PEER_NOT_ALLOWED', async () => {
    await using a = secureTcpTransport({ identity: ida });
    await using b = secureTcpTransport({ identity: idb });
    const l = await b.listen('127.0.0.1:0');
    const err = await a.dial(l.address, { peer: ida.nodeId }).then(() => undefined, (e: unknown) => e);
    expect(isTransportError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('PROTOCOL_ERROR');
    expect((err as { cause: { code: string } }).cause.code).toBe('PEER_NOT_ALLOWED');
  });

  it('a peer whose transport hello id differs from its authenticated key is rejected with PROTOCOL_ERROR', async () => {
    const idm = Identity.fromSeed(new Uint8Array(32).fill(0x33));
    // Authenticates as idm in the handshake but announces ida's node id in the transport hello
    // (SecureTransport always announces its own node id; the base transport lets us lie).
    await using liar = new StreamTransport(tcpNetwork(), { identity: ida.nodeId, upgrade: secureUpgrade({ identity: idm }) });
    await using honest = secureTcpTransport({ identity: idb, maxConnections: 1 });
    await using good = secureTcpTransport({ identity: ida });
    honest.handle('who', (_p, ctx) => ctx.connection.remoteIdentity);
    const accepted: string[] = [];
    honest.onConnection((c) => accepted.push(String(c.remoteIdentity)));

    // The liar listens: the honest dialer receives the contradicting hello and its dial fails.
    const ll = await liar.listen('127.0.0.1:0');
    const dialErr = await honest.dial(ll.address).then(() => undefined, (e: unknown) => e);
    expect(isTransportError(dialErr)).toBe(true);
    expect((dialErr as TransportError).code).toBe('PROTOCOL_ERROR');
    expect((dialErr as TransportError).message).toContain(ida.nodeId);
    expect((dialErr as TransportError).message).toContain(idm.nodeId);
    expect(honest.connections.size).toBe(0);

    // The liar dials: the honest listener fails the setup and accepts nothing, and still accepts an
    // honest client afterwards (maxConnections: 1, so the slot was released). The liar sees its
    // dial fail or its connection close with the GOAWAY's PROTOCOL_ERROR: the refusing side ends
    // the stream after the GOAWAY and lingers instead of cutting it.
    const hl = await honest.listen('127.0.0.1:0');
    const refused = await liar.dial(hl.address).then((c) => c.closed, (e: unknown) => e);
    expect(isTransportError(refused)).toBe(true);
    expect((refused as TransportError).code).toBe('PROTOCOL_ERROR');
    expect(accepted).toEqual([]);
    const conn = await good.dial(hl.address, { peer: idb.nodeId });
    expect(conn.remoteIdentity).toBe(idb.nodeId);
    expect(await conn.request('who')).toBe(ida.nodeId);
    expect(accepted).toEqual([ida.nodeId]);
  });

  it('a plain transport cannot talk to a secure one', async () => {
    const { TcpTransport } = await import('@abi/transport');
    await using a = new TcpTransport({ connectTimeoutMs: 2000, helloTimeoutMs: 1000 });
    await using b = secureTcpTransport({ identity: idb, handshakeTimeoutMs: 1000 });
    const l = await b.listen('127.0.0.1:0');
    await expect(a.dial(l.address)).rejects.toSatisfy(isTransportError);
  });

  it('negotiates plaintext records only over a same-host stream when both operators allow it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'abi-link-'));
    const run = async (addr: string, pa: 'never' | 'unix' | 'unix-or-loopback', pb: 'never' | 'unix' | 'unix-or-loopback'): Promise<string[]> => {
      const seen: string[] = [];
      const a = secureTcpTransport({ identity: ida, localPlaintext: pa, onSecured: (i) => seen.push(`a:${i.cipher}`) });
      const b = secureTcpTransport({ identity: idb, localPlaintext: pb, onSecured: (i) => seen.push(`b:${i.cipher}`) });
      b.handle('echo', (p) => p);
      try {
        const l = await b.listen(addr);
        const c = await a.dial(l.address);
        expect(await c.request('echo', 'x')).toBe('x');
        return seen.sort();
      } finally {
        await a.close();
        await b.close();
      }
    };
    const enc = nodeCrypto.ciphers[0]!; // aegis-128l where the addon has it, else aes-256-gcm
    expect(await run(`unix:${path.join(dir, '1.sock')}`, 'unix', 'unix')).toEqual(['a:none', 'b:none']);
    expect(await run(`unix:${path.join(dir, '2.sock')}`, 'unix', 'never')).toEqual([`a:${enc}`, `b:${enc}`]);
    expect(await run(`unix:${path.join(dir, '3.sock')}`, 'never', 'unix')).toEqual([`a:${enc}`, `b:${enc}`]);
    expect(await run('127.0.0.1:0', 'unix', 'unix')).toEqual([`a:${enc}`, `b:${enc}`]);
    expect(await run('127.0.0.1:0', 'unix-or-loopback', 'unix-or-loopback')).toEqual(['a:none', 'b:none']);
  });

  it('local plaintext needs both the operator switch and a same-host stream', () => {
    expect(plaintextAllowed('never', 'unix', 'unix')).toBe(false);
    expect(plaintextAllowed('unix', 'unix', 'unix')).toBe(true);
    expect(plaintextAllowed('unix', '127.0.0.1:1', '127.0.0.1:2')).toBe(false);
    expect(plaintextAllowed('unix-or-loopback', '127.0.0.1:1', '127.0.0.1:2')).toBe(true);
    expect(plaintextAllowed('unix-or-loopback', '[::1]:1', '[::1]:2')).toBe(true);
    expect(plaintextAllowed('unix-or-loopback', '10.0.0.1:1', '127.0.0.1:2')).toBe(false);
    expect(plaintextAllowed('unix-or-loopback', '192.168.1.2:1', '192.168.1.3:2')).toBe(false);
  });
});



describe('tokens on secure connections', () => {
  it('expired / forged / over-delegated / revoked tokens: typed error and the connection closed', async () => {
    const { RevocationList, Token, TokenVerifier, authorizeConnection, encodeTokenChain, issueToken } = await import('../src/index.js');
    const admin = Identity.fromSeed(new Uint8Array(32).fill(0x50));
    const now = Date.now();
    const rev = new RevocationList();
    const verifier = new TokenVerifier({ trustedIssuers: [admin.nodeId], revocations: rev, clockSkewMs: 0 });
    const good = issueToken(admin, { subject: ida.publicKey, scopes: ['publish', 'delegate'], ttlMs: 60_000, now, depth: 0 });
    const expired = issueToken(admin, { subject: ida.publicKey, scopes: ['publish'], ttlMs: 1000, now: now - 10_000 });
    const forgedBytes = Uint8Array.from(good.bytes);
    forgedBytes[1] = 0x0f;
    const forged = Token.decode(forgedBytes);
    const over = Token.sign(ida, { scopes: 1, depth: 0, subject: ida.publicKey, notBefore: now, notAfter: now + 1000, nonce: 1n, parentHash: good.hash(), resource: '*' });
    const revoked = issueToken(admin, { subject: ida.publicKey, scopes: ['publish'], ttlMs: 60_000, now });
    rev.revokeToken(revoked);
    const cases: [string, Uint8Array][] = [
      ['TOKEN_EXPIRED', encodeTokenChain([expired])],
      ['TOKEN_FORGED', encodeTokenChain([forged])],
      ['TOKEN_OVER_DELEGATED', encodeTokenChain([good, over])],
      ['TOKEN_REVOKED', encodeTokenChain([revoked])],
    ];
    await using a = secureTcpTransport({ identity: ida });
    await using b = secureTcpTransport({ identity: idb });
    const seen: string[] = [];
    b.handle('auth', (payload, ctx) => {
      try {
        return authorizeConnection(ctx.connection, payload as Uint8Array, verifier, { scope: 'publish' }).subject;
      } catch (e) {
        seen.push((e as { code: string }).code);
        throw e;
      }
    });
    const l = await b.listen('127.0.0.1:0');
    const ok = await a.dial(l.address);
    expect(await ok.request('auth', encodeTokenChain([good]))).toBe(ida.nodeId);
    for (const [code, chain] of cases) {
      const conn = await a.dial(l.address);
      await expect(conn.request('auth', chain)).rejects.toSatisfy(isTransportError);
      const reason = await conn.closed;
      expect(reason).toBeDefined();
      expect(conn.state).toBe('closed');
      expect(seen.at(-1)).toBe(code);
    }
    expect(seen).toEqual(cases.map((c) => c[0]));
  });
});

describe('channelByteStream', () => {
  it('cuts a large write into records of at most 256 KiB, as views, and the bytes arrive in order', async () => {
    const [da, db] = memoryDuplexPair();
    const [c, s] = await Promise.all([SecureChannel.connect(da, { identity: ida }), SecureChannel.accept(db, { identity: idb })]);
    const raw = { localAddress: 'a', remoteAddress: 'b', write: () => true, onData: () => ({ [Symbol.dispose]: () => undefined }), onDrain: () => ({ [Symbol.dispose]: () => undefined }), onClose: () => ({ [Symbol.dispose]: () => undefined }), end: () => undefined, destroy: () => undefined };
    const stream = channelByteStream(c, raw);
    const records: number[] = [];
    const received: Uint8Array[] = [];
    s.onMessageParts((parts) => {
      let n = 0;
      for (const p of parts) {
        n += p.length;
        received.push(Uint8Array.from(p));
      }
      records.push(n);
    });
    // odd chunk sizes so that record boundaries fall inside chunks
    const chunks = [100_000, 300_001, 7, 500_000, 250_000].map((n, i) => new Uint8Array(n).map((_, j) => (i * 31 + j) & 0xff));
    const total = chunks.reduce((a, b) => a + b.length, 0);
    stream.write(chunks);
    await vi.waitFor(() => { expect(received.reduce((a, b) => a + b.length, 0)).toBe(total); });
    expect(records.every((n) => n <= 256 * 1024)).toBe(true);
    expect(records.length).toBe(Math.ceil(total / (256 * 1024)));
    expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
    await c.close();
  });

  it('under back-pressure the rest of a write waits unsealed; it is sealed as the carrier drains, drain fires once, end() waits for it', async () => {
    const [da, db] = memoryDuplexPair();
    // a carrier whose send reports back-pressure while the gate is shut
    let gate: { promise: Promise<void>; open: () => void } | undefined;
    const gated: typeof da = Object.assign(Object.create(da) as typeof da, {
      send(frame: Uint8Array | readonly Uint8Array[]): void | Promise<void> {
        da.send(frame);
        return gate?.promise;
      },
    });
    const [c, s] = await Promise.all([SecureChannel.connect(gated, { identity: ida }), SecureChannel.accept(db, { identity: idb })]);
    const raw = { localAddress: 'a', remoteAddress: 'b', write: () => true, onData: () => ({ [Symbol.dispose]: () => undefined }), onDrain: () => ({ [Symbol.dispose]: () => undefined }), onClose: () => ({ [Symbol.dispose]: () => undefined }), end: () => undefined, destroy: () => undefined };
    const stream = channelByteStream(c, raw);
    let drains = 0;
    stream.onDrain(() => { drains++; });
    const received: Uint8Array[] = [];
    s.onMessageParts((parts) => { for (const p of parts) received.push(Uint8Array.from(p)); });
    const closed = new Promise<unknown>((r) => { s.onClose(r); });
    const shut = (): (() => void) => {
      let open = (): void => undefined;
      gate = { promise: new Promise<void>((r) => { open = r; }), open: () => { open(); } };
      return () => {
        gate = undefined;
        open();
      };
    };
    const bytes = (): number => received.reduce((a, b) => a + b.length, 0);
    let release = shut();
    const chunks = Array.from({ length: 32 }, (_, i) => new Uint8Array(256 * 1024).fill(i));
    const before = c.stats.bytesSent;
    expect(stream.write(chunks)).toBe(false);
    // one record went to the carrier and reported back-pressure; 31 wait, unsealed
    expect(c.stats.bytesSent - before).toBe(256 * 1024);
    expect(stream.write([new Uint8Array(10).fill(99)])).toBe(false);
    expect(c.stats.bytesSent - before).toBe(256 * 1024);
    release();
    await vi.waitFor(() => { expect(bytes()).toBe(32 * 256 * 1024 + 10); });
    expect(drains).toBe(1);
    expect(Buffer.concat(received).equals(Buffer.concat([...chunks, new Uint8Array(10).fill(99)]))).toBe(true);
    // end() while records wait: the close comes after them, clean and authenticated
    release = shut();
    expect(stream.write(chunks.slice(0, 4))).toBe(false);
    stream.end();
    expect(stream.write([new Uint8Array(1)])).toBe(false); // nothing is accepted after end()
    release();
    expect(await closed).toBeUndefined();
    expect(bytes()).toBe(36 * 256 * 1024 + 10);
    expect(drains).toBe(1);
  });
});
