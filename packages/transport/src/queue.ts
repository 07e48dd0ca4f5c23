import { TransportError } from './errors.js';

/**
 * The receiving side of a stream under credit-based flow control. The sender may have at most
 * `window` items outstanding; the queue grants credit back (via `grant`) as the consumer takes
 * items, in batches of half the window. Items beyond the window are a protocol error, so the
 * queue is bounded by `window`.
 */
export class InboundQueue implements AsyncIterable<unknown> {
  readonly #window: number;
  readonly #grant: (n: number) => void;
  readonly #onCancel: () => void;
  #items: unknown[] = [];
  #head = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void } | undefined;
  #consumed = 0;
  #iterating = false;

  constructor(window: number, grant: (n: number) => void, onCancel: () => void) {
    this.#window = window;
    this.#grant = grant;
    this.#onCancel = onCancel;
  }

  /** Items held (≤ window). */
  get size(): number {
    return this.#items.length - this.#head;
  }

  get finished(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  push(value: unknown): void {
    if (this.finished) return;
    if (this.size >= this.#window) throw new TransportError('PROTOCOL_ERROR', `stream data beyond the granted window of ${this.#window}`);
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#took();
      w.resolve({ value, done: false });
      return;
    }
    this.#items.push(value);
  }

  end(): void {
    if (this.finished) return;
    this.#ended = true;
    const w = this.#waiter;
    if (w !== undefined && this.size === 0) {
      this.#waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  fail(error: Error): void {
    if (this.finished) return;
    this.#error = error;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      w.reject(error);
    }
  }

  #took(): void {
    this.#consumed++;
    if (this.#consumed >= Math.max(1, this.#window >> 1) && !this.finished) {
      const n = this.#consumed;
      this.#consumed = 0;
      this.#grant(n);
    }
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head];
      this.#items[this.#head] = undefined;
      this.#head++;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      this.#took();
      return Promise.resolve({ value, done: false });
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined) return Promise.reject(new TransportError('INVALID_ARGUMENT', 'concurrent next() on a stream'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    if (this.#iterating) throw new TransportError('INVALID_ARGUMENT', 'a stream can be iterated only once');
    this.#iterating = true;
    return {
      next: () => this.next(),
      return: () => {
        if (!this.finished) {
          this.#ended = true;
          this.#items = [];
          this.#head = 0;
          this.#onCancel();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
