/** A source of time in milliseconds. Only differences matter, except in `toJSON()` snapshots. */
export interface Clock {
  now(): number;
}

/** A source of uniform random numbers in [0, 1). */
export type Random = () => number;

/**
 * The default clock: `Date.now()`, read at every call (so `vi.useFakeTimers()` controls it).
 * Wall time, so `toJSON()` snapshots stay meaningful across processes.
 */
export const systemClock: Clock = { now: () => Date.now() };

/** The default randomness: `Math.random()`, read at every call. */
export const systemRandom: Random = () => Math.random();
