// Pool TCP connections to a loopback echo server, borrow them with `await using`,
// and spread keys over endpoints with a load balancer.
import { ConnectionPool, LoadBalancer, isPoolError } from '@abi/pool';
import { EchoServer, netFactory, request } from './net-factory.js';

const server = new EchoServer();
const port = await server.start();

// 1. A pool of at most 4 connections, validated before each borrow.
await using pool = new ConnectionPool(netFactory('127.0.0.1', port), { max: 4, testOnBorrow: true, acquireTimeoutMs: 2_000 });

// 2. 20 concurrent requests share the 4 connections; leases go back to the pool at block end.
const replies = await Promise.all(
  Array.from({ length: 20 }, async (_, i) => {
    await using lease = await pool.lease();
    return await request(lease.resource, `hello ${i}`); // await inside the block: the lease lives until the reply
  }),
);
console.log(`${replies.length} replies, last: "${replies.at(-1) ?? ''}"`);
console.log('pool stats:', pool.stats());

// 3. The server goes away: dead idle connections fail validation, and the create that tries to
//    replace them fails with a typed error carrying the socket error; the pool stays usable.
await server.kill();
await new Promise((r) => setTimeout(r, 50));
try {
  await pool.acquire();
} catch (e) {
  if (isPoolError(e)) console.log(`server gone: ${e.code} (${String((e.cause as NodeJS.ErrnoException | undefined)?.code)})`);
}
await server.start(port);
const conn = await pool.acquire();
console.log('server back:', await request(conn, 'again'));
pool.release(conn);

// 4. A load balancer over three endpoints: smooth weighted round-robin.
const lb = new LoadBalancer({ strategy: 'weighted-round-robin', endpoints: [{ id: 'a', weight: 3 }, { id: 'b' }, { id: 'c' }] });
const picks = Array.from({ length: 10 }, () => {
  const e = lb.pick();
  lb.recordSuccess(e, 1);
  return e.id;
});
console.log('weighted picks:', picks.join(' '));

await pool.close();
await server.kill();
