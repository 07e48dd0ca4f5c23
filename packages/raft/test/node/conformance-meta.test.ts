import { describe, expect, it } from 'vitest';
import type { ConfState, Entry, HardState } from '../../src/index.js';
import { MemoryRaftStorage, storageConformance } from '../../src/node/index.js';
import type { RaftStorage, StorageUpdate } from '../../src/node/index.js';

/** Runs the suite with a tiny collector instead of vitest, returning the names of failing checks. */
async function runSuite(create: (conf: ConfState) => RaftStorage): Promise<{ failed: string[]; total: number }> {
  const checks: { name: string; fn: () => Promise<void> }[] = [];
  storageConformance('under test', { create: (conf) => Promise.resolve(create(conf)) }, {
    describe: (_name, fn) => {
      fn();
    },
    it: (name, fn) => checks.push({ name, fn }),
  });
  const failed: string[] = [];
  for (const c of checks) {
    try {
      await c.fn();
    } catch {
      failed.push(c.name);
    }
  }
  return { failed, total: checks.length };
}

/** Forgets to truncate a conflicting suffix. */
class NoTruncate extends MemoryRaftStorage {
  override save(u: StorageUpdate): Promise<void> {
    const ents = u.entries;
    if (ents !== undefined && ents.length > 0 && (ents[0] as Entry).index <= this.lastIndex()) {
      const fresh = ents.filter((e) => e.index > this.lastIndex());
      return super.save({ ...u, entries: fresh });
    }
    return super.save(u);
  }
}

/** Drops the vote. */
class ForgetsVote extends MemoryRaftStorage {
  override setHardState(hs: HardState): Promise<void> {
    return super.setHardState({ ...hs, vote: null });
  }
}

describe('storageConformance can fail', () => {
  it('passes a correct storage', async () => {
    const r = await runSuite((conf) => new MemoryRaftStorage(conf));
    expect(r.failed).toEqual([]);
    expect(r.total).toBeGreaterThan(10);
  });

  it('catches a storage that keeps a conflicting suffix', async () => {
    const r = await runSuite((conf) => new NoTruncate(conf));
    expect(r.failed).toContain('an append overlapping the log truncates the conflicting suffix');
  });

  it('catches a storage that loses the vote', async () => {
    const r = await runSuite((conf) => new ForgetsVote(conf));
    expect(r.failed).toContain('hard state is stored and term/vote/commit come back together');
  });
});
