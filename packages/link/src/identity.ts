/**
 * Ed25519 identities, node ids and key files.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink, stat, chmod } from 'node:fs/promises';
import { base32Decode, base32Encode, concatBytes, equalBytes, utf8 } from './bytes.js';
import { nodeCrypto, type CryptoProvider, type Signer } from './crypto.js';
import { LinkError } from './errors.js';

const NODE_ID_PREFIX = 'abi1';
const NODE_ID_CONTEXT = utf8('abi-link node-id v1');
const NODE_ID_CHECKSUM = 3;
/** Length of a node id's text form: "abi1" + 56 base32 characters. */
export const NODE_ID_LENGTH = NODE_ID_PREFIX.length + 56;

function checksum(pub: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(NODE_ID_CONTEXT).update(pub).digest().subarray(0, NODE_ID_CHECKSUM));
}

/**
 * The node id of an Ed25519 public key: `"abi1"` + lower-case RFC 4648 base32 (no padding) of
 * `publicKey ‖ SHA-512("abi-link node-id v1" ‖ publicKey)[0..3]` — 60 characters. It is
 * self-certifying: the public key can be read back from it ({@link publicKeyFromNodeId}), and the
 * 3-byte checksum catches typos.
 */
export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new LinkError('BAD_KEY', 'Ed25519 public key must be 32 bytes');
  const key = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('latin1');
  let id = nodeIdMemo.get(key);
  if (id === undefined) {
    id = NODE_ID_PREFIX + base32Encode(concatBytes(publicKey, checksum(publicKey)));
    if (nodeIdMemo.size >= NODE_ID_MEMO) nodeIdMemo.clear();
    nodeIdMemo.set(key, id);
  }
  return id;
}

const NODE_ID_MEMO = 4096;
const nodeIdMemo = new Map<string, string>();

/** Parses a node id's text form back to its 32-byte public key (BAD_NODE_ID on any defect). */
export function publicKeyFromNodeId(nodeId: string): Uint8Array {
  if (typeof nodeId !== 'string' || nodeId.length !== NODE_ID_LENGTH || !nodeId.startsWith(NODE_ID_PREFIX)) {
    throw new LinkError('BAD_NODE_ID', `node id must be "${NODE_ID_PREFIX}" followed by 56 base32 characters`);
  }
  const raw = base32Decode(nodeId.slice(NODE_ID_PREFIX.length));
  if (raw?.length !== 32 + NODE_ID_CHECKSUM) throw new LinkError('BAD_NODE_ID', 'node id is not valid base32');
  const pub = raw.subarray(0, 32);
  if (!equalBytes(raw.subarray(32), checksum(pub))) throw new LinkError('BAD_NODE_ID', 'node id checksum mismatch');
  return Uint8Array.from(pub);
}

/** True for a well-formed node id with a valid checksum. */
export function isNodeId(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  try {
    publicKeyFromNodeId(s);
    return true;
  } catch {
    return false;
  }
}

/** Verifies an Ed25519 signature (strict: canonical S). */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, provider: CryptoProvider = nodeCrypto): boolean {
  return provider.verify(publicKey, message, signature);
}

/** Options for {@link Identity.save}. */
export interface SaveOptions {
  /** Replace an existing file. Default false: an existing file is an error. */
  readonly overwrite?: boolean;
}

interface KeyFile {
  type: 'abi-link-identity';
  version: 1;
  algorithm: 'ed25519';
  nodeId: string;
  publicKey: string;
  seed: string;
}

/**
 * An Ed25519 identity: a 32-byte seed (the private key) and its public key. The seed never leaves
 * the object except through {@link Identity.exportSeed} and {@link Identity.save}.
 */
export class Identity {
  readonly publicKey: Uint8Array;
  /** Text node id ({@link nodeIdFromPublicKey}). */
  readonly nodeId: string;
  readonly provider: CryptoProvider;
  readonly #seed: Uint8Array;
  readonly #signer: Signer;

  private constructor(seed: Uint8Array, provider: CryptoProvider) {
    this.#seed = Uint8Array.from(seed);
    this.provider = provider;
    this.#signer = provider.signer(this.#seed);
    this.publicKey = this.#signer.publicKey;
    this.nodeId = nodeIdFromPublicKey(this.publicKey);
  }

