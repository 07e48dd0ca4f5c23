/**
 * @abi/link quick start: two identities, a mutually authenticated encrypted transport over TCP
 * loopback, a pinned peer, a permission token checked by the server, and a managed link.
 * Run: pnpm --filter @abi/link example
 */
import { Identity, LinkManager, TokenVerifier, authorizeConnection, encodeTokenChain, issueToken, secureTcpTransport } from '@abi/link';

// 1. Identities (Identity.load(path) reads a 0600 key file; identity.save(path) writes one).
const admin = Identity.generate();
const server = Identity.generate();
const client = Identity.generate();

// 2. The server accepts only the client, and checks a token signed by the admin.
const verifier = new TokenVerifier({ trustedIssuers: [admin.nodeId] });
await using serverTransport = secureTcpTransport({ identity: server, allow: [client.nodeId] });
serverTransport.handle('publish', (payload, ctx) => {
  const { token, topic } = payload as { token: Uint8Array; topic: string };
  // the token's subject must be the authenticated peer; a bad token closes the connection
  const grant = authorizeConnection(ctx.connection, token, verifier, { scope: 'publish', resource: topic });
  return `published to ${topic} as ${grant.subject.slice(0, 12)}…`;
});
const listener = await serverTransport.listen('127.0.0.1:0');

// 3. The client pins the server's node id; the connection is up after one secure handshake.
await using clientTransport = secureTcpTransport({ identity: client });
const conn = await clientTransport.dial(listener.address, { peer: server.nodeId });
console.log('server is', conn.remoteIdentity === server.nodeId ? 'authenticated' : 'UNKNOWN');

const token = encodeTokenChain([issueToken(admin, { subject: client.nodeId, scopes: ['publish'], ttlMs: 60_000, resource: 'news/*' })]);
console.log(await conn.request('publish', { token, topic: 'news/today' }));

// 4. A managed link: heartbeats, RTT, reconnect with back-off.
await using links = new LinkManager({ transport: clientTransport, heartbeatMs: 200 });
const link = links.link(listener.address, { peer: server.nodeId });
link.onStateChange((e) => { console.log(`link ${e.from} -> ${e.to}`); });
await link.whenUp({ signal: AbortSignal.timeout(5000) });
const rtt = await new Promise<number>((resolve) => link.onRtt(resolve));
console.log(`link up, rtt ${rtt.toFixed(2)} ms`);
await link.close();
