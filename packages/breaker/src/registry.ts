import { CircuitBreaker, type BreakerSnapshot, type BreakerStats, type CircuitBreakerOptions, type CircuitState, type StateChange } from './breaker.js';
import { InvalidConfigError, RegistryFullError } from './errors.js';
import { Emitter, type Event } from './events.js';
import { int } from './validate.js';

/** Options shared by every breaker of a registry (a breaker's own name and state come from `get`). */
export type BreakerDefaults = Omit<CircuitBreakerOptions, 'name' | 'initialState'>;

export interface CircuitRegistryOptions {
  /** Options every breaker starts from; `get(name, overrides)` can override them per breaker. */
  readonly defaults?: BreakerDefaults;
  /**
   * Bound on the number of breakers (default 10 000). Asking for a new name when full throws
   * `RegistryFullError` (code `REGISTRY_FULL`); existing breakers keep working.
   */
  readonly maxBreakers?: number;
  /** Snapshots from `toJSON()`, applied to breakers as they are created. */
  readonly initialStates?: Readonly<Record<string, BreakerSnapshot>>;
}

export interface RegistryStats {
  readonly breakers: readonly BreakerStats[];
  readonly states: Readonly<Record<CircuitState, number>>;
  readonly successes: number;
  readonly failures: number;
  readonly rejections: number;
  readonly cancelled: number;
  readonly timeouts: number;
}

/** Named breakers, one per downstream service, with shared defaults. */
export class CircuitRegistry {
  readonly #defaults: BreakerDefaults;
  readonly #max: number;
  readonly #initial: Readonly<Record<string, BreakerSnapshot>>;
  readonly #breakers = new Map<string, { breaker: CircuitBreaker; sub: Disposable }>();
  readonly #changes = new Emitter<StateChange>();
  /** State changes of every breaker in the registry (`breaker` names it). */
  readonly onStateChange: Event<StateChange> = this.#changes.event;

  constructor(options: CircuitRegistryOptions = {}) {
    this.#defaults = options.defaults ?? {};
    this.#max = int('maxBreakers', options.maxBreakers ?? 10_000, 1);
    this.#initial = options.initialStates ?? {};
    // Fail fast on bad defaults rather than at the first get().
    new CircuitBreaker(this.#defaults);
  }

  /** The breaker called `name`, created from the defaults (plus `overrides`) on first use. */
  get(name: string, overrides: BreakerDefaults = {}): CircuitBreaker {
    const entry = this.#breakers.get(name);
    if (entry !== undefined) return entry.breaker;
    if (typeof name !== 'string' || name === '') throw new InvalidConfigError('name', 'must be a non-empty string');
    if (this.#breakers.size >= this.#max) throw new RegistryFullError(this.#max);
    const initialState = Object.hasOwn(this.#initial, name) ? this.#initial[name] : undefined;
    const breaker = new CircuitBreaker({
      ...this.#defaults,
      ...overrides,
      name,
      ...(initialState !== undefined ? { initialState } : {}),
    });
    const sub = breaker.onStateChange((e) => {
      if (this.#changes.size !== 0) this.#changes.emit(e);
    });
    this.#breakers.set(name, { breaker, sub });
    return breaker;
  }

  has(name: string): boolean {
    return this.#breakers.has(name);
  }

  /** Forgets a breaker; returns false if there was none. */
  delete(name: string): boolean {
    const entry = this.#breakers.get(name);
    if (entry === undefined) return false;
    entry.sub[Symbol.dispose]();
    this.#breakers.delete(name);
    return true;
  }

  /** Names in creation order. */
  names(): string[] {
    return [...this.#breakers.keys()];
  }

  get size(): number {
    return this.#breakers.size;
  }

  /** Per-breaker stats and totals. */
  stats(): RegistryStats {
    const breakers: BreakerStats[] = [];
    const states: Record<CircuitState, number> = { closed: 0, open: 0, 'half-open': 0, isolated: 0 };
    let successes = 0;
    let failures = 0;
    let rejections = 0;
    let cancelled = 0;
    let timeouts = 0;
    for (const { breaker } of this.#breakers.values()) {
      const s = breaker.stats();
      breakers.push(s);
      states[s.state]++;
      successes += s.successes;
      failures += s.failures;
      rejections += s.rejections;
      cancelled += s.cancelled;
      timeouts += s.timeouts;
    }
    return { breakers, states, successes, failures, rejections, cancelled, timeouts };
  }

  /** Closes every breaker. */
  resetAll(): void {
    for (const { breaker } of this.#breakers.values()) breaker.reset();
  }

  /** Every breaker's state, for `initialStates`. */
  toJSON(): Record<string, BreakerSnapshot> {
    const out: Record<string, BreakerSnapshot> = {};
    for (const [name, { breaker }] of this.#breakers) out[name] = breaker.toJSON();
    return out;
  }

  /** Forgets every breaker and listener. */
  close(): void {
    for (const { sub } of this.#breakers.values()) sub[Symbol.dispose]();
    this.#breakers.clear();
    this.#changes.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
