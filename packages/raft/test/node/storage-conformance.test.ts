import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'vitest';
import { FileStorage, MemoryRaftStorage, storageConformance } from '../../src/node/index.js';
import type { RaftStorage } from '../../src/node/index.js';
import type { ConfState } from '../../src/index.js';

storageConformance('MemoryRaftStorage', { create: (conf) => Promise.resolve(new MemoryRaftStorage(conf)) }, { describe, it });

const dirs: string[] = [];
const dirOf = new WeakMap<RaftStorage, string>();
async function openAt(dir: string, conf?: ConfState): Promise<RaftStorage> {
  const s = await FileStorage.open(dir, conf === undefined ? { segmentBytes: 256 } : { conf, segmentBytes: 256 });
  dirOf.set(s, dir);
  return s;
}
storageConformance(
  'FileStorage',
  {
    create: async (conf) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'raft-conf-'));
      dirs.push(dir);
      return openAt(dir, conf);
    },
    reopen: async (s: RaftStorage) => {
      await s.close();
      return openAt(dirOf.get(s)!);
    },
    cleanup: async () => {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  },
  { describe, it },
);
