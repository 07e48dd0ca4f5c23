import { describe, expect, it } from 'vitest';
import { checkKvHistory, checkLinearizable, type KvOp, type Model } from '../../src/testing/index.js';

const put = (key: string, value: string, call: number, ret: number, status: KvOp['status'] = 'ok'): KvOp => ({ kind: 'put', key, value, call, ret, status });
const get = (key: string, value: string | null, call: number, ret: number): KvOp => ({ kind: 'get', key, value, call, ret, status: 'ok' });
const cas = (key: string, expected: string | null, value: string, call: number, ret: number, status: KvOp['status'] = 'ok'): KvOp => ({
  kind: 'cas', key, value, expected, call, ret, status,
});

describe('WGL linearizability checker', () => {
  it('accepts a sequential history', () => {
    expect(checkKvHistory([put('x', '1', 0, 1), get('x', '1', 2, 3), cas('x', '1', '2', 4, 5), get('x', '2', 6, 7)]).ok).toBe(true);
  });

  it('accepts concurrent operations that can be ordered', () => {
    // put(1) overlaps get -> get may see the old (null) or new value.
    expect(checkKvHistory([put('x', '1', 0, 10), get('x', null, 1, 2), get('x', '1', 3, 4)]).ok).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    const r = checkKvHistory([put('x', '1', 0, 1), get('x', null, 2, 3)]);
    expect(r.ok).toBe(false);
    expect(r.key).toBe('x');
    expect(r.reason).toBe('not-linearizable');
  });

  it('rejects a read of a value going back in time', () => {
    expect(
      checkKvHistory([put('x', '1', 0, 1), put('x', '2', 2, 3), get('x', '2', 4, 5), get('x', '1', 6, 7)]).ok,
    ).toBe(false);
  });

  it('rejects two successful cas from the same expected value', () => {
    expect(checkKvHistory([put('x', '0', 0, 1), cas('x', '0', 'a', 2, 10), cas('x', '0', 'b', 3, 11)]).ok).toBe(false);
  });

  it('accepts a failed cas only when the value differed', () => {
    expect(checkKvHistory([put('x', '0', 0, 1), cas('x', '0', 'a', 2, 3, 'fail')]).ok).toBe(false);
    expect(checkKvHistory([put('x', '0', 0, 1), cas('x', '9', 'a', 2, 3, 'fail')]).ok).toBe(true);
  });

  it('treats unknown-outcome writes as possibly applied or not', () => {
    expect(checkKvHistory([put('x', '1', 0, Infinity, 'info'), get('x', '1', 5, 6), get('x', '1', 7, 8)]).ok).toBe(true);
    expect(checkKvHistory([put('x', '1', 0, Infinity, 'info'), get('x', null, 5, 6)]).ok).toBe(true);
    // but once observed it cannot disappear
    expect(checkKvHistory([put('x', '1', 0, Infinity, 'info'), get('x', '1', 5, 6), get('x', null, 7, 8)]).ok).toBe(false);
  });

  it('checks keys independently', () => {
    expect(checkKvHistory([put('x', '1', 0, 1), put('y', '2', 0, 1), get('y', '2', 2, 3), get('x', '1', 2, 3)]).ok).toBe(true);
    expect(checkKvHistory([put('x', '1', 0, 1), put('y', '2', 0, 1), get('y', '1', 2, 3)]).ok).toBe(false);
  });

  it('handles a larger concurrent linearizable history', () => {
    // 12 writers write distinct values concurrently, then everyone reads the final value.
    const h: KvOp[] = [];
    for (let i = 0; i < 12; i++) h.push(put('k', `v${i}`, i, 100 + i));
    h.push(get('k', 'v7', 200, 201), get('k', 'v7', 202, 203));
    expect(checkKvHistory(h).ok).toBe(true);
    h.push(get('k', 'v3', 204, 205));
    expect(checkKvHistory(h).ok).toBe(false);
  });

  it('works with a custom model (counter)', () => {
    const counter: Model<number, { add: number; read?: number }> = {
      init: 0,
      step: (s, o) => (o.read !== undefined ? (o.read === s ? s : undefined) : s + o.add),
      key: (s) => String(s),
    };
    const ok = checkLinearizable(
      [
        { op: { add: 1 }, call: 0, ret: 5 },
        { op: { add: 2 }, call: 1, ret: 6 },
        { op: { add: 0, read: 2 }, call: 2, ret: 3 },
      ],
      counter,
    );
    expect(ok.ok).toBe(true);
    const bad = checkLinearizable(
      [
        { op: { add: 1 }, call: 0, ret: 1 },
        { op: { add: 0, read: 0 }, call: 2, ret: 3 },
      ],
      counter,
    );
    expect(bad.ok).toBe(false);
  });
});
