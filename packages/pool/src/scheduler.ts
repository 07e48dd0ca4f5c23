/**
 * Time and timers, injected so that tests and simulations are deterministic. The default uses
 * `performance.now()` and `setTimeout`, with every timer `unref`'d so that an idle pool never
 * keeps the process alive.
 */
export interface Scheduler {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => {
    clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};
