import { describe, expect, it } from 'vitest';
import { CircuitRegistry, type StateChange } from './index.js';

describe('CircuitRegistry', () => {
  it('creates one breaker per name from shared defaults plus overrides', () => {
    const reg = new CircuitRegistry({ defaults: { trip: { type: 'consecutive', failures: 1 }, resetTimeoutMs: 5 } });
    const a = reg.get('users');
    expect(reg.get('users')).toBe(a);
    const b = reg.get('billing', { trip: { type: 'consecutive', failures: 3 } });
    expect(a.name).toBe('users');
    expect(reg.names()).toEqual(['users', 'billing']);
    const p = a.tryAcquire();
    if (p.ok) p.failure();
    expect(a.state).toBe('open');
    for (let i = 0; i < 2; i++) {
      const q = b.tryAcquire();
      if (q.ok) q.failure();
    }
    expect(b.state).toBe('closed');
  });

  it('aggregates stats and state counts', () => {
    const reg = new CircuitRegistry({ defaults: { trip: { type: 'consecutive', failures: 1 } } });
    const a = reg.get('a');
    reg.get('b');
    const p = a.tryAcquire();
    if (p.ok) p.failure();
    a.tryAcquire();
    const s = reg.stats();
    expect(s.states).toEqual({ closed: 1, open: 1, 'half-open': 0, isolated: 0 });
    expect(s).toMatchObject({ failures: 1, rejections: 1, successes: 0 });
    expect(s.breakers.map((x) => x.name)).toEqual(['a', 'b']);
    reg.resetAll();
    expect(reg.stats().states.closed).toBe(2);
  });

  it('forwards state changes of every breaker; delete unsubscribes', () => {
    const reg = new CircuitRegistry({ defaults: { trip: { type: 'consecutive', failures: 1 } } });
    const seen: StateChange[] = [];
    using _s = reg.onStateChange((e) => seen.push(e));
    const a = reg.get('a');
    a.isolate();
    expect(seen.map((e) => `${e.breaker}:${e.to}`)).toEqual(['a:isolated']);
    expect(reg.delete('a')).toBe(true);
    expect(reg.has('a')).toBe(false);
    a.reset();
    expect(seen).toHaveLength(1);
    expect(reg.delete('a')).toBe(false);
  });

  it('round-trips every breaker through toJSON / initialStates', () => {
    const reg = new CircuitRegistry({ defaults: { trip: { type: 'consecutive', failures: 1 } } });
    reg.get('a').isolate();
    reg.get('b');
    const saved = JSON.parse(JSON.stringify(reg)) as ReturnType<CircuitRegistry['toJSON']>;
    const reg2 = new CircuitRegistry({ defaults: { trip: { type: 'consecutive', failures: 1 } }, initialStates: saved });
    expect(reg2.get('a').state).toBe('isolated');
    expect(reg2.get('b').state).toBe('closed');
  });

  it('a saved state that does not fit the breaker\'s trip policy fails at get() with the field named', () => {
    const reg = new CircuitRegistry({ defaults: { trip: { type: 'consecutive', failures: 1 } } });
    reg.get('a');
    const saved = reg.toJSON();
    const other = new CircuitRegistry({ defaults: { trip: { type: 'count', size: 5 } }, initialStates: saved });
    expect(() => other.get('a')).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field: 'initialState.window.type' }));
    expect(other.get('b').state).toBe('closed');
  });

  it('is bounded: a new name beyond maxBreakers throws REGISTRY_FULL', () => {
    using reg = new CircuitRegistry({ maxBreakers: 2 });
    reg.get('a');
    reg.get('b');
    expect(() => reg.get('c')).toThrow(expect.objectContaining({ code: 'REGISTRY_FULL' }));
    expect(reg.get('a').name).toBe('a');
    reg.delete('a');
    expect(reg.get('c').name).toBe('c');
  });

  it('rejects bad defaults and names with INVALID_CONFIG naming the field', () => {
    expect(() => new CircuitRegistry({ defaults: { halfOpenMaxCalls: -1 } })).toThrow(expect.objectContaining({ field: 'halfOpenMaxCalls' }));
    expect(() => new CircuitRegistry({ maxBreakers: 0 })).toThrow(expect.objectContaining({ field: 'maxBreakers' }));
    expect(() => new CircuitRegistry().get('')).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field: 'name' }));
  });

  it('close() forgets every breaker', () => {
    const reg = new CircuitRegistry();
    reg.get('a');
    reg.close();
    expect(reg.size).toBe(0);
  });
});
