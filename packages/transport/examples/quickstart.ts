import { RpcError, TcpTransport } from '@abi/transport';

// A server: handlers are registered by method name on the transport.
await using server = new TcpTransport();
server.handle('greet', (payload) => `hello, ${(payload as { name: string }).name}`);
server.handle('count', async function* (payload, ctx) {
  for (let i = 0; i < (payload as number) && !ctx.signal.aborted; i++) yield i;
});
server.handle('fail', () => {
  throw new RpcError('NOT_FOUND', 'no such thing', { details: { id: 42 } });
});
const listener = await server.listen('127.0.0.1:0');

// A client: dial, then call. Every wait takes an AbortSignal; calls take a deadline.
await using client = new TcpTransport();
const conn = await client.dial(listener.address, { signal: AbortSignal.timeout(5_000) });

console.log(await conn.request('greet', { name: 'abi' }, { deadlineMs: 1_000 }));

const items: unknown[] = [];
for await (const item of conn.stream('count', 5)) items.push(item);
console.log('streamed', items);

try {
  await conn.request('fail');
} catch (e) {
  if (e instanceof RpcError) console.log('remote error', e.code, e.status, e.details);
}

await conn.close();
