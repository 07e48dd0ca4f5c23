/**
 * Permission tokens (PROTOCOL.md §6): signed by an identity, scoped, time-bounded, delegable in
 * chains of bounded depth, revocable; verification results are cached.
 */
import { concatBytes, equalBytes, toHex, utf8 } from './bytes.js';
import { nodeCrypto, type CryptoProvider } from './crypto.js';
import { InvalidArgumentError, LinkError, WireError } from './errors.js';
import { nodeIdFromPublicKey, publicKeyFromNodeId, type Identity } from './identity.js';

/** Scope bits. */
export const Scope = { publish: 1, subscribe: 2, admin: 4, delegate: 8 } as const;
export type ScopeName = keyof typeof Scope;
const ALL_SCOPES = 0x0f;

const TOKEN_VERSION = 1;
const FIXED = 126; // bytes before the resource
const SIG = 64;
const MAX_RESOURCE = 256;
const L_TOKEN = utf8('abi-link/1 token');
/** Longest delegation chain accepted by default (root + 7 delegations). */
export const MAX_CHAIN = 8;
export const MAX_TTL_MS = 365 * 24 * 3600 * 1000;
export const MAX_CLOCK_SKEW_MS = 300_000;

function scopeBits(scopes: readonly ScopeName[]): number {
  let b = 0;
  for (const s of scopes) {
    const bit = (Scope as Record<string, number | undefined>)[s];
    if (bit === undefined) throw new InvalidArgumentError('scopes', `unknown scope ${s}`);
    b |= bit;
  }
  return b;
}

export function scopeNames(bits: number): ScopeName[] {
  return (Object.keys(Scope) as ScopeName[]).filter((k) => (bits & Scope[k]) !== 0);
}

/** A decoded, not yet verified token. */
export class Token {
  readonly bytes: Uint8Array;
  readonly scopes: number;
  /** How many further delegations this token allows. */
  readonly depth: number;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Unix ms. */
  readonly notBefore: number;
  /** Unix ms. */
  readonly notAfter: number;
  readonly nonce: bigint;
  /** First 32 bytes of SHA-512 of the parent token; zero for a root token. */
  readonly parentHash: Uint8Array;
  /** Resource pattern: exact, or a prefix ending in `*` ("*" = everything). */
  readonly resource: string;
  readonly signature: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.scopes = bytes[1] ?? 0;
    this.depth = bytes[2] ?? 0;
    this.issuer = bytes.slice(4, 36);
    this.subject = bytes.slice(36, 68);
    this.notBefore = Number(dv.getBigUint64(68));
    this.notAfter = Number(dv.getBigUint64(76));
    this.nonce = dv.getBigUint64(84);
    this.parentHash = bytes.slice(92, 124);
    const rl = dv.getUint16(124);
    this.resource = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(FIXED, FIXED + rl));
    this.signature = bytes.slice(FIXED + rl);
  }

  /** Parses one token; TOKEN_MALFORMED (with field and offset) on any defect. Does not verify. */
  static decode(bytes: Uint8Array): Token {
    const bad = (field: string, offset: number, m: string): WireError => new WireError('TOKEN_MALFORMED', field, offset, m);
    if (bytes.length < FIXED + SIG) throw bad('length', bytes.length, `token shorter than ${FIXED + SIG} bytes`);
    if (bytes[0] !== TOKEN_VERSION) throw bad('version', 0, `unknown token version ${bytes[0] ?? 0}`);
    if (((bytes[1] ?? 0) & ~ALL_SCOPES) !== 0) throw bad('scopes', 1, 'unknown scope bits');
    if (bytes[3] !== 0) throw bad('reserved', 3, 'reserved byte must be 0');
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getBigUint64(68) > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('notBefore', 68, 'out of range');
    if (dv.getBigUint64(76) > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('notAfter', 76, 'out of range');
    const rl = dv.getUint16(124);
    if (rl > MAX_RESOURCE) throw bad('resourceLength', 124, `resource longer than ${MAX_RESOURCE}`);
    if (bytes.length !== FIXED + rl + SIG) throw bad('signature', FIXED + rl, `length ${bytes.length} does not match the declared ${FIXED + rl + SIG}`);
    try {
      return new Token(Uint8Array.from(bytes));
    } catch (e) {
      throw new WireError('TOKEN_MALFORMED', 'resource', FIXED, `resource is not UTF-8: ${(e as Error).message}`);
    }
  }

  /** Signs a new token (used by {@link issueToken} / {@link delegateToken}). */
  static sign(issuer: Identity, f: { scopes: number; depth: number; subject: Uint8Array; notBefore: number; notAfter: number; nonce: bigint; parentHash: Uint8Array; resource: string }): Token {
    const res = utf8(f.resource);
    if (res.length > MAX_RESOURCE) throw new InvalidArgumentError('resource', `longer than ${MAX_RESOURCE} bytes`);
    if (f.depth < 0 || f.depth > 255 || !Number.isInteger(f.depth)) throw new InvalidArgumentError('depth', 'must be an integer 0..255');
    const body = new Uint8Array(FIXED + res.length);
    const dv = new DataView(body.buffer);
    body[0] = TOKEN_VERSION;
    body[1] = f.scopes;
    body[2] = f.depth;
    body.set(issuer.publicKey, 4);
    body.set(f.subject, 36);
    dv.setBigUint64(68, BigInt(f.notBefore));
    dv.setBigUint64(76, BigInt(f.notAfter));
    dv.setBigUint64(84, f.nonce);
    body.set(f.parentHash, 92);
    dv.setUint16(124, res.length);
    body.set(res, FIXED);
    return new Token(concatBytes(body, issuer.sign(concatBytes(L_TOKEN, body))));
  }

  /** The signed part. */
  get body(): Uint8Array {
    return this.bytes.subarray(0, this.bytes.length - SIG);
  }

  /** Token id: hex of the first 16 bytes of SHA-512(token bytes); used for revocation. */
  id(provider: CryptoProvider = nodeCrypto): string {
    return toHex(provider.sha512(this.bytes).subarray(0, 16));
  }

  hash(provider: CryptoProvider = nodeCrypto): Uint8Array {
    return provider.sha512(this.bytes).subarray(0, 32);
  }

  get scopeNames(): ScopeName[] {
    return scopeNames(this.scopes);
  }
}

