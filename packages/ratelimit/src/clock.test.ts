import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';

describe('ManualClock', () => {
  it('runs timers in time order (ties in scheduling order), each at its own time', () => {
    const c = new ManualClock(100);
    const log: string[] = [];
    c.setTimer(() => log.push(`b@${c.now()}`), 20);
    c.setTimer(() => log.push(`a@${c.now()}`), 10);
    c.setTimer(() => log.push(`b2@${c.now()}`), 20);
    const x = c.setTimer(() => log.push('cancelled'), 5);
    x.cancel();
    expect(c.nextTimerAt).toBe(110);
    expect(c.pendingTimers).toBe(3);
    c.advance(15);
    expect(log).toEqual(['a@110']);
    expect(c.now()).toBe(115);
    expect(c.runNext()).toBe(true);
    expect(c.now()).toBe(120);
    c.set(200);
    expect(log).toEqual(['a@110', 'b@120', 'b2@120']);
    expect(c.runNext()).toBe(false);
    expect(c.nextTimerAt).toBeUndefined();
    c.set(50); // never backwards
    expect(c.now()).toBe(200);
  });

  it('runs timers scheduled by timers within the same advance', () => {
    const c = new ManualClock(0);
    const log: number[] = [];
    c.setTimer(() => {
      log.push(c.now());
      c.setTimer(() => log.push(c.now()), 5);
    }, 5);
    c.advance(20);
    expect(log).toEqual([5, 10]);
  });
});
