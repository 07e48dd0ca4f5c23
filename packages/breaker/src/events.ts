import { InvalidConfigError } from './errors.js';

/**
 * A typed event: call it with a listener to subscribe; dispose the result to unsubscribe.
 * Works with `using`: `using sub = breaker.onStateChange((e) => …)`.
 */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * Holds the listeners of one {@link Event}. `emit` is only called by owners after checking
 * `size`, so an event nobody listens to costs one comparison and no allocation.
 *
 * A listener that throws does not disturb the emitter or the other listeners; its error is
 * rethrown on a fresh tick (as Node's EventTarget does), where it surfaces as an uncaught
 * exception instead of being swallowed.
 */
export class Emitter<T> {
  #listeners: ((value: T) => void)[] = [];

  get size(): number {
    return this.#listeners.length;
  }

  readonly event: Event<T> = (listener) => {
    // Copy on write, so a listener that unsubscribes during emit does not skip others.
    this.#listeners = [...this.#listeners, listener];
    let active = true;
    return {
      [Symbol.dispose]: () => {
        if (!active) return;
        active = false;
        const i = this.#listeners.indexOf(listener);
        if (i >= 0) this.#listeners = this.#listeners.filter((_, j) => j !== i);
      },
    };
  };

  emit(value: T): void {
    const ls = this.#listeners;
    for (const l of ls) {
      try {
        l(value);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  clear(): void {
    this.#listeners = [];
  }
}

/** Resolves with the next value of `event`. */
export function once<T>(event: Event<T>): Promise<T> {
  return new Promise((resolve) => {
    const sub = event((v) => {
      sub[Symbol.dispose]();
      resolve(v);
    });
  });
}

export interface StreamOptions {
  /** Ends the stream (the iterator returns) when aborted. */
  readonly signal?: AbortSignal;
  /**
   * Values buffered while the consumer is slow (default 64). When full, the oldest value is
   * dropped (a state stream cares about the latest state most).
   */
  readonly capacity?: number;
}

/**
 * The values of `event` as a bounded `AsyncIterable`, for example
 * `for await (const change of stream(breaker.onStateChange, { signal }))`. Subscribes on the first
 * `next()`, unsubscribes when the loop ends (break, return, or abort).
 */
export function stream<T>(event: Event<T>, options: StreamOptions = {}): AsyncIterable<T> {
  const capacity = options.capacity ?? 64;
  if (!Number.isSafeInteger(capacity) || capacity < 1) throw new InvalidConfigError('capacity', `must be an integer ≥ 1, got ${String(capacity)}`);
  const signal = options.signal;
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const buffer: T[] = [];
      let waiting: ((r: IteratorResult<T>) => void) | undefined;
      let done = false;
      let sub: Disposable | undefined;
      const finish = (): void => {
        if (done) return;
        done = true;
        sub?.[Symbol.dispose]();
        signal?.removeEventListener('abort', finish);
        const w = waiting;
        waiting = undefined;
        w?.({ done: true, value: undefined });
      };
      const start = (): void => {
        if (sub !== undefined || done) return;
        if (signal?.aborted === true) {
          finish();
          return;
        }
        signal?.addEventListener('abort', finish, { once: true });
        sub = event((v) => {
          if (done) return;
          const w = waiting;
          if (w !== undefined) {
            waiting = undefined;
            w({ done: false, value: v });
            return;
          }
          if (buffer.length >= capacity) buffer.shift();
          buffer.push(v);
        });
      };
      return {
        next: () => {
          start();
          if (buffer.length > 0) return Promise.resolve({ done: false, value: buffer.shift() as T });
          if (done) return Promise.resolve({ done: true, value: undefined });
          return new Promise((resolve) => {
            waiting = resolve;
          });
        },
        return: () => {
          finish();
          buffer.length = 0;
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
}
