import { describe, expect, it } from 'vitest';
import { MemoryStorage, isRaftError, type Entry } from '../../src/index.js';

const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(8) });

describe('MemoryStorage', () => {
  it('appends, truncates on overlap, and reports bounds', () => {
    const s = new MemoryStorage();
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    s.append([e(1, 1), e(2, 1), e(3, 1)]);
    expect(s.lastIndex()).toBe(3);
    s.append([e(2, 2)]);
    expect(s.lastIndex()).toBe(2);
    expect(s.term(2)).toBe(2);
    expect(s.entries(1, 3).map((x) => x.term)).toEqual([1, 2]);
  });

  it('compacts with a base offset and throws typed errors', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
    s.compact(2);
    expect(s.firstIndex()).toBe(3);
    expect(s.term(2)).toBe(1);
    expect(s.entries(3, 5).map((x) => x.index)).toEqual([3, 4]);
    try {
      s.entries(2, 4);
      expect.unreachable();
    } catch (err) {
      expect(isRaftError(err) && err.code).toBe('compacted');
    }
    try {
      s.term(9);
      expect.unreachable();
    } catch (err) {
      expect(isRaftError(err) && err.code).toBe('unavailable');
    }
  });

  it('limits entries by bytes but returns at least one', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1), e(3, 1)]);
    expect(s.entries(1, 4, 1)).toHaveLength(1);
    expect(s.entries(1, 4, 64)).toHaveLength(2);
  });
});
