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
