/**
 * Attacks on the handshake and the record layer. Each must end in a typed error code and a closed
 * channel. Frames a→b: 0 HELLO, 1 AUTH, 2.. records; b→a: 0 REPLY, 1 READY, 2.. records.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it, vi } from 'vitest';
import { RecordReceiver, RecordSender, RecordType, SecureChannel, flattenFrame, memoryDuplexPair, nodeCrypto, parseHello } from '../src/index.js';
import { alice, bob, closed, codeOf, manualClock, mallory, nextMessage, pair, pairOutcome, tap } from './helpers.js';

const bytes = (n: number, v = 1): Uint8Array => new Uint8Array(n).fill(v);

async function settle(ch: SecureChannel): Promise<void> {
  await vi.waitFor(() => { expect(ch.state).toBe('closed'); });
}

describe('record-layer attacks', () => {
  it('a flipped byte in a record → DECRYPT_FAILED, both ends closed', async () => {
    for (const at of [0, 1, 5, 12, 30]) {
      const { client, server } = await pair({}, {}, {
        aToB: tap((f, i) => {
          if (i === 3) f[Math.min(at, f.length - 1)]! ^= 0x40;
          return f;
        }),
      });
      const got: Uint8Array[] = [];
      server.onMessage((m) => got.push(m));
      await client.send(bytes(20));
      await client.send(bytes(20));
      await settle(server);
      // header bytes: type → RECORD_MALFORMED (unknown type) or a different nonce; seq → OUT_OF_ORDER; body → DECRYPT_FAILED
      expect(['DECRYPT_FAILED', 'RECORD_MALFORMED', 'OUT_OF_ORDER']).toContain(server.closeError?.code);
      if (at >= 10) expect(server.closeError?.code).toBe('DECRYPT_FAILED');
      expect(got).toHaveLength(1);
      await settle(client);
      expect(client.closeError?.code).toBe('CLOSED');
    }
  });

  it('a replayed record → REPLAY, and the duplicate is not delivered', async () => {
    const { client, server } = await pair({}, {}, { aToB: tap((f, i) => (i === 2 ? [f, Uint8Array.from(f)] : f)) });
    const got: Uint8Array[] = [];
    server.onMessage((m) => got.push(m));
    await client.send(bytes(8));
    await settle(server);
    expect(server.closeError?.code).toBe('REPLAY');
    expect(got).toHaveLength(1);
  });

  it('a reordered record → OUT_OF_ORDER', async () => {
    let held: Uint8Array | undefined;
    const { client, server } = await pair({}, {}, {
      aToB: tap((f, i) => {
        if (i === 2) { held = f; return undefined; }
        if (i === 3) return [f, held!];
        return f;
      }),
    });
    const got: Uint8Array[] = [];
    server.onMessage((m) => got.push(m));
    await client.send(bytes(8, 1));
    await client.send(bytes(8, 2));
    await settle(server);
    expect(server.closeError?.code).toBe('OUT_OF_ORDER');
    expect(got).toHaveLength(0);
  });

  it('a truncated stream (carrier cut without an authenticated close) → TRUNCATED on both ends', async () => {
    const { client, server, da } = await pair();
    const cs = closed(client);
    const ss = closed(server);
    da.cut();
    expect(await cs).toBe('TRUNCATED');
    expect(await ss).toBe('TRUNCATED');
  });

  it('a forged CLOSE record cannot end the channel cleanly', async () => {
    const { client, server, da } = await pair();
    // an attacker injecting a plaintext-looking close record into a→b
    da.send(Uint8Array.of(0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, ...bytes(16, 0)));
    await settle(server);
    expect(server.closeError?.code).toBe('DECRYPT_FAILED');
    expect(client.state).not.toBe('handshake');
  });

  it('replay window mode: accepts reordering inside the window, rejects duplicates and too-old records', () => {
    const key = bytes(32, 5);
    const iv = bytes(12, 6);
    const tx = new RecordSender(nodeCrypto, 'aes-256-gcm', key, iv, 0);
    const rx = new RecordReceiver(nodeCrypto, 'aes-256-gcm', key, iv, { replayWindow: 64 });
    const recs = Array.from({ length: 200 }, (_, i) => tx.seal(RecordType.data, Uint8Array.of(i)));
    expect(rx.open(recs[1]!).payload[0]).toBe(1);
    expect(rx.open(recs[0]!).payload[0]).toBe(0);
    expect(() => rx.open(recs[1]!)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
    expect(rx.open(recs[100]!).payload[0]).toBe(100);
    expect(rx.open(recs[50]!).payload[0]).toBe(50);
    expect(() => rx.open(recs[20]!)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
    expect(() => rx.open(recs[50]!)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
    expect(rx.open(recs[199]!).payload[0]).toBe(199);
    expect(() => rx.open(recs[100]!)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
    expect(rx.open(recs[150]!).payload[0]).toBe(150);
  });

  it('a record longer than maxMessageSize → RECORD_TOO_LARGE', async () => {
    const { client, server } = await pair({}, { maxMessageSize: 100 });
    await client.send(bytes(200));
    await settle(server);
    expect(server.closeError?.code).toBe('RECORD_TOO_LARGE');
  });
});

describe('handshake attacks', () => {
  it('wrong identity: the initiator pins bob but mallory answers → PEER_NOT_ALLOWED / PEER_REJECTED', async () => {
    const r = await pairOutcome({ peer: bob.nodeId }, { identity: mallory });
    expect(codeOf(r.client)).toBe('PEER_NOT_ALLOWED');
    expect(codeOf(r.server)).toBe('PEER_REJECTED');
  });

  it('wrong identity: the responder allowlist excludes the initiator → PEER_NOT_ALLOWED / PEER_REJECTED', async () => {
    const r = await pairOutcome({ identity: mallory }, { allow: [alice.nodeId] });
    expect(codeOf(r.server)).toBe('PEER_NOT_ALLOWED');
    expect(codeOf(r.client)).toBe('PEER_REJECTED');
    const r2 = await pairOutcome({}, { allow: () => false });
    expect(codeOf(r2.server)).toBe('PEER_NOT_ALLOWED');
  });

  it('MITM substituting both ephemeral keys between two honest peers → BAD_SIGNATURE', async () => {
    const te = (s: string): Uint8Array => new TextEncoder().encode(s);
    const cat = (...p: Uint8Array[]): Uint8Array => Uint8Array.from(p.flatMap((x) => [...x]));
    const H = (...p: Uint8Array[]): Uint8Array => sha512(cat(te('abi-link/1 transcript'), ...p));
    const m1 = bytes(32, 0x66);
    const m2 = bytes(32, 0x77);
    let helloFromAlice: Uint8Array | undefined;
    let helloToBob: Uint8Array | undefined;
    const r = await pairOutcome({ ciphers: ['chacha20-poly1305'], peer: bob.nodeId }, { ciphers: ['chacha20-poly1305'] }, {
      aToB: tap((f, i) => {
        if (i !== 0) return f;
        helloFromAlice = f;
        const h = Uint8Array.from(f);
        h.set(x25519.getPublicKey(m1), 9); // Mallory's key instead of Alice's
        helloToBob = h;
        return h;
      }),
      bToA: tap((f, i) => {
        if (i !== 0) return f;
        // Mallory opens Bob's sealed identity with her DH, re-seals it for Alice with another DH.
        const eb = f.slice(3, 35);
        const hdrB = f.slice(0, 37);
        const dhB = x25519.getSharedSecret(m1, eb);
        const th1B = H(helloToBob!, hdrB);
        const inner = chacha20poly1305(hkdf(sha512, dhB, th1B, te('abi-link/1 responder handshake key'), 32), new Uint8Array(12), hdrB).decrypt(f.slice(37));
        const hdrA = Uint8Array.from(hdrB);
        hdrA.set(x25519.getPublicKey(m2), 3);
        const ea = helloFromAlice!.slice(9, 41);
        const dhA = x25519.getSharedSecret(m2, ea);
        const th1A = H(helloFromAlice!, hdrA);
        return cat(hdrA, chacha20poly1305(hkdf(sha512, dhA, th1A, te('abi-link/1 responder handshake key'), 32), new Uint8Array(12), hdrA).encrypt(inner));
      }),
    });
    expect(codeOf(r.client)).toBe('BAD_SIGNATURE');
    expect(codeOf(r.server)).toBe('PEER_REJECTED');
  });

  it('MITM replacing the responder ephemeral without the keys → TRANSCRIPT_MISMATCH', async () => {
    const r = await pairOutcome({}, {}, { bToA: tap((f, i) => { if (i === 0) f[5]! ^= 1; return f; }) });
    expect(codeOf(r.client)).toBe('TRANSCRIPT_MISMATCH');
    expect(codeOf(r.server)).toBe('PEER_REJECTED');
  });

  it('tampering the AUTH message → TRANSCRIPT_MISMATCH at the responder', async () => {
    const r = await pairOutcome({}, {}, { aToB: tap((f, i) => { if (i === 1) f[50]! ^= 1; return f; }) });
    expect(codeOf(r.server)).toBe('TRANSCRIPT_MISMATCH');
    expect(codeOf(r.client)).toBe('PEER_REJECTED');
  });

  it('downgrade: stripping the strong ciphers from the offer is detected (TRANSCRIPT_MISMATCH)', async () => {
    const r = await pairOutcome({ ciphers: ['aes-256-gcm', 'chacha20-poly1305', 'xsalsa20-poly1305'] }, {}, {
      aToB: tap((f, i) => {
        if (i !== 0) return f;
        const h = parseHello(f);
        // rebuild the HELLO offering only xsalsa20-poly1305
        const out = new Uint8Array(f.length - 2);
        out.set(f.subarray(0, 7));
        out[7] = 1;
        out[8] = 3;
        out.set(h.ephemeral, 9);
        return out;
      }),
    });
    expect(codeOf(r.client)).toBe('TRANSCRIPT_MISMATCH');
    expect(codeOf(r.server)).toBe('PEER_REJECTED');
  });

  it('downgrade: a responder choosing an unoffered cipher → NO_COMMON_CIPHER', async () => {
    const r = await pairOutcome({ ciphers: ['aes-256-gcm'] }, {}, { bToA: tap((f, i) => { if (i === 0) f[2] = 3; return f; }) });
    expect(codeOf(r.client)).toBe('NO_COMMON_CIPHER');
  });

  it('no common cipher / version → NO_COMMON_CIPHER / VERSION_MISMATCH with an alert to the peer', async () => {
    const r = await pairOutcome({ ciphers: ['aes-256-gcm'] }, { ciphers: ['xsalsa20-poly1305'] });
    expect(codeOf(r.server)).toBe('NO_COMMON_CIPHER');
    expect(codeOf(r.client)).toBe('PEER_REJECTED');
    const v = await pairOutcome({ minVersion: 2, maxVersion: 3 });
    expect(codeOf(v.server)).toBe('VERSION_MISMATCH');
    expect(codeOf(v.client)).toBe('PEER_REJECTED');
  });

  it('stalled handshake → HANDSHAKE_TIMEOUT on either side (fake clock)', async () => {
    const clock = manualClock();
    // responder never answers
    const [da] = memoryDuplexPair();
    const p = SecureChannel.connect(da, { identity: alice, clock, handshakeTimeoutMs: 5000 });
    clock.advance(4999);
    let settled = false;
    p.catch(() => undefined).finally(() => { settled = true; });
    await Promise.resolve();
    expect(settled).toBe(false);
    clock.advance(1);
    await expect(p).rejects.toMatchObject({ code: 'HANDSHAKE_TIMEOUT' });
    // initiator stalls after HELLO (AUTH dropped)
    const clock2 = manualClock();
    const [a, b] = memoryDuplexPair({ aToB: tap((f, i) => (i === 1 ? undefined : f)) });
    const srv = SecureChannel.accept(b, { identity: bob, clock: clock2, handshakeTimeoutMs: 3000 });
    const cli = SecureChannel.connect(a, { identity: alice, clock: clock2, handshakeTimeoutMs: 3000 });
    await vi.waitFor(() => { expect(clock2.pending()).toBe(2); });
    await new Promise((r) => setTimeout(r, 5));
    clock2.advance(3000);
    await expect(srv).rejects.toMatchObject({ code: 'HANDSHAKE_TIMEOUT' });
    const cliErr = await cli.then(() => undefined, (e: unknown) => (e as { code: string }).code);
    expect(['HANDSHAKE_TIMEOUT', 'TRUNCATED']).toContain(cliErr);
  });

  it('an oversized handshake message → HANDSHAKE_TOO_LARGE', async () => {
    const [a, b] = memoryDuplexPair();
    const srv = SecureChannel.accept(b, { identity: bob });
    a.start({ onFrame: () => undefined, onEnd: () => undefined });
    a.send(new Uint8Array(5000).fill(1));
    await expect(srv).rejects.toMatchObject({ code: 'HANDSHAKE_TOO_LARGE' });
  });

  it('garbage instead of a HELLO → HANDSHAKE_MALFORMED with the offending field', async () => {
    const [a, b] = memoryDuplexPair();
    const srv = SecureChannel.accept(b, { identity: bob });
    const alerts: Uint8Array[] = [];
    a.start({ onFrame: (f) => alerts.push(flattenFrame(f)), onEnd: () => undefined });
    a.send(Uint8Array.of(1, 0x41, 0x42, 0x49, 0x58, 1, 1, 1, 1));
    await expect(srv).rejects.toMatchObject({ code: 'HANDSHAKE_MALFORMED', field: 'magic', offset: 4 });
    await vi.waitFor(() => { expect(alerts).toEqual([Uint8Array.of(4, 1)]); });
  });

  it('a record instead of AUTH, or a second HELLO → typed handshake errors', async () => {
    const r = await pairOutcome({}, {}, { aToB: tap((f, i) => (i === 1 ? [Uint8Array.from(f.subarray(0, 1)).fill(1)] : f)) });
    expect(codeOf(r.server)).toMatch(/HANDSHAKE_UNEXPECTED|HANDSHAKE_MALFORMED/);
    const r2 = await pairOutcome({}, {}, { aToB: tap((f, i) => (i === 0 ? [f, f] : f)) });
    expect(codeOf(r2.server)).toBe('HANDSHAKE_UNEXPECTED');
  });

  it('the handshake channel keeps working after all this: a clean pair still connects', async () => {
    const { client, server } = await pair();
    const m = nextMessage(server);
    await client.send(bytes(3));
    expect(await m).toEqual(bytes(3));
  });
});
