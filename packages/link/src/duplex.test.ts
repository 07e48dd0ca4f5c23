import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SendArena } from './duplex.js';

describe('SendArena', () => {
  it('never hands out memory that a sent region not yet passed by the writer still covers', () => {
    // Model: the writer's byte counter `written`, how far it has completed (`completed` ≤
    // written), and every region handed out with the counter after it was sent (or, when never
    // sent, the counter at the next reserve). A region is live until completed reaches its mark.
    const op = fc.oneof(
      fc.record({ t: fc.constant('reserve' as const), n: fc.integer({ min: 1, max: 300 }), send: fc.boolean() }),
      fc.record({ t: fc.constant('complete' as const), k: fc.nat() }),
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
        const pending = live.at(-1);
        if (pending !== undefined && pending.mark === Infinity) pending.mark = written;
        const r = arena.reserve(o.n, written, completed);
        for (let i = live.length - 1; i >= 0; i--) if ((live[i]?.mark ?? 0) <= completed) live.splice(i, 1);
        if (r === undefined) {
          // refusing is allowed only when no free stretch exists or the frame is too large
          if (o.n <= size / 4 && live.length === 0) expect.fail('refused with nothing in use');
          continue;
        }
        expect(r.length).toBe(o.n);
        const start = r.byteOffset;
        for (const l of live) expect(start + o.n <= l.start || start >= l.end, `region [${start}, ${start + o.n}) overlaps live [${l.start}, ${l.end})`).toBe(true);
        const fill = ++fills & 0xff;
        r.fill(fill);
        const entry = { start, end: start + o.n, mark: Infinity, view: r, fill };
        live.push(entry);
        if (o.send) {
          written += 4 + o.n;
          expect(arena.sent(r, written)).toBe(true);
          entry.mark = written;
        }
        // every live region still holds what its owner wrote
        for (const l of live) expect(l.view.every((b) => b === l.fill)).toBe(true);
      }
    }), { numRuns: 300 });
  });

  it('serves again once the writer has caught up, and refuses frames over a quarter of it', () => {
    const arena = new SendArena(4096);
    expect(arena.reserve(1025, 0, 0)).toBeUndefined();
    const a = arena.reserve(1000, 0, 0)!;
    expect(arena.sent(a, 1004)).toBe(true);
    const b = arena.reserve(1000, 1004, 0)!;
    expect(arena.sent(b, 2008)).toBe(true);
    const c = arena.reserve(1000, 2008, 0)!;
    expect(arena.sent(c, 3012)).toBe(true);
    const d = arena.reserve(1000, 3012, 0)!;
    expect(arena.sent(d, 4016)).toBe(true);
    expect(arena.reserve(1000, 4016, 0)).toBeUndefined();
    expect(arena.inUse).toBe(4000);
    // the writer is past the first region only: it can be reused (wrapping), the others cannot
    const e = arena.reserve(1000, 4016, 1004)!;
    expect(e.byteOffset).toBe(0);
    expect(arena.reserve(10, 4016, 1004)).toBeUndefined();
    expect(arena.sent(new Uint8Array(1000), 5000)).toBe(false);
  });
});
