import { DeadlineQueue } from './deadlines.js';
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
  readonly #deadlines: DeadlineQueue;
  readonly #timeout = new Emitter<TimeoutEvent>();
  readonly onTimeout: Event<TimeoutEvent> = this.#timeout.event;

  constructor(timeoutMs: number) {
    this.timeoutMs = num('timeoutMs', timeoutMs, 0, true);
    this.#deadlines = new DeadlineQueue(this.timeoutMs);
  }

  execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T> {
    return guard(fn, options ?? EMPTY_CONTEXT, this.#deadlines, (outcome) => {
      if (outcome === Outcome.timeout && this.#timeout.size !== 0) this.#timeout.emit({ timeoutMs: this.timeoutMs });
    });
  }
}

/** A {@link TimeoutPolicy}. */
export function timeout(timeoutMs: number): TimeoutPolicy {
  return new TimeoutPolicy(timeoutMs);
}

type Run = <T>(fn: PolicyFn<T>, context: PolicyContext) => Promise<T>;

/** Policies run as one, outermost first. */
export class PolicyChain implements Policy {
  readonly policies: readonly Policy[];
  readonly #run: Run;

  constructor(policies: readonly Policy[]) {
    policies.forEach((p, i) => {
      if (typeof (p as Partial<Policy> | undefined)?.execute !== 'function') throw new InvalidConfigError(`policies[${i}]`, 'must have an execute method');
    });
    this.policies = [...policies];
    // Nest the policies once, here, so a call only allocates one closure per layer.
    let run: Run = (fn, context) => Promise.resolve().then(() => fn(context));
    for (let i = policies.length - 1; i >= 0; i--) {
      const policy = policies[i];
      if (policy === undefined) continue;
      if (i === policies.length - 1) run = (fn, context) => policy.execute(fn, context);
      else {
        const inner = run;
        run = (fn, context) => policy.execute((c) => inner(fn, c), context);
      }
    }
    this.#run = run;
  }

  execute<T>(fn: PolicyFn<T>, options?: PolicyContext): Promise<T> {
    return this.#run(fn, options ?? EMPTY_CONTEXT);
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
