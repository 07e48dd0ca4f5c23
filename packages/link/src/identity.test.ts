import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portableCrypto } from './crypto.js';
import { Identity, NODE_ID_LENGTH, isNodeId, nodeIdFromPublicKey, publicKeyFromNodeId, verifySignature } from './identity.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'abi-link-id-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Identity', () => {
  it('derives a stable node id with a documented text form that round-trips', () => {
    const id = Identity.fromSeed(new Uint8Array(32).fill(1));
    expect(id.nodeId).toBe('abi1rkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5ocwl6q');
    expect(id.nodeId).toHaveLength(NODE_ID_LENGTH);
    expect(publicKeyFromNodeId(id.nodeId)).toEqual(id.publicKey);
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (pub) => {
      const nid = nodeIdFromPublicKey(pub);
      expect(nid).toMatch(/^abi1[a-z2-7]{56}$/);
      expect(publicKeyFromNodeId(nid)).toEqual(pub);
    }), { numRuns: 100 });
  });

  it('rejects mistyped node ids with BAD_NODE_ID', () => {
    const nid = Identity.generate().nodeId;
    const typo = nid.slice(0, 10) + (nid[10] === 'a' ? 'b' : 'a') + nid.slice(11);
    for (const bad of [typo, nid.slice(1), 'abi2' + nid.slice(4), nid.toUpperCase(), nid.slice(0, -1) + '1', '']) {
      expect(() => publicKeyFromNodeId(bad)).toThrow(expect.objectContaining({ code: 'BAD_NODE_ID' }));
      expect(isNodeId(bad)).toBe(false);
    }
    expect(isNodeId(nid)).toBe(true);
  });

  it('signs and verifies; both providers give the same keys and signatures', () => {
    const a = Identity.generate();
    const b = a.withProvider(portableCrypto);
    const msg = new TextEncoder().encode('msg');
    expect(b.publicKey).toEqual(a.publicKey);
    expect(b.sign(msg)).toEqual(a.sign(msg));
    expect(verifySignature(a.publicKey, msg, a.sign(msg))).toBe(true);
    expect(verifySignature(a.publicKey, msg, Identity.generate().sign(msg))).toBe(false);
    expect(() => Identity.fromSeed(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
  });

  it('saves key files with mode 0600 and loads them back', async () => {
    const id = Identity.generate();
    const f = path.join(dir, 'a.key');
    await id.save(f);
    expect((await stat(f)).mode & 0o777).toBe(0o600);
    const back = await Identity.load(f);
    expect(back.nodeId).toBe(id.nodeId);
    expect(back.exportSeed()).toEqual(id.exportSeed());
    await expect(id.save(f)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await id.save(f, { overwrite: true });
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === undefined)('refuses key files readable or writable by group/others', async () => {
    const f = path.join(dir, 'open.key');
    await Identity.generate().save(f);
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602]) {
      await chmod(f, mode);
      await expect(Identity.load(f)).rejects.toMatchObject({ code: 'KEY_FILE_PERMISSIONS' });
    }
    await chmod(f, 0o400);
    await expect(Identity.load(f)).resolves.toBeInstanceOf(Identity);
  });

  it('loadOrCreate creates a key file once and loads it afterwards', async () => {
    const f = path.join(dir, 'auto.key');
    const a = await Identity.loadOrCreate(f);
    const b = await Identity.loadOrCreate(f);
    expect(b.nodeId).toBe(a.nodeId);
    expect((await stat(f)).mode & 0o777).toBe(0o600);
  });

  it('refuses malformed key files and a public key that does not match the seed', async () => {
    const f = path.join(dir, 'bad.key');
    const write = async (s: string): Promise<void> => {
      await writeFile(f, s, { mode: 0o600 });
      await chmod(f, 0o600);
    };
    await write('not json');
    await expect(Identity.load(f)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
    await write('[1]');
    await expect(Identity.load(f)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
    const good = path.join(dir, 'good.key');
    await Identity.generate().save(good);
    const body = JSON.parse(await readFile(good, 'utf8')) as Record<string, string>;
    await write(JSON.stringify({ ...body, publicKey: Buffer.from(Identity.generate().publicKey).toString('base64') }));
    await expect(Identity.load(f)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
    await write(JSON.stringify({ ...body, seed: 'AAAA' }));
    await expect(Identity.load(f)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
  });
});