/** Encodes a chain (root first): count u8, then per token u16 length + bytes. */
export function encodeTokenChain(chain: readonly Token[]): Uint8Array {
  if (chain.length === 0 || chain.length > 255) throw new InvalidArgumentError('chain', 'must hold 1..255 tokens');
  const parts: Uint8Array[] = [Uint8Array.of(chain.length)];
  for (const t of chain) parts.push(Uint8Array.of(t.bytes.length >> 8, t.bytes.length & 0xff), t.bytes);
  return concatBytes(...parts);
}

export function decodeTokenChain(bytes: Uint8Array): Token[] {
  const n = bytes[0] ?? 0;
  if (n === 0) throw new WireError('TOKEN_MALFORMED', 'count', 0, 'empty token chain');
  const out: Token[] = [];
  let o = 1;
  for (let i = 0; i < n; i++) {
    if (o + 2 > bytes.length) throw new WireError('TOKEN_MALFORMED', 'tokenLength', o, 'chain truncated');
    const len = ((bytes[o] ?? 0) << 8) | (bytes[o + 1] ?? 0);
    o += 2;
    if (o + len > bytes.length) throw new WireError('TOKEN_MALFORMED', 'token', o, 'chain truncated');
    out.push(Token.decode(bytes.subarray(o, o + len)));
    o += len;
  }
  if (o !== bytes.length) throw new WireError('TOKEN_MALFORMED', 'chain', o, 'trailing bytes after the chain');
  return out;
}

/** The bytes a token's signature covers: the token label ‖ the body. */
function signedMessage(t: Token): Uint8Array {
  return concatBytes(L_TOKEN, t.body);
}

function keyOf(k: Uint8Array | string): Uint8Array {
  return typeof k === 'string' ? publicKeyFromNodeId(k) : k;
}

