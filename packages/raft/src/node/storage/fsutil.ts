import { crc32 } from 'node:zlib';
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';

/** CRC-32 (IEEE 802.3 polynomial, as zlib/gzip/PNG), computed natively by node:zlib. */
export function checksum(data: Uint8Array, initial = 0): number {
  return crc32(data, initial) >>> 0;
}

/** fsync a directory so that a create, rename or unlink inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Atomically replaces `dir/name` with `bytes`: write `name.tmp`, fdatasync it, rename over the
 * old file, fsync the directory. After a crash the file holds either the old or the new bytes.
 */
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array, durable = true): Promise<void> {
  const tmp = path.join(dir, `${name}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    if (durable) await fh.datasync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path.join(dir, name));
  if (durable) await fsyncDir(dir);
}

export async function readFileOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
