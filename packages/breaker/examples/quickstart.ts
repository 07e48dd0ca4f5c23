/**
 * Quick start: a flaky dependency behind retry → breaker → timeout, then the synchronous
 * admission API. Run: pnpm --filter @abi/breaker example
 */
import { CircuitBreaker, RetryExecutor, isCircuitOpenError, timeout, wrap } from '@abi/breaker';

// A dependency that fails its first three calls, then recovers.
let calls = 0;
async function fetchUser(id: string, signal?: AbortSignal): Promise<{ id: string; name: string }> {
  signal?.throwIfAborted();
  calls++;
  if (calls <= 3) throw new Error(`upstream 503 (call ${calls})`);
  return { id, name: 'Ada' };
}

const breaker = new CircuitBreaker({
  name: 'users',
  trip: { type: 'consecutive', failures: 3 },
  resetTimeoutMs: 200,
  successThreshold: 1,
});
using _log = breaker.onStateChange((e) => {
  console.log(`  [${e.breaker}] ${e.from} → ${e.to}`);
});

// Retry (exponential, full jitter) around the breaker around a 1 s timeout per attempt.
const retryPolicy = new RetryExecutor({ maxRetries: 5, initialDelayMs: 20, jitter: 'full' });
const policy = wrap(retryPolicy, breaker, timeout(1_000));

// 1. Three failures in a row open the breaker; retry stops as soon as it sees CircuitOpenError.
try {
  await policy.execute(({ signal }) => fetchUser('42', signal));
} catch (e) {
  if (!isCircuitOpenError(e)) throw e;
  console.log(`1. rejected fast: ${e.code}, retry after ${Math.round(e.retryAfterMs)} ms`);
}

// 2. After resetTimeoutMs a probe goes through, succeeds, and closes the breaker.
await new Promise((r) => setTimeout(r, 250));
const user = await policy.execute(({ signal }) => fetchUser('42', signal));
console.log(`2. got ${user.name} after ${calls} upstream calls; breaker is ${breaker.state}`);

// 3. The synchronous API for hot paths: no promise, no allocation while closed.
const permit = breaker.tryAcquire();
if (permit.ok) {
  permit.success(); // or permit.failure(error) / permit.cancel()
  console.log('3. tryAcquire admitted a call and recorded its success');
}

// 4. Stats count every call exactly once; the state round-trips through JSON.
console.log('4. stats', breaker.stats());
const saved = JSON.stringify(breaker);
const restored = new CircuitBreaker({ name: 'users', trip: { type: 'consecutive', failures: 3 }, resetTimeoutMs: 200, successThreshold: 1, initialState: JSON.parse(saved) as ReturnType<CircuitBreaker['toJSON']> });
console.log(`   restored state: ${restored.state}`);
