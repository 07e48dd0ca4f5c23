import { Emitter, type Event } from './events.js';
import { InvalidConfigError } from './errors.js';
import { EMPTY_CONTEXT, guard, Outcome, type Policy, type PolicyContext, type PolicyFn } from './policy.js';
import { num } from './validate.js';

export interface TimeoutEvent {
  readonly timeoutMs: number;
}

/**
 * Rejects with `TimeoutError` when `fn` runs longer than `timeoutMs`, aborting the signal it
 * handed to `fn` (which also follows the caller's signal). The wrapped work is not awaited
 * after the timeout: pass the signal on to your I/O so it stops.
 */
export class TimeoutPolicy implements Policy {
  readonly timeoutMs: number;
  readonly #timeout = new Emitter<TimeoutEvent>();
  readonly onTimeout: Event<TimeoutEvent> = this.#timeout.event;

  constructor(timeoutMs: number) {
    this.timeoutMs = num('timeoutMs', timeoutMs, 0, true);
  }

  execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T> {
    return guard(fn, options ?? EMPTY_CONTEXT, this.timeoutMs, (outcome) => {
      if (outcome === Outcome.timeout && this.#timeout.size !== 0) this.#timeout.emit({ timeoutMs: this.timeoutMs });
    });
  }
}

/** A {@link TimeoutPolicy}. */
export function timeout(timeoutMs: number): TimeoutPolicy {
  return new TimeoutPolicy(timeoutMs);
}

/** Policies run as one, outermost first. */
export class PolicyChain implements Policy {
  readonly policies: readonly Policy[];

  constructor(policies: readonly Policy[]) {
    policies.forEach((p, i) => {
      if (typeof (p as Partial<Policy> | undefined)?.execute !== 'function') throw new InvalidConfigError(`policies[${i}]`, 'must have an execute method');
    });
    this.policies = [...policies];
  }

  execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T> {
    const ps = this.policies;
    const n = ps.length;
    const step = (i: number, context: PolicyContext): T | PromiseLike<T> => {
      const p = ps[i];
      if (p === undefined) return fn(context);
      return p.execute((c) => step(i + 1, c), context);
    };
    if (n === 0) return Promise.resolve().then(() => fn(options ?? EMPTY_CONTEXT));
    return Promise.resolve(step(0, options ?? EMPTY_CONTEXT));
  }
}

/**
 * Composes policies, outermost first: `wrap(retry, breaker, timeout(1_000)).execute(fn)` retries
 * calls that go through the breaker, each attempt limited to one second. The context each policy
 * hands inwards (signal, attempt) reaches `fn`.
 */
export function wrap(...policies: Policy[]): PolicyChain {
  return new PolicyChain(policies);
}
