import { describe, expect, it } from 'vitest';
import { CircuitBreaker, once, stream, type CircuitState } from './index.js';

describe('event helpers', () => {
  it('stream() yields state changes in order and stops on abort', async () => {
    const b = new CircuitBreaker({ trip: { type: 'consecutive', failures: 1 } });
    const ac = new AbortController();
    const seen: CircuitState[] = [];
    const loop = (async () => {
      for await (const e of stream(b.onStateChange, { signal: ac.signal })) seen.push(e.to);
    })();
    await Promise.resolve();
    const h = b.isolate();
    h[Symbol.dispose]();
    const p = b.tryAcquire();
    if (p.ok) p.failure();
    await new Promise((r) => setTimeout(r, 0));
    ac.abort();
    await loop;
    expect(seen).toEqual(['isolated', 'closed', 'open']);
  });

  it('stream() is bounded: a slow consumer loses the oldest values', async () => {
    const b = new CircuitBreaker();
    const it = stream(b.onStateChange, { capacity: 2 })[Symbol.asyncIterator]();
    const first = it.next(); // subscribes
    b.isolate(); // delivered to the pending next()
    b.reset();
    b.isolate();
    b.reset(); // buffer holds [isolated, closed] after dropping the first 'closed'
    const to = (r: IteratorResult<{ to: CircuitState }>) => (r.done === true ? undefined : r.value.to);
    expect(to(await first)).toBe('isolated');
    expect(to(await it.next())).toBe('isolated');
    expect(to(await it.next())).toBe('closed');
    await it.return?.();
    expect((await it.next()).done).toBe(true);
  });

  it('stream() rejects a bad capacity, naming it', () => {
    const b = new CircuitBreaker();
    expect(() => stream(b.onStateChange, { capacity: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field: 'capacity' }));
  });

  it('once() resolves with the next value and unsubscribes', async () => {
    const b = new CircuitBreaker();
    const next = once(b.onStateChange);
    b.isolate();
    expect((await next).to).toBe('isolated');
  });
});
