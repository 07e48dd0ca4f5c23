import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Identity, RevocationList, Token, TokenVerifier, decodeTokenChain, delegateToken, encodeTokenChain, isLinkError, issueToken, nodeCrypto, portableCrypto } from '../src/index.js';

const root = Identity.fromSeed(new Uint8Array(32).fill(10));
const ops = Identity.fromSeed(new Uint8Array(32).fill(11));
const svc = Identity.fromSeed(new Uint8Array(32).fill(12));
const leaf = Identity.fromSeed(new Uint8Array(32).fill(13));
const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;

function verifier(now = T0, extra: Partial<ConstructorParameters<typeof TokenVerifier>[0]> = {}) {
  return new TokenVerifier({ trustedIssuers: [root.nodeId], now: () => now, ...extra });
}

const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return isLinkError(e) ? e.code : `untyped: ${String(e)}`;
  }
};

describe('permission tokens', () => {
  it('issues, encodes and verifies a root token with scopes, subject and resource', () => {
    const t = issueToken(root, { subject: ops.nodeId, scopes: ['publish', 'subscribe'], ttlMs: HOUR, now: T0, resource: 'chat/*' });
    const bytes = encodeTokenChain([t]);
    const g = verifier(T0 + 1000).verify(bytes, { subject: ops.publicKey, scope: 'publish', resource: 'chat/room1' });
    expect(g).toMatchObject({ rootIssuer: root.nodeId, subject: ops.nodeId, scopes: ['publish', 'subscribe'], resource: 'chat/*', chainLength: 1, notAfter: T0 + HOUR });
    expect(decodeTokenChain(bytes)[0]!.bytes).toEqual(t.bytes);
    expect(code(() => verifier().verify([t], { scope: 'admin' }))).toBe('TOKEN_SCOPE');
    expect(code(() => verifier().verify([t], { resource: 'other/x' }))).toBe('TOKEN_SCOPE');
    expect(code(() => verifier().verify([t], { subject: leaf.nodeId }))).toBe('TOKEN_UNTRUSTED');
  });

  it('expired and not-yet-valid tokens are refused, within the allowed clock skew', () => {
    const t = issueToken(root, { subject: ops.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    const skew = 30_000;
    expect(code(() => verifier(T0 + HOUR + skew, { clockSkewMs: skew }).verify([t]))).toBeUndefined();
    expect(code(() => verifier(T0 + HOUR + skew + 1, { clockSkewMs: skew }).verify([t]))).toBe('TOKEN_EXPIRED');
    expect(code(() => verifier(T0 - skew, { clockSkewMs: skew }).verify([t]))).toBeUndefined();
    expect(code(() => verifier(T0 - skew - 1, { clockSkewMs: skew }).verify([t]))).toBe('TOKEN_NOT_YET_VALID');
    expect(code(() => verifier(T0 + HOUR + 1, { clockSkewMs: 0 }).verify([t]))).toBe('TOKEN_EXPIRED');
    expect(() => verifier(T0, { clockSkewMs: 300_001 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('a forged token (any altered byte, or signed by an untrusted key) is refused', () => {
    const t = issueToken(root, { subject: ops.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    const v = verifier();
    v.verify([t]); // cache the genuine one: altered copies must still fail
    fc.assert(fc.property(fc.nat({ max: t.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const b = Uint8Array.from(t.bytes);
      b[i]! ^= x;
      const c = code(() => v.verify([Token.decode(b)]));
      expect(c).toMatch(/^TOKEN_/);
    }), { numRuns: 200 });
    // forged scope bit specifically
    const b = Uint8Array.from(t.bytes);
    b[1] = 0x0f;
    expect(code(() => v.verify([Token.decode(b)]))).toBe('TOKEN_FORGED');
    const self = issueToken(leaf, { subject: leaf.publicKey, scopes: ['admin'], ttlMs: HOUR, now: T0 });
    expect(code(() => v.verify([self]))).toBe('TOKEN_UNTRUSTED');
  });

  it('delegation chains: narrowing works, widening / over-delegation / broken links are refused', () => {
    const t0 = issueToken(root, { subject: ops.publicKey, scopes: ['publish', 'subscribe', 'delegate'], ttlMs: HOUR, now: T0, depth: 2, resource: 'chat/*' });
    const c1 = delegateToken(ops, [t0], { subject: svc.publicKey, scopes: ['publish', 'delegate'], ttlMs: HOUR, now: T0, depth: 1, resource: 'chat/eu/*' });
    const c2 = delegateToken(svc, c1, { subject: leaf.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    const g = verifier().verify(encodeTokenChain(c2), { subject: leaf.nodeId, scope: 'publish', resource: 'chat/eu/1' });
    expect(g.chainLength).toBe(3);
    expect(g.rootIssuer).toBe(root.nodeId);
    // at issue time
    expect(code(() => delegateToken(leaf, c2, { subject: ops.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 }))).toBe('TOKEN_CHAIN');
    expect(code(() => delegateToken(svc, c1, { subject: leaf.publicKey, scopes: ['admin'], ttlMs: HOUR, now: T0 }))).toBe('TOKEN_SCOPE');
    expect(code(() => delegateToken(svc, c1, { subject: leaf.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0, depth: 1 }))).toBe('TOKEN_OVER_DELEGATED');
    expect(code(() => delegateToken(ops, [t0], { subject: svc.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0, resource: 'mail/*' }))).toBe('TOKEN_SCOPE');
    // a hand-made over-delegation (signed by a valid chain member, ignoring the rules) is refused at verify time
    const last = c2[2]!;
    const over = Token.sign(leaf, { scopes: 1, depth: 0, subject: ops.publicKey, notBefore: T0, notAfter: T0 + HOUR, nonce: 1n, parentHash: last.hash(), resource: 'chat/eu/1' });
    expect(code(() => verifier().verify([...c2, over]))).toBe('TOKEN_CHAIN');
    const leafWithDelegate = Token.sign(svc, { scopes: 1 | 8, depth: 0, subject: leaf.publicKey, notBefore: T0, notAfter: T0 + HOUR, nonce: 2n, parentHash: c1[1]!.hash(), resource: 'chat/eu/*' });
    const over2 = Token.sign(leaf, { scopes: 1, depth: 0, subject: ops.publicKey, notBefore: T0, notAfter: T0 + HOUR, nonce: 3n, parentHash: leafWithDelegate.hash(), resource: 'chat/eu/*' });
    expect(code(() => verifier().verify([...c1, leafWithDelegate, over2]))).toBe('TOKEN_OVER_DELEGATED');
    const widened = Token.sign(svc, { scopes: 1 | 4, depth: 0, subject: leaf.publicKey, notBefore: T0, notAfter: T0 + HOUR, nonce: 4n, parentHash: c1[1]!.hash(), resource: 'chat/eu/*' });
    expect(code(() => verifier().verify([...c1, widened]))).toBe('TOKEN_SCOPE');
    const outlives = Token.sign(svc, { scopes: 1, depth: 0, subject: leaf.publicKey, notBefore: T0, notAfter: T0 + 2 * HOUR, nonce: 5n, parentHash: c1[1]!.hash(), resource: 'chat/eu/*' });
    expect(code(() => verifier().verify([...c1, outlives]))).toBe('TOKEN_TTL');
    const spliced = Token.sign(svc, { scopes: 1, depth: 0, subject: leaf.publicKey, notBefore: T0, notAfter: T0 + HOUR, nonce: 6n, parentHash: new Uint8Array(32), resource: 'chat/eu/*' });
    expect(code(() => verifier().verify([...c1, spliced]))).toBe('TOKEN_CHAIN');
    expect(code(() => verifier(T0, { maxChainLength: 2 }).verify(c2))).toBe('TOKEN_OVER_DELEGATED');
  });

  it('revocation of a token or of an issuer takes effect immediately, even for cached chains', () => {
    const rev = new RevocationList();
    const v = verifier(T0, { revocations: rev });
    const t0 = issueToken(root, { subject: ops.publicKey, scopes: ['publish', 'delegate'], ttlMs: HOUR, now: T0, depth: 1 });
    const c1 = delegateToken(ops, [t0], { subject: svc.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    const other = issueToken(root, { subject: leaf.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    v.verify(c1);
    v.verify([other]);
    rev.revokeToken(c1[1]!);
    expect(code(() => v.verify(c1))).toBe('TOKEN_REVOKED');
    expect(code(() => v.verify([other]))).toBeUndefined();
    const c1b = delegateToken(ops, [t0], { subject: svc.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    expect(code(() => v.verify(c1b))).toBeUndefined();
    rev.revokeIssuer(ops.nodeId);
    expect(code(() => v.verify(c1b))).toBe('TOKEN_REVOKED');
    expect(code(() => v.verify([t0]))).toBeUndefined();
  });

  it('caches verified chains (bounded) and refuses TTLs over the maximum', () => {
    const v = verifier(T0, { cacheSize: 2 });
    const ts = [0, 1, 2].map(() => issueToken(root, { subject: ops.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 }));
    v.verify([ts[0]!]);
    v.verify([ts[0]!]);
    expect([v.hits, v.misses]).toEqual([1, 1]);
    v.verify([ts[1]!]);
    v.verify([ts[2]!]);
    v.verify([ts[0]!]);
    expect(v.misses).toBe(4);
    expect(code(() => issueToken(root, { subject: ops.publicKey, scopes: ['publish'], ttlMs: 366 * 24 * HOUR }))).toBe('TOKEN_TTL');
    const long = Token.sign(root, { scopes: 1, depth: 0, subject: ops.publicKey, notBefore: T0, notAfter: T0 + 2 * HOUR, nonce: 9n, parentHash: new Uint8Array(32), resource: '*' });
    expect(code(() => verifier(T0, { maxTtlMs: HOUR }).verify([long]))).toBe('TOKEN_TTL');
  });

  it('malformed token bytes give TOKEN_MALFORMED (fuzzed)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      const c = code(() => decodeTokenChain(b));
      expect(c === undefined || c === 'TOKEN_MALFORMED').toBe(true);
    }), { numRuns: 300 });
  });

  it('verifyAsync (signatures on the thread pool) grants and refuses exactly like verify', async () => {
    const t0 = issueToken(root, { subject: ops.publicKey, scopes: ['publish', 'delegate'], ttlMs: HOUR, now: T0, depth: 1, resource: 'chat/*' });
    const c1 = delegateToken(ops, [t0], { subject: svc.publicKey, scopes: ['publish'], ttlMs: HOUR, now: T0 });
    const forged = Uint8Array.from(c1[1]!.bytes);
    forged[1] = 0x0f;
    const forgedRoot = Uint8Array.from(t0.bytes);
    forgedRoot[forgedRoot.length - 1]! ^= 1;
    const badTtl = Token.sign(ops, { scopes: 1, depth: 0, subject: svc.publicKey, notBefore: T0, notAfter: T0 + 2 * HOUR, nonce: 9n, parentHash: t0.hash(), resource: 'chat/*' });
    const self = issueToken(leaf, { subject: leaf.publicKey, scopes: ['admin'], ttlMs: HOUR, now: T0 });
    const cases: { chain: Token[]; req?: { scope?: 'publish' | 'admin'; subject?: string } ; want: string | undefined }[] = [
      { chain: [t0], want: undefined },
      { chain: c1, req: { scope: 'publish', subject: svc.nodeId }, want: undefined },
      { chain: [t0, Token.decode(forged)], want: 'TOKEN_FORGED' },
      { chain: [Token.decode(forgedRoot), c1[1]!], want: 'TOKEN_FORGED' },
      { chain: [t0, badTtl], want: 'TOKEN_TTL' },
      { chain: [self], want: 'TOKEN_UNTRUSTED' },
      { chain: c1, req: { scope: 'admin' }, want: 'TOKEN_SCOPE' },
    ];
    const acode = async (p: Promise<unknown>): Promise<string | undefined> => {
      try {
        await p;
        return undefined;
      } catch (e) {
        return isLinkError(e) ? e.code : `untyped: ${String(e)}`;
      }
    };
    for (const provider of [nodeCrypto, portableCrypto]) {
      for (const { chain, req, want } of cases) {
        const sync = verifier(T0, { provider, cacheSize: 0 });
        const async = verifier(T0, { provider, cacheSize: 0 });
        expect(code(() => sync.verify(chain, req))).toBe(want);
        expect(await acode(async.verifyAsync(chain, req))).toBe(want);
        if (want === undefined) expect(await async.verifyAsync(encodeTokenChain(chain), req)).toEqual(sync.verify(chain, req));
      }
    }
    // the cache is shared with verify: a chain verified asynchronously is a hit afterwards
    const v = verifier();
    await v.verifyAsync(c1);
    v.verify(c1);
    expect([v.misses, v.hits]).toEqual([1, 1]);
    // many in flight at once
    const grants = await Promise.all(Array.from({ length: 32 }, () => verifier(T0, { cacheSize: 0 }).verifyAsync(c1, { scope: 'publish' })));
    expect(grants.every((g) => g.subject === svc.nodeId)).toBe(true);
  });
});
