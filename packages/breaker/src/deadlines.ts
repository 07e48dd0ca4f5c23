/** What a deadline calls when it passes. */
export interface DeadlineTarget {
  onDeadline(): void;
}

/** One pending deadline. */
export interface Deadline {
  /** Wall-clock time (Date.now) at which the target is called. */
  readonly at: number;
  active: boolean;
  readonly target: DeadlineTarget;
}

/**
 * Timeouts of one fixed duration without a timer per call. Deadlines of a fixed duration expire
 * in the order they were set, so they sit in a FIFO queue served by one timer, armed for the
 * oldest live deadline. Adding a deadline costs a clock read and a push; cancelling marks it
 * dead. Dead entries are dropped from the head as the timer runs, and the queue is compacted
 * when more than half of it is dead, so it holds at most about twice the live deadlines.
 * With no live deadline left the timer is not cleared (re-arming it per call would cost a timer
 * per call again); it lapses at its time. The timer is unref'd: a pending timeout does not by
 * itself keep the process alive (whatever the call waits on, a socket or a timer, does).
 *
 * Uses `Date.now()` and `setTimeout`, so `vi.useFakeTimers()` controls it.
 */
export class DeadlineQueue {
  readonly ms: number;
  #queue: Deadline[] = [];
  #head = 0;
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number) {
    this.ms = ms;
  }

  /** Live deadlines (for tests and stats). */
  get size(): number {
    return this.#live;
  }

  /** Entries held, live or dead (bounded by about twice the live ones, plus 64). */
  get retained(): number {
    return this.#queue.length;
  }

  add(target: DeadlineTarget): Deadline {
    const d: Deadline = { at: Date.now() + this.ms, active: true, target };
    this.#queue.push(d);
    if (this.#timer === undefined) this.#arm(this.ms);
    this.#live++;
    return d;
  }

  cancel(d: Deadline): void {
    if (!d.active) return;
    d.active = false;
    if (--this.#live === 0) {
      this.#clear();
      return;
    }
    const q = this.#queue;
    while (q[this.#head]?.active === false) this.#head++;
    this.#trim();
  }

  /** Drops the consumed prefix, and the dead entries when they are most of the queue. */
  #trim(): void {
    const q = this.#queue;
    const size = q.length - this.#head;
    if (size > 64 && this.#live * 2 < size) {
      this.#queue = q.slice(this.#head).filter((x) => x.active);
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Every entry is dead: drop them (pop, not `length = 0`, which frees the backing store). */
  #clear(): void {
    const q = this.#queue;
    while (q.length > 0) q.pop();
    this.#head = 0;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#tick, Math.max(0, ms));
    this.#timer.unref();
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    for (;;) {
      const d = this.#queue[this.#head];
      if (d === undefined) break;
      if (d.active) {
        if (d.at > now) break;
        d.active = false;
        this.#live--;
        this.#head++;
        d.target.onDeadline();
      } else this.#head++;
    }
    const next = this.#queue[this.#head];
    if (next === undefined) {
      this.#clear();
      return;
    }
    this.#trim();
    // onDeadline() may have added a deadline, which armed the timer already.
    if ((this.#timer as ReturnType<typeof setTimeout> | undefined) === undefined) this.#arm(next.at - now);
  };
}
