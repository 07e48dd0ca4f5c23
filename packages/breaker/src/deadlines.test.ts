import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue } from './deadlines.js';

describe('DeadlineQueue (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each deadline at its time with a single timer', async () => {
    const q = new DeadlineQueue(100);
    const fired: string[] = [];
    q.add({ onDeadline: () => fired.push('a') });
    await vi.advanceTimersByTimeAsync(30);
    q.add({ onDeadline: () => fired.push('b') });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(69);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(30);
    expect(fired).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a cancelled deadline never fires; with nothing live the timer lapses and is not re-armed', async () => {
    const q = new DeadlineQueue(50);
    const fired: number[] = [];
    const a = q.add({ onDeadline: () => fired.push(1) });
    const b = q.add({ onDeadline: () => fired.push(2) });
    q.cancel(a);
    expect(vi.getTimerCount()).toBe(1);
    q.cancel(b);
    expect(q.size).toBe(0);
    expect(q.retained).toBe(0);
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(0);
    expect(fired).toEqual([]);
  });

  it('one timer serves back-to-back calls (no timer per call)', async () => {
    const q = new DeadlineQueue(100);
    const set = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 50; i++) q.cancel(q.add({ onDeadline: () => {} }));
    expect(set).toHaveBeenCalledTimes(1);
    set.mockRestore();
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('its timer does not keep the process alive', () => {
    vi.useRealTimers();
    try {
      const q = new DeadlineQueue(60_000);
      const handles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const before = handles();
      const d = q.add({ onDeadline: () => {} });
      expect(handles()).toBe(before);
      q.cancel(d);
    } finally {
      vi.useFakeTimers();
    }
  });

  it('every live deadline fires exactly once, no earlier than its time; cancelled ones never', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.oneof(fc.constant<'add'>('add'), fc.nat({ max: 1_000 }).map((n) => ({ cancel: n })), fc.integer({ min: 0, max: 150 }).map((ms) => ({ ms }))), { maxLength: 300 }),
        async (ms, ops) => {
          vi.clearAllTimers();
          const q = new DeadlineQueue(ms);
          const entries: { d: ReturnType<DeadlineQueue['add']>; fired: number; cancelled: boolean; at: number; firedAt: number }[] = [];
          for (const o of ops) {
            if (o === 'add') {
              const e = { d: undefined as unknown as ReturnType<DeadlineQueue['add']>, fired: 0, cancelled: false, at: Date.now() + ms, firedAt: -1 };
              e.d = q.add({
                onDeadline: () => {
                  e.fired++;
                  e.firedAt = Date.now();
                },
              });
              entries.push(e);
            } else if ('cancel' in o) {
              const e = entries[o.cancel % Math.max(1, entries.length)];
              if (e !== undefined && e.fired === 0) {
                e.cancelled = true;
                q.cancel(e.d);
              }
            } else await vi.advanceTimersByTimeAsync(o.ms);
          }
          await vi.advanceTimersByTimeAsync(ms + 1);
          for (const e of entries) {
            expect(e.fired).toBe(e.cancelled ? 0 : 1);
            if (!e.cancelled) expect(e.firedAt).toBeGreaterThanOrEqual(e.at);
          }
          expect(q.size).toBe(0);
          await vi.advanceTimersByTimeAsync(ms);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('stays bounded while calls keep completing behind one hung call', () => {
    const q = new DeadlineQueue(10_000);
    q.add({ onDeadline: () => {} }); // never completes
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      q.cancel(q.add({ onDeadline: () => {} }));
      max = Math.max(max, q.retained);
    }
    expect(q.size).toBe(1);
    expect(max).toBeLessThanOrEqual(2 * 1 + 64 + 2);
    expect(vi.getTimerCount()).toBe(1);
  });
});