  /** A fresh random identity. */
  static generate(provider: CryptoProvider = nodeCrypto): Identity {
    return new Identity(provider.randomBytes(32), provider);
  }

  /** The identity of a 32-byte seed (deterministic). */
  static fromSeed(seed: Uint8Array, provider: CryptoProvider = nodeCrypto): Identity {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new LinkError('BAD_KEY', 'Ed25519 seed must be 32 bytes');
    return new Identity(seed, provider);
  }

  /** The same identity on another provider (identical keys and signatures). */
  withProvider(provider: CryptoProvider): Identity {
    return new Identity(this.#seed, provider);
  }

  /** Ed25519 signature of `message` (64 bytes, deterministic). */
  sign(message: Uint8Array): Uint8Array {
    return this.#signer.sign(message);
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    return this.provider.verify(this.publicKey, message, signature);
  }

  /** A copy of the private seed. Handle with care. */
  exportSeed(): Uint8Array {
    return Uint8Array.from(this.#seed);
  }

  /**
   * Writes the key file (JSON, see PROTOCOL.md §7) atomically with mode 0600: a temporary file
   * created 0600 in the same directory, fsync, rename.
   */
  async save(path: string, options: SaveOptions = {}): Promise<void> {
    if (options.overwrite !== true) {
      const exists = await stat(path).then(() => true, () => false);
      if (exists) throw new LinkError('INVALID_ARGUMENT', `key file ${path} already exists (pass overwrite: true)`);
    }
    const body: KeyFile = {
      type: 'abi-link-identity',
      version: 1,
      algorithm: 'ed25519',
      nodeId: this.nodeId,
      publicKey: Buffer.from(this.publicKey).toString('base64'),
      seed: Buffer.from(this.#seed).toString('base64'),
    };
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.chmod(0o600); // the umask cannot widen it, but be explicit
      await fh.writeFile(JSON.stringify(body, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
      await chmod(path, 0o600);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  /** Loads the key file at `path`, or creates one (mode 0600) with a new identity if none exists. */
  static async loadOrCreate(path: string, provider: CryptoProvider = nodeCrypto): Promise<Identity> {
    try {
      return await Identity.load(path, provider);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const id = Identity.generate(provider);
    await id.save(path);
    return id;
  }

  /**
   * Loads a key file. Refuses (KEY_FILE_PERMISSIONS) a file that group or others can read or
   * write (POSIX; on Windows the mode is not checked), and (KEY_FILE_INVALID) one whose public key
   * or node id does not match its seed.
   */
  static async load(path: string, provider: CryptoProvider = nodeCrypto): Promise<Identity> {
    const fh = await open(path, 'r');
    let text: string;
    try {
      const st = await fh.stat();
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
        throw new LinkError('KEY_FILE_PERMISSIONS', `key file ${path} has mode ${(st.mode & 0o777).toString(8)}; it must not be accessible by group or others (chmod 600)`);
      }
      if (st.size > 64 * 1024) throw new LinkError('KEY_FILE_INVALID', `key file ${path} is too large`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new LinkError('KEY_FILE_INVALID', `key file ${path} is not JSON`, { cause: e });
    }
    if (typeof parsed !== 'object' || parsed === null) throw new LinkError('KEY_FILE_INVALID', `key file ${path} is not a JSON object`);
    const f = parsed as Partial<Record<keyof KeyFile, unknown>>;
    if (f.type !== 'abi-link-identity' || f.version !== 1 || f.algorithm !== 'ed25519' || typeof f.seed !== 'string') {
      throw new LinkError('KEY_FILE_INVALID', `key file ${path}: expected type abi-link-identity, version 1, algorithm ed25519 and a seed`);
    }
    const seed = new Uint8Array(Buffer.from(f.seed, 'base64'));
    if (seed.length !== 32) throw new LinkError('KEY_FILE_INVALID', `key file ${path}: seed must be 32 bytes of base64`);
    const id = new Identity(seed, provider);
    if (typeof f.publicKey === 'string' && f.publicKey !== Buffer.from(id.publicKey).toString('base64')) {
      throw new LinkError('KEY_FILE_INVALID', `key file ${path}: publicKey does not match the seed`);
    }
    if (typeof f.nodeId === 'string' && f.nodeId !== id.nodeId) {
      throw new LinkError('KEY_FILE_INVALID', `key file ${path}: nodeId does not match the seed`);
    }
    return id;
  }
}
