/** A scheduled callback that can be cancelled. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Time as the limiters see it, in milliseconds (fractions allowed). `now()` must not go backwards
 * within one process for exact results (the algorithms tolerate it: time running backwards never
 * creates tokens). `setTimer` is used only by waiting `acquire` calls.
 *
 * Inject {@link ManualClock} in tests; everything, including waits, then runs on virtual time.
 */
export interface Clock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): TimerHandle;
}

const origin = performance.timeOrigin;

/**
 * The default clock: `performance.timeOrigin + performance.now()`. It is monotonic within a process
 * and close to Unix epoch milliseconds, so processes sharing a Redis store agree on time as well as
 * their wall clocks did when they started (see the README on skew).
 */
export const systemClock: Clock = {
  now: () => origin + performance.now(),
  setTimer(callback, delayMs) {
    const t = setTimeout(callback, Math.max(0, Math.ceil(delayMs)));
    return { cancel: () => { clearTimeout(t); } };
  },
};

interface ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A virtual clock for tests and simulations: time moves only through {@link advance} / {@link set},
 * which run due timers in time order (ties in scheduling order).
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  /** Number of scheduled, uncancelled timers. */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Time of the earliest pending timer, or undefined when none is pending. */
  get nextTimerAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers) if (!t.cancelled && (at === undefined || t.at < at)) at = t.at;
    return at;
  }

  /**
   * Moves time to the earliest pending timer and runs it (and only it). Returns false, leaving time
   * alone, when no timer is pending. For stepping a simulation one event at a time.
   */
  runNext(): boolean {
    let next: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.cancelled) continue;
      if (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
    }
    if (next === undefined) return false;
    this.#timers = this.#timers.filter((t) => t !== next && !t.cancelled);
    if (next.at > this.#now) this.#now = next.at;
    next.callback();
    return true;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    this.set(this.#now + ms);
  }

  /** Moves time to `ms` (never backwards), running every timer due by then, each at its own time. */
  set(ms: number): void {
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.#timers) {
        if (t.cancelled || t.at > ms) continue;
        if (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      }
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next && !t.cancelled);
      if (next.at > this.#now) this.#now = next.at;
      next.callback();
    }
    if (ms > this.#now) this.#now = ms;
  }
}
