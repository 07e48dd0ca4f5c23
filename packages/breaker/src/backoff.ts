import { InvalidConfigError } from './errors.js';
import type { Random } from './clock.js';
import { num, range, show } from './validate.js';

/**
 * How the wait grows with the retry number k (1 = the wait before the second attempt):
 * `fixed` initial · `linear` initial·k · `exponential` initial·multiplier^(k−1) ·
 * `fibonacci` initial·(1, 2, 3, 5, 8, …) · `immediate` 0 ·
 * `decorrelated-jitter` uniform in [initial, 3·previous] (AWS "decorrelated jitter"; it is its own
 * jitter, so the `jitter` option does not apply).
 */
export type BackoffStrategy = 'fixed' | 'linear' | 'exponential' | 'fibonacci' | 'immediate' | 'decorrelated-jitter';

/**
 * Randomisation of a delay d (already capped at `maxDelayMs`): `none` d · `full` uniform in [0, d)
 * · `equal` uniform in [d/2, d) · `{ ratio: r }` uniform in [d·(1−r), d·(1+r)), capped at
 * `maxDelayMs`. Every mode stays inside [0, maxDelayMs].
 */
export type Jitter = 'none' | 'full' | 'equal' | { readonly ratio: number };

export interface BackoffOptions {
  /** Default `'exponential'`. */
  readonly strategy?: BackoffStrategy;
  /** Default 100. */
  readonly initialDelayMs?: number;
  /** Cap on every delay, jitter included. Default 30 000. */
  readonly maxDelayMs?: number;
  /** Growth factor of `exponential`. Default 2. */
  readonly multiplier?: number;
  /** Default `'none'`. */
  readonly jitter?: Jitter;
}

const STRATEGIES: readonly BackoffStrategy[] = ['fixed', 'linear', 'exponential', 'fibonacci', 'immediate', 'decorrelated-jitter'];

/** A validated backoff schedule. Pure: randomness comes in as an argument. */
export class Backoff {
  readonly strategy: BackoffStrategy;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly multiplier: number;
  readonly jitter: Jitter;
  readonly #ratio: number;

  constructor(options: BackoffOptions = {}) {
    const strategy = options.strategy ?? 'exponential';
    if (!STRATEGIES.includes(strategy)) throw new InvalidConfigError('strategy', `must be one of ${STRATEGIES.join(', ')}, got ${show(strategy)}`);
    this.strategy = strategy;
    this.initialDelayMs = num('initialDelayMs', options.initialDelayMs ?? 100, 0);
    this.maxDelayMs = num('maxDelayMs', options.maxDelayMs ?? 30_000, 0);
    if (this.maxDelayMs < this.initialDelayMs) throw new InvalidConfigError('maxDelayMs', `must be ≥ initialDelayMs (${this.initialDelayMs})`);
    this.multiplier = num('multiplier', options.multiplier ?? 2, 1);
    const jitter = options.jitter ?? 'none';
    this.jitter = jitter;
    if (typeof jitter === 'object') {
      if ((jitter as unknown) === null) throw new InvalidConfigError('jitter', 'must not be null');
      this.#ratio = range('jitter.ratio', jitter.ratio, 0, 1);
    } else {
      if (!(['none', 'full', 'equal'] as unknown[]).includes(jitter)) {
        throw new InvalidConfigError('jitter', `must be 'none', 'full', 'equal' or { ratio }, got ${show(jitter)}`);
      }
      this.#ratio = 0;
    }
  }

  /** The delay before attempt k + 1, before jitter, capped at maxDelayMs. */
  base(k: number): number {
    const init = this.initialDelayMs;
    const max = this.maxDelayMs;
    let d: number;
    switch (this.strategy) {
      case 'immediate':
        return 0;
      case 'fixed':
        d = init;
        break;
      case 'linear':
        d = init * k;
        break;
      case 'exponential':
        d = init * this.multiplier ** (k - 1);
        break;
      case 'fibonacci': {
        let a = 1;
        let b = 1;
        for (let i = 1; i < k && a * init < max; i++) [a, b] = [a + b, a];
        d = init * a;
        break;
      }
      default:
        d = init;
    }
    return Number.isFinite(d) && d < max ? d : max;
  }

  /**
   * The delay before attempt k + 1 (k ≥ 1), jitter applied, always in [0, maxDelayMs].
   * `previousMs` is the previous delay (used by `decorrelated-jitter`).
   */
  delay(k: number, previousMs: number, random: Random): number {
    const max = this.maxDelayMs;
    if (this.strategy === 'decorrelated-jitter') {
      const lo = this.initialDelayMs;
      const hi = Math.max(lo, Math.min(max, (previousMs > 0 ? previousMs : lo) * 3));
      return Math.min(max, lo + random() * (hi - lo));
    }
    const d = this.base(k);
    switch (this.jitter) {
      case 'none':
        return d;
      case 'full':
        return random() * d;
      case 'equal':
        return Math.min(d, d / 2 + (random() * d) / 2);
      default: {
        const r = this.#ratio;
        return Math.min(max, d * (1 - r + 2 * r * random()));
      }
    }
  }
}