export interface IssueOptions {
  readonly subject: Uint8Array | string;
  readonly scopes: readonly ScopeName[];
  readonly ttlMs: number;
  /** Further delegations allowed below this token. Default 0. */
  readonly depth?: number;
  readonly resource?: string;
  /** Unix ms; default Date.now(). */
  readonly now?: number;
  readonly notBefore?: number;
  readonly provider?: CryptoProvider;
}

/** Issues a root token signed by `issuer`. */
export function issueToken(issuer: Identity, o: IssueOptions): Token {
  if (!(o.ttlMs > 0) || o.ttlMs > MAX_TTL_MS) throw new LinkError('TOKEN_TTL', `ttlMs must be in (0, ${MAX_TTL_MS}]`);
  const now = o.now ?? Date.now();
  const nb = o.notBefore ?? now;
  const p = o.provider ?? issuer.provider;
  return Token.sign(issuer, {
    scopes: scopeBits(o.scopes),
    depth: o.depth ?? 0,
    subject: keyOf(o.subject),
    notBefore: nb,
    notAfter: nb + o.ttlMs,
    nonce: new DataView(p.randomBytes(8).buffer).getBigUint64(0),
    parentHash: new Uint8Array(32),
    resource: o.resource ?? '*',
  });
}

function resourceWithin(child: string, parent: string): boolean {
  if (parent === '*') return true;
  if (parent.endsWith('*')) return child.startsWith(parent.slice(0, -1));
  return child === parent;
}

/**
 * Delegates: `delegator` (the subject of the chain's last token) issues a narrower token to a new
 * subject. Checks the same rules verification applies, so an invalid delegation fails early.
 */
export function delegateToken(delegator: Identity, chain: readonly Token[], o: IssueOptions): Token[] {
  const parent = chain[chain.length - 1];
  if (parent === undefined) throw new InvalidArgumentError('chain', 'empty');
  if (!equalBytes(parent.subject, delegator.publicKey)) throw new LinkError('TOKEN_CHAIN', 'the delegator is not the subject of the parent token');
  if ((parent.scopes & Scope.delegate) === 0) throw new LinkError('TOKEN_CHAIN', 'the parent token lacks the delegate scope');
  const depth = o.depth ?? 0;
  if (parent.depth < 1 || depth > parent.depth - 1 || chain.length + 1 > MAX_CHAIN) throw new LinkError('TOKEN_OVER_DELEGATED', `parent allows ${parent.depth} more delegation(s)`);
  const scopes = scopeBits(o.scopes);
  if ((scopes & ~parent.scopes) !== 0) throw new LinkError('TOKEN_SCOPE', 'a delegated token cannot widen its parent scopes');
  const resource = o.resource ?? parent.resource;
  if (!resourceWithin(resource, parent.resource)) throw new LinkError('TOKEN_SCOPE', 'a delegated token cannot widen its parent resource');
  const now = o.now ?? Date.now();
  const nb = Math.max(o.notBefore ?? now, parent.notBefore);
  const na = Math.min(nb + o.ttlMs, parent.notAfter);
  if (!(o.ttlMs > 0) || o.ttlMs > MAX_TTL_MS) throw new LinkError('TOKEN_TTL', `ttlMs must be in (0, ${MAX_TTL_MS}]`);
  const p = o.provider ?? delegator.provider;
  const t = Token.sign(delegator, {
    scopes,
    depth,
    subject: keyOf(o.subject),
    notBefore: nb,
    notAfter: na,
    nonce: new DataView(p.randomBytes(8).buffer).getBigUint64(0),
    parentHash: parent.hash(p),
    resource,
  });
  return [...chain, t];
}

/** Revoked token ids and issuers. Revoking an issuer revokes every chain it signed a link of. */
export class RevocationList {
  readonly #tokens = new Set<string>();
  readonly #issuers = new Set<string>();
  #version = 0;

