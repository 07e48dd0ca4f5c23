import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  BreakerError,
  CircuitOpenError,
  InvalidConfigError,
  RegistryFullError,
  RetriesExhaustedError,
  TimeoutError,
  isAbortedError,
  isBreakerError,
  isCircuitOpenError,
  isInvalidConfigError,
  isRetriesExhaustedError,
  isTimeoutError,
} from './index.js';

describe('errors', () => {
  it('every error has its code, name, and the brand guard', () => {
    const cases: [BreakerError, string, string][] = [
      [new CircuitOpenError('svc', 'open', 5), 'CIRCUIT_OPEN', 'CircuitOpenError'],
      [new RetriesExhaustedError('attempts', [new Error('a')]), 'RETRIES_EXHAUSTED', 'RetriesExhaustedError'],
      [new TimeoutError(10), 'TIMEOUT', 'TimeoutError'],
      [new AbortedError('why'), 'ABORTED', 'AbortedError'],
      [new InvalidConfigError('x.y', 'bad'), 'INVALID_CONFIG', 'InvalidConfigError'],
      [new RegistryFullError(3), 'REGISTRY_FULL', 'RegistryFullError'],
    ];
    for (const [e, code, name] of cases) {
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toBe(code);
      expect(e.name).toBe(name);
      expect(isBreakerError(e)).toBe(true);
    }
    expect(isCircuitOpenError(cases[0]![0])).toBe(true);
    expect(isRetriesExhaustedError(cases[1]![0])).toBe(true);
    expect(isTimeoutError(cases[2]![0])).toBe(true);
    expect(isAbortedError(cases[3]![0])).toBe(true);
    expect(isInvalidConfigError(cases[4]![0])).toBe(true);
    expect(isCircuitOpenError(cases[2]![0])).toBe(false);
  });

  it('the guards recognise an error from another copy of the package by its Symbol.for brand', () => {
    const foreign = Object.assign(new Error('x'), { code: 'CIRCUIT_OPEN', [Symbol.for('@abi/breaker/error')]: true });
    expect(isBreakerError(foreign)).toBe(true);
    expect(isCircuitOpenError(foreign)).toBe(true);
    expect(isBreakerError(new Error('plain'))).toBe(false);
    expect(isBreakerError({ code: 'CIRCUIT_OPEN' })).toBe(false);
    expect(isBreakerError(null)).toBe(false);
  });

  it('carry their data: causes, fields, retryAfterMs', () => {
    const errs = [new Error('1'), new Error('2')];
    const r = new RetriesExhaustedError('budget', errs);
    expect(r).toMatchObject({ attempts: 2, reason: 'budget', errors: errs, cause: errs[1] });
    expect(new InvalidConfigError('trip.size', 'must be ≥ 1').message).toBe('trip.size: must be ≥ 1');
    const c = new CircuitOpenError('svc', 'isolated', Infinity);
    expect(c).toMatchObject({ breaker: 'svc', reason: 'isolated', retryAfterMs: Infinity });
    expect(new AbortedError('r').cause).toBe('r');
  });

  it('CircuitOpenError is created without a stack trace and leaves Error.stackTraceLimit as it was', () => {
    const before = Error.stackTraceLimit;
    const e = new CircuitOpenError('svc', 'open', 1);
    expect(Error.stackTraceLimit).toBe(before);
    expect(e.stack?.split('\n').length).toBe(1);
  });
});
