import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const START_REDIS = 'start redis-server on 127.0.0.1:6379';

/** True when a Redis answers PING at REDIS_URL. */
export async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export function client(): Redis {
  const c = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  return c;
}

/** A key prefix unique to this run (and call), so parallel runs never share state. */
let seq = 0;
export function uniquePrefix(): string {
  return `abi:rl:test:${process.pid}:${Date.now().toString(36)}:${seq++}:`;
}

/** Deletes every key under `prefix`. */
export async function cleanup(c: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await c.del(...keys);
  } while (cursor !== '0');
}

/** A loopback port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => srv.close(() => { resolve(); }));
  return port;
}
