// The WGL checker agrees with a brute-force search over all real-time-respecting orders on
// thousands of small random histories (both linearizable and not).
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/index.js';
import { checkKvHistory, type KvOp } from '../../src/testing/index.js';

function bruteForce(ops: readonly KvOp[]): boolean {
  const live = ops.filter((o) => !(o.status === 'fail' && o.kind !== 'cas') && !(o.status === 'info' && o.kind === 'get'));
  const n = live.length;
  const used = new Array<boolean>(n).fill(false);
  const ret = (o: KvOp): number => (o.status === 'info' ? Infinity : o.ret);
  const search = (state: string | null, depth: number): boolean => {
    if (depth === n) return true;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      const o = live[i] as KvOp;
      // o can go next only if no unused op returned before o was called
      let ok = true;
      for (let j = 0; j < n && ok; j++) if (!used[j] && j !== i && ret(live[j] as KvOp) < o.call) ok = false;
      if (!ok) continue;
      let next: string | null | undefined;
      if (o.kind === 'get') next = o.value === state ? state : undefined;
      else if (o.kind === 'put') next = o.value;
      else if (o.status === 'ok') next = state === (o.expected ?? null) ? o.value : undefined;
      else if (o.status === 'fail') next = state !== (o.expected ?? null) ? state : undefined;
      else next = state === (o.expected ?? null) ? o.value : state;
      if (next === undefined) continue;
      used[i] = true;
      if (search(next, depth + 1)) return true;
      used[i] = false;
    }
    return false;
  };
  return search(null, 0);
}

function randomHistory(rnd: () => number, n: number): KvOp[] {
  const vals = ['1', '2', '3', null];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const ops: KvOp[] = [];
  for (let i = 0; i < n; i++) {
    const call = Math.floor(rnd() * 20);
    const ret = call + 1 + Math.floor(rnd() * 8);
    const r = rnd();
    const status: KvOp['status'] = r < 0.8 ? 'ok' : r < 0.9 ? 'fail' : 'info';
    const k = rnd();
    if (k < 0.4) ops.push({ kind: 'get', key: 'k', value: pick(vals), call, ret, status: status === 'info' ? 'ok' : status });
    else if (k < 0.7) ops.push({ kind: 'put', key: 'k', value: pick(['1', '2', '3']), call, ret, status });
    else ops.push({ kind: 'cas', key: 'k', value: pick(['1', '2', '3']), expected: pick(vals), call, ret, status });
  }
  return ops;
}

describe('WGL checker vs brute force', () => {
  it('agrees on 3000 random histories of up to 6 operations', () => {
    const rnd = seededRandom(2026);
    let yes = 0;
    let no = 0;
    for (let t = 0; t < 3000; t++) {
      const h = randomHistory(rnd, 1 + Math.floor(rnd() * 6));
      const expected = bruteForce(h);
      const got = checkKvHistory(h).ok;
      if (got !== expected) throw new Error(`disagreement on ${JSON.stringify(h)}: wgl=${got} brute=${expected}`);
      if (expected) yes++;
      else no++;
    }
    expect(yes).toBeGreaterThan(300);
    expect(no).toBeGreaterThan(300);
  });
});
