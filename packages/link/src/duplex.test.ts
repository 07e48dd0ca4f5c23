import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SendArena } from './duplex.js';

describe('SendArena', () => {
  it('never hands out memory that a sent region not yet passed by the writer still covers', () => {
    // Model: the bytes sent so far (`written`, prefixes included), how many of them the writer has
    // finished with (`completed` ≤ written; the arena is told held = written − completed), and
    // every region handed out (prefix included) with the count after it was sent (or, when never
    // sent, the count at the next reserve). A region is live until completed reaches its mark.
    const op = fc.oneof(
      fc.record({ t: fc.constant('reserve' as const), n: fc.integer({ min: 1, max: 300 }), send: fc.boolean() }),
      fc.record({ t: fc.constant('complete' as const), k: fc.nat() }),
      fc.record({ t: fc.constant('other' as const), n: fc.integer({ min: 0, max: 200 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const size = 1024;
      const arena = new SendArena(size);
      let written = 0;
      let completed = 0;
      const live: { start: number; end: number; mark: number; view: Uint8Array; fill: number }[] = [];
      let fills = 0;
      for (const o of ops) {
        if (o.t === 'complete') {
          completed = Math.min(written, completed + o.k);
          continue;
        }
        if (o.t === 'other') {
          // a frame that is not reserved memory: counted, not taken
          written += 4 + o.n;
          expect(arena.take(new Uint8Array(o.n))).toBeUndefined();
          continue;
        }
        const pending = live.at(-1);
        if (pending !== undefined && pending.mark === Infinity) pending.mark = written;
        const r = arena.reserve(o.n, written - completed);
        for (let i = live.length - 1; i >= 0; i--) if ((live[i]?.mark ?? 0) <= completed) live.splice(i, 1);
        if (r === undefined) {
          // refusing is allowed only when no free stretch exists or the frame is too large
          if (4 + o.n <= size / 4 && live.length === 0) expect.fail('refused with nothing in use');
          continue;
        }
        expect(r.length).toBe(o.n);
        const start = r.byteOffset - 4;
        const end = r.byteOffset + o.n;
        for (const l of live) expect(end <= l.start || start >= l.end, `region [${start}, ${end}) overlaps live [${l.start}, ${l.end})`).toBe(true);
        const fill = ++fills & 0xff;
        r.fill(fill);
        const entry = { start, end, mark: Infinity, view: r, fill };
        live.push(entry);
        if (o.send) {
          written += 4 + o.n;
          const whole = arena.take(r);
          expect(whole?.byteOffset).toBe(start);
          expect(whole?.length).toBe(4 + o.n);
          expect(new DataView(whole!.buffer, whole!.byteOffset, 4).getUint32(0)).toBe(o.n);
          entry.mark = written;
        }
        // every live region still holds what its owner wrote
        for (const l of live) expect(l.view.every((b) => b === l.fill)).toBe(true);
      }
    }), { numRuns: 300 });
  });

  it('serves again once the writer has caught up, and refuses frames over a quarter of it', () => {
    const arena = new SendArena(4096);
    expect(arena.reserve(1021, 0)).toBeUndefined();
    const a = arena.reserve(996, 0)!;
    expect(arena.take(a)?.length).toBe(1000);
    const b = arena.reserve(996, 1000)!;
    expect(arena.take(b)?.length).toBe(1000);
    const c = arena.reserve(996, 2000)!;
    expect(arena.take(c)?.length).toBe(1000);
    const d = arena.reserve(996, 3000)!;
    expect(arena.take(d)?.length).toBe(1000);
    expect(arena.reserve(996, 4000)).toBeUndefined();
    expect(arena.inUse).toBe(4000);
    // the writer is past the first region only: it can be reused (wrapping), the others cannot
    const e = arena.reserve(996, 3000)!;
    expect(e.byteOffset).toBe(4);
    expect(arena.reserve(6, 3000)).toBeUndefined();
    // a frame that is not the memory handed out last is counted but not taken
    expect(arena.take(new Uint8Array(996))).toBeUndefined();
    expect(arena.take(d)).toBeUndefined();
  });
});