  revokeToken(tokenOrId: Token | string): void {
    this.#tokens.add(typeof tokenOrId === 'string' ? tokenOrId : tokenOrId.id());
    this.#version++;
  }
  revokeIssuer(issuer: Uint8Array | string): void {
    this.#issuers.add(toHex(keyOf(issuer)));
    this.#version++;
  }
  /** True when nothing is revoked. */
  get empty(): boolean {
    return this.#tokens.size === 0 && this.#issuers.size === 0;
  }
  /** Bumped on every change. */
  get version(): number {
    return this.#version;
  }
  isTokenRevoked(id: string): boolean {
    return this.#tokens.has(id);
  }
  /** `issuer`: hex of the issuer's public key. */
  isIssuerRevoked(issuerHex: string): boolean {
    return this.#issuers.has(issuerHex);
  }
}

export interface VerifierOptions {
  /** Root issuers trusted to sign root tokens (node ids or public keys). */
  readonly trustedIssuers: Iterable<Uint8Array | string>;
  /** Allowed clock skew in ms (both ends of the validity window). Default 60 000, max 300 000. */
  readonly clockSkewMs?: number;
  /** Longest lifetime accepted. Default 1 year. */
  readonly maxTtlMs?: number;
  /** Longest chain accepted (root + delegations). Default 8. */
  readonly maxChainLength?: number;
  readonly revocations?: RevocationList;
  /** Unix-ms clock. Default Date.now. */
  readonly now?: () => number;
  /** Chains whose signatures and structure were verified, kept for re-verification (0 = no cache). Default 10 000. */
  readonly cacheSize?: number;
  readonly provider?: CryptoProvider;
}

export interface VerifyRequest {
  /** The identity presenting the chain (must be the leaf subject). */
  readonly subject?: Uint8Array | string;
  readonly scope?: ScopeName | readonly ScopeName[];
  readonly resource?: string;
}

/** What a verified chain grants. */
export interface Grant {
  readonly rootIssuer: string;
  readonly subject: string;
  readonly scopes: readonly ScopeName[];
  readonly resource: string;
  /** Unix ms: earliest notAfter along the chain. */
  readonly notAfter: number;
  readonly chainLength: number;
}

interface CacheEntry {
  readonly chain: readonly Token[];
  /** Token ids, computed on first use (only needed when something is revoked). */
  ids: readonly string[] | undefined;
  readonly issuers: readonly string[];
  readonly rootIssuer: string;
  readonly subject: string;
}

/**
 * Verifies token chains. Signatures and the chain structure are checked once per distinct chain and
 * cached (bounded, oldest evicted first); time, revocation, subject and scope are checked on every call.
 */
export class TokenVerifier {
  readonly #trusted = new Set<string>();
  readonly #skew: number;
  readonly #maxTtl: number;
  readonly #maxChain: number;
  readonly #rev: RevocationList | undefined;
  readonly #now: () => number;
  readonly #cacheSize: number;
  readonly #p: CryptoProvider;
  readonly #cache = new Map<string, CacheEntry>();
  hits = 0;
  misses = 0;

