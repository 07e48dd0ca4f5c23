/**
 * Bench sink, run in a child process so sender and receiver use separate cores (as in
 * research/baselines.md §6). Mode per connection, chosen by the first byte the client writes:
 * 'P' plain frames, 'S' secure channel. A 1-byte message is a sync: the server answers with 1 byte.
 */
import net from 'node:net';
import { TcpTransport } from '@abi/transport';
import { Identity, SecureChannel, secureTcpTransport, socketDuplex } from '../src/index.js';

const identity = Identity.fromSeed(new Uint8Array(32).fill(2));
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.once('readable', () => {
    const first = socket.read(1) as Buffer | null;
    if (first === null) return;
    const duplex = socketDuplex(socket, { maxFrame: 1 << 20 });
    if (first[0] === 0x50) {
      duplex.start({
        onFrame: (f) => { if (f.length === 1) void duplex.send(f); },
        onEnd: () => undefined,
      });
    } else {
      void SecureChannel.accept(duplex, { identity, maxMessageSize: 1 << 20 }).then((ch) => {
        ch.onMessage((m) => { if (m.length === 1) void ch.send(m); });
      }, () => undefined);
    }
  });
});
const plainT = new TcpTransport();
const secureT = secureTcpTransport({ identity });
for (const t of [plainT, secureT]) {
  t.handle('sink', () => undefined);
  t.handle('echo', (p) => p);
}
const [pl, sl] = await Promise.all([plainT.listen('127.0.0.1:0'), secureT.listen('127.0.0.1:0')]);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.send?.({ port: addr.port, plain: pl.address, secure: sl.address });
});
process.on('disconnect', () => { process.exit(0); });
