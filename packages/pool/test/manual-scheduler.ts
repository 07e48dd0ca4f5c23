import type { Scheduler } from '../src/index.js';

/** A deterministic clock + timer queue for tests: time moves only through `advance`. */
export class ManualScheduler implements Scheduler {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; seq: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), seq: id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** A view on the same clock and timer queue that counts only the timers set through it. */
  scoped(): Scheduler & { readonly pendingTimers: number } {
    const mine = new Set<unknown>();
    return {
      now: () => this.now(),
      setTimeout: (fn, ms) => {
        const h = this.setTimeout(() => {
          mine.delete(h);
          fn();
        }, ms);
        mine.add(h);
        return h;
      },
      clearTimeout: (h) => {
        mine.delete(h);
        this.clearTimeout(h);
      },
      get pendingTimers() {
        return mine.size;
      },
    };
  }

  /** Moves the clock forward without firing anything; throws if a timer would be due. */
  advanceClock(ms: number): void {
    const end = this.t + ms;
    for (const x of this.timers.values()) if (x.at <= end) throw new Error('advanceClock: a timer is due; use advance()');
    this.t = end;
  }

  /** Moves time forward by `ms`, firing due timers in order and flushing promise jobs after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      let next: { id: number; at: number; seq: number; fn: () => void } | undefined;
      for (const [id, x] of this.timers) {
        if (x.at <= end && (next === undefined || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = { id, ...x };
      }
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

/** Lets every queued promise job run. */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
