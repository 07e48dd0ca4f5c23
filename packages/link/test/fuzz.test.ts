/** Property tests / fuzzing of everything that parses bytes off the wire. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InitiatorHandshake, RecordReceiver, ResponderHandshake, SecureChannel, flattenFrame, isLinkError, memoryDuplexPair, nodeCrypto, parseAlert, parseAuth, parseHello, parseReply } from '../src/index.js';
import { alice, bob } from './helpers.js';

const runs = Number(process.env.LINK_FUZZ_RUNS ?? 300);
const wireCodes = new Set(['HANDSHAKE_MALFORMED', 'HANDSHAKE_TOO_LARGE']);

function expectTyped(f: () => unknown, codes?: Set<string>): void {
  try {
    f();
  } catch (e) {
    expect(isLinkError(e), String(e)).toBe(true);
    if (codes !== undefined) expect(codes.has((e as { code: string }).code), (e as Error).message).toBe(true);
  }
}

const opts = (identity = alice) => ({ identity, provider: nodeCrypto, ciphers: nodeCrypto.ciphers });

/** A byte string derived from `base` by a few random edits (flip, insert, delete, truncate). */
const mutated = (base: Uint8Array) =>
  fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'truncate', 'set'), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = Array.from(base);
    for (const [op, pos, v] of edits) {
      const i = b.length === 0 ? 0 : pos % b.length;
      if (op === 'flip' && b.length > 0) b[i] = (b[i]! ^ (1 << (v % 8))) & 0xff;
      else if (op === 'set' && b.length > 0) b[i] = v;
      else if (op === 'insert') b.splice(i, 0, v);
      else if (op === 'delete') b.splice(i, 1);
      else if (op === 'truncate') b = b.slice(0, i);
    }
    return Uint8Array.from(b);
  });

describe('handshake parser fuzzing', () => {
  it('arbitrary bytes: every parser returns or throws a typed wire error naming a field', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (b) => {
      expectTyped(() => parseHello(b), wireCodes);
      expectTyped(() => parseReply(b), wireCodes);
      expectTyped(() => parseAuth(b), wireCodes);
      expectTyped(() => parseAlert(b), wireCodes);
    }), { numRuns: runs * 3 });
  });

  it('arbitrary bytes with a valid type byte and magic still only produce typed errors', () => {
    fc.assert(fc.property(fc.constantFrom(1, 2, 3), fc.uint8Array({ maxLength: 200 }), (t, rest) => {
      const b = Uint8Array.of(t, 0x41, 0x42, 0x49, 0x4c, ...rest);
      expectTyped(() => parseHello(b), wireCodes);
      expectTyped(() => parseReply(b), wireCodes);
      expectTyped(() => parseAuth(b), wireCodes);
    }), { numRuns: runs * 3 });
  });

  it('a mutated HELLO makes the responder either answer or fail with a typed error', () => {
    const hello = new InitiatorHandshake(opts()).hello();
    fc.assert(fc.property(mutated(hello), (m) => {
      expectTyped(() => new ResponderHandshake(opts(bob)).onHello(m));
    }), { numRuns: runs });
  });

  it('any mutation of a REPLY or AUTH is rejected with a typed error (never accepted)', () => {
    const ini = new InitiatorHandshake(opts());
    const resp = new ResponderHandshake(opts(bob));
    const hello = ini.hello();
    const reply = resp.onHello(hello);
    const { auth } = ini.onReply(reply);
    fc.assert(fc.property(mutated(reply), (m) => {
      fc.pre(m.length !== reply.length || m.some((x, i) => x !== reply[i]));
      const i2 = new InitiatorHandshake(opts());
      const r2 = new ResponderHandshake(opts(bob));
      r2.onHello(i2.hello());
      expect(() => i2.onReply(m)).toThrow();
      expectTyped(() => i2.onReply(m));
    }), { numRuns: Math.ceil(runs / 3) });
    fc.assert(fc.property(mutated(auth), (m) => {
      fc.pre(m.length !== auth.length || m.some((x, i) => x !== auth[i]));
      expect(() => resp.onAuth(m)).toThrow();
      expectTyped(() => resp.onAuth(m));
    }), { numRuns: runs });
  });

  it('random records never open and always fail with a typed error', () => {
    const rx = new RecordReceiver(nodeCrypto, 'aes-256-gcm', new Uint8Array(32), new Uint8Array(12), { replayWindow: 16 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      expect(() => rx.open(b)).toThrow();
      expectTyped(() => rx.open(b));
    }), { numRuns: runs });
  });

  it('a responder channel fed random frames rejects with a typed error and sends at most an alert', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 1200 }), { minLength: 1, maxLength: 3 }), async (frames) => {
      const [a, b] = memoryDuplexPair();
      const out: Uint8Array[] = [];
      a.start({ onFrame: (f) => out.push(flattenFrame(f)), onEnd: () => undefined });
      const srv = SecureChannel.accept(b, { identity: bob, handshakeTimeoutMs: 1000 });
      for (const f of frames) a.send(f);
      a.close();
      const err = await srv.then(() => undefined, (e: unknown) => e);
      expect(isLinkError(err)).toBe(true);
      for (const f of out) expect(f[0] === 4 || f[0] === 2).toBe(true);
    }), { numRuns: Math.ceil(runs / 3) });
  });
});