  constructor(o: VerifierOptions) {
    for (const t of o.trustedIssuers) this.#trusted.add(toHex(keyOf(t)));
    this.#skew = o.clockSkewMs ?? 60_000;
    if (this.#skew < 0 || this.#skew > MAX_CLOCK_SKEW_MS) throw new InvalidArgumentError('clockSkewMs', `must be 0..${MAX_CLOCK_SKEW_MS}`);
    this.#maxTtl = o.maxTtlMs ?? MAX_TTL_MS;
    this.#maxChain = o.maxChainLength ?? MAX_CHAIN;
    this.#rev = o.revocations;
    this.#now = o.now ?? Date.now;
    this.#cacheSize = o.cacheSize ?? 10_000;
    this.#p = o.provider ?? nodeCrypto;
  }

  #ids(e: CacheEntry): readonly string[] {
    e.ids ??= e.chain.map((t) => t.id(this.#p));
    return e.ids;
  }

  /** The checks that come before any signature (cheap rejection); returns the root token. */
  #precheck(chain: readonly Token[]): Token {
    if (chain.length === 0) throw new LinkError('TOKEN_MALFORMED', 'empty chain');
    if (chain.length > this.#maxChain) throw new LinkError('TOKEN_OVER_DELEGATED', `chain of ${chain.length} exceeds ${this.#maxChain}`);
    const root = chain[0];
    if (root === undefined) throw new LinkError('TOKEN_MALFORMED', 'empty chain');
    if (!this.#trusted.has(toHex(root.issuer))) throw new LinkError('TOKEN_UNTRUSTED', 'root issuer is not trusted');
    if (root.parentHash.some((b) => b !== 0)) throw new LinkError('TOKEN_CHAIN', 'root token has a parent hash');
    return root;
  }

  /**
   * Signatures and chain structure. `signatureOk(i)` answers for token i: verified here (sync) or
   * looked up from signatures verified beforehand in parallel ({@link verifyAsync}); the checks run
   * in the same order either way, so both report the same error for the same chain.
   */
  #structural(chain: readonly Token[], signatureOk?: (i: number) => boolean): CacheEntry {
    const p = this.#p;
    const root = this.#precheck(chain);
    const issuers: string[] = [];
    for (let i = 0; i < chain.length; i++) {
      const t = chain[i];
      if (t === undefined) break;
      const ok = signatureOk !== undefined ? signatureOk(i) : p.verify(t.issuer, signedMessage(t), t.signature);
      if (!ok) throw new LinkError('TOKEN_FORGED', `token ${i} signature does not verify`);
      if (t.notAfter <= t.notBefore || t.notAfter - t.notBefore > this.#maxTtl) throw new LinkError('TOKEN_TTL', `token ${i} lifetime exceeds ${this.#maxTtl} ms`);
      const parent = i > 0 ? chain[i - 1] : undefined;
      if (parent !== undefined) {
        if (!equalBytes(t.issuer, parent.subject)) throw new LinkError('TOKEN_CHAIN', `token ${i} issuer is not the subject of token ${i - 1}`);
        if (!equalBytes(t.parentHash, parent.hash(p))) throw new LinkError('TOKEN_CHAIN', `token ${i} parent hash mismatch`);
        if ((parent.scopes & Scope.delegate) === 0) throw new LinkError('TOKEN_CHAIN', `token ${i - 1} lacks the delegate scope`);
        if (parent.depth < 1 || t.depth > parent.depth - 1) throw new LinkError('TOKEN_OVER_DELEGATED', `token ${i} exceeds the delegation depth of token ${i - 1}`);
        if ((t.scopes & ~parent.scopes) !== 0) throw new LinkError('TOKEN_SCOPE', `token ${i} widens the scopes of token ${i - 1}`);
        if (!resourceWithin(t.resource, parent.resource)) throw new LinkError('TOKEN_SCOPE', `token ${i} widens the resource of token ${i - 1}`);
        if (t.notBefore < parent.notBefore || t.notAfter > parent.notAfter) throw new LinkError('TOKEN_TTL', `token ${i} outlives token ${i - 1}`);
      }
      issuers.push(toHex(t.issuer));
    }
    const leaf = chain[chain.length - 1] ?? root;
    return { chain, ids: undefined, issuers, rootIssuer: nodeIdFromPublicKey(root.issuer), subject: nodeIdFromPublicKey(leaf.subject) };
  }

  /**
   * Verifies a chain (root first, or its encoded bytes) and returns the grant, or throws a
   * LinkError: TOKEN_MALFORMED, TOKEN_FORGED, TOKEN_UNTRUSTED, TOKEN_CHAIN, TOKEN_OVER_DELEGATED,
   * TOKEN_SCOPE, TOKEN_TTL, TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, TOKEN_REVOKED.
   */
  verify(chainOrBytes: readonly Token[] | Uint8Array, request: VerifyRequest = {}): Grant {
    const chain = chainOrBytes instanceof Uint8Array ? decodeTokenChain(chainOrBytes) : chainOrBytes;
    const key = this.#cacheKey(chain);
    let entry = key !== undefined ? this.#cache.get(key) : undefined;
    if (entry === undefined) {
      this.misses++;
      entry = this.#remember(key, this.#structural(chain));
    } else {
      this.hits++;
    }
    return this.#grant(entry, request);
  }

  /**
   * Like {@link verify}, but the Ed25519 signatures of a chain not in the cache are checked off the
   * event loop (default provider: libsodium on worker threads, or OpenSSL on libuv's thread pool
   * without sodium-native; other providers verify inline), so a server can verify tokens on
   * several cores while its event loop keeps running. Same checks, same errors
   * (as a rejected promise). Cached chains answer without a signature check, as in verify.
   */
  async verifyAsync(chainOrBytes: readonly Token[] | Uint8Array, request: VerifyRequest = {}): Promise<Grant> {
    const chain = chainOrBytes instanceof Uint8Array ? decodeTokenChain(chainOrBytes) : chainOrBytes;
    const key = this.#cacheKey(chain);
    let entry = key !== undefined ? this.#cache.get(key) : undefined;
    if (entry === undefined) {
      this.misses++;
      const p = this.#p;
      if (p.verifyAsync === undefined) {
        entry = this.#structural(chain);
      } else {
        this.#precheck(chain);
        const oks = await Promise.all(chain.map((t) => p.verifyAsync?.(t.issuer, signedMessage(t), t.signature) ?? Promise.resolve(false)));
        entry = this.#structural(chain, (i) => oks[i] === true);
      }
      entry = this.#remember(key, entry);
    } else {
      this.hits++;
    }
    return this.#grant(entry, request);
  }

  /** The cache key of a chain (its bytes), or undefined without a cache. */
  #cacheKey(chain: readonly Token[]): string | undefined {
    if (this.#cacheSize === 0) return undefined;
    let key = '';
    for (const t of chain) key += Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength).toString('latin1') + '|';
    return key;
  }

  #remember(key: string | undefined, entry: CacheEntry): CacheEntry {
    if (key === undefined) return entry;
    if (this.#cache.size >= this.#cacheSize) {
      const first = this.#cache.keys().next();
      if (first.done !== true) this.#cache.delete(first.value);
    }
    this.#cache.set(key, entry);
    return entry;
  }

  /** Time, revocation, subject, scope and resource: checked on every call, cached or not. */
  #grant(entry: CacheEntry, request: VerifyRequest): Grant {
    const c = entry.chain;
    const now = this.#now();
    let notAfter = Infinity;
    for (let i = 0; i < c.length; i++) {
      const t = c[i];
      if (t === undefined) break;
      if (now + this.#skew < t.notBefore) throw new LinkError('TOKEN_NOT_YET_VALID', `token ${i} is not valid before ${new Date(t.notBefore).toISOString()}`);
      if (now - this.#skew > t.notAfter) throw new LinkError('TOKEN_EXPIRED', `token ${i} expired at ${new Date(t.notAfter).toISOString()}`);
      notAfter = Math.min(notAfter, t.notAfter);
      const rev = this.#rev;
      if (rev !== undefined && !rev.empty && (rev.isTokenRevoked(this.#ids(entry)[i] ?? '') || rev.isIssuerRevoked(entry.issuers[i] ?? ''))) {
        throw new LinkError('TOKEN_REVOKED', `token ${i} (or its issuer) is revoked`);
      }
    }
    const leaf = c[c.length - 1];
    if (leaf === undefined) throw new LinkError('TOKEN_MALFORMED', 'empty chain');
    if (request.subject !== undefined && !equalBytes(leaf.subject, keyOf(request.subject))) throw new LinkError('TOKEN_UNTRUSTED', 'the token was issued to a different subject');
    if (request.scope !== undefined) {
      const want = scopeBits(typeof request.scope === 'string' ? [request.scope] : request.scope);
      if ((want & ~leaf.scopes) !== 0) throw new LinkError('TOKEN_SCOPE', `token lacks scope ${scopeNames(want & ~leaf.scopes).join(',')}`);
    }
    if (request.resource !== undefined && !resourceWithin(request.resource, leaf.resource)) throw new LinkError('TOKEN_SCOPE', `token does not cover resource ${request.resource}`);
    return {
      rootIssuer: entry.rootIssuer,
      subject: entry.subject,
      scopes: scopeNames(leaf.scopes),
      resource: leaf.resource,
      notAfter,
      chainLength: c.length,
    };
  }
}
