import { describe, it } from 'vitest';
import { MemoryStorage, RaftError, type Entry, type Storage } from '../../src/index.js';
import { storageReadConformance } from '../../src/testing/index.js';

storageReadConformance(
  'MemoryStorage',
  (f) => {
    const s = MemoryStorage.withConf(f.snapshot.meta.conf);
    if (f.snapshot.meta.index > 0) s.applySnapshot(f.snapshot);
    s.append(f.entries);
    s.setHardState(f.hardState);
    return s;
  },
  { describe, it },
);

// A deliberately wrong storage (off-by-one first index) must fail the suite: run it in a nested
// describe whose tests are expected to throw.
class OffByOne implements Storage {
  readonly #inner: MemoryStorage;
  constructor(inner: MemoryStorage) {
    this.#inner = inner;
  }
  initialState() {
    return this.#inner.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.#inner.entries(lo, hi, maxBytes);
  }
  term(i: number): number {
    if (i < this.#inner.firstIndex() - 1) throw new RaftError('unavailable', 'wrong code');
    return this.#inner.term(i);
  }
  firstIndex(): number {
    return this.#inner.firstIndex() - 1;
  }
  lastIndex(): number {
    return this.#inner.lastIndex();
  }
  snapshot() {
    return this.#inner.snapshot();
  }
}

describe('the storage read conformance suite can fail', () => {
  const failures: string[] = [];
  storageReadConformance(
    'OffByOne',
    (f) => {
      const s = MemoryStorage.withConf(f.snapshot.meta.conf);
      if (f.snapshot.meta.index > 0) s.applySnapshot(f.snapshot);
      s.append(f.entries);
      s.setHardState(f.hardState);
      return new OffByOne(s);
    },
    {
      describe: (_n, fn) => {
        fn();
      },
      it: (n, fn) => {
        try {
          void fn();
        } catch {
          failures.push(n);
        }
      },
    },
  );
  it('flags the broken storage', ({ expect }) => {
    expect(failures.length).toBeGreaterThanOrEqual(2);
  });
});
