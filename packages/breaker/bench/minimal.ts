/**
 * The reference for the "≤ 1.2× a minimal hand-written breaker" goal: the least a
 * consecutive-failure breaker can do (one state flag, one counter, a clock read only when open),
 * with none of the features of @abi/breaker (no half-open permits, no stats, no events).
 */
const OPEN = new Error('circuit open');

export class MinimalBreaker {
  #failures = 0;
  #open = false;
  #openUntil = 0;
  readonly #threshold: number;
  readonly #resetMs: number;

  constructor(threshold: number, resetMs: number) {
    this.#threshold = threshold;
    this.#resetMs = resetMs;
  }

  /** Synchronous admission check. */
  canCall(): boolean {
    if (!this.#open) return true;
    if (Date.now() < this.#openUntil) return false;
    this.#open = false;
    return true;
  }

  success(): void {
    this.#failures = 0;
  }

  failure(): void {
    if (++this.#failures >= this.#threshold) {
      this.#open = true;
      this.#openUntil = Date.now() + this.#resetMs;
    }
  }

  async execute<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.canCall()) throw OPEN;
    try {
      const v = await fn();
      this.#failures = 0;
      return v;
    } catch (e) {
      this.failure();
      throw e;
    }
  }
}

/** The same minimal breaker written with `.then` instead of async/await (the faster style). */
export class MinimalThenBreaker {
  #failures = 0;
  #open = false;
  #openUntil = 0;
  readonly #threshold: number;
  readonly #resetMs: number;
  readonly #ok = <T>(v: T): T => {
    this.#failures = 0;
    return v;
  };
  readonly #err = (e: unknown): never => {
    if (++this.#failures >= this.#threshold) {
      this.#open = true;
      this.#openUntil = Date.now() + this.#resetMs;
    }
    throw e;
  };

  constructor(threshold: number, resetMs: number) {
    this.#threshold = threshold;
    this.#resetMs = resetMs;
  }

  execute<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#open) {
      if (Date.now() < this.#openUntil) return Promise.reject(OPEN);
      this.#open = false;
    }
    return fn().then(this.#ok, this.#err);
  }
}
