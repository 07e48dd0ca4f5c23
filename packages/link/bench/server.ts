/**
 * Bench sink, run in a child process so sender and receiver use separate cores (as in
 * research/baselines.md §6). Mode per connection, chosen by the first byte the client writes:
 * 'P' plain frames, 'S' secure channel. A 1-byte message is a sync: the server answers with 1 byte.
 * 'R' raw bytes, no framing at all: the client writes only 64 KiB buffers and a 1-byte sync, so
 * the sync has arrived when the byte count is 1 modulo 64 KiB (the client waits for the answer).
 */
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TcpTransport } from '@abi/transport';
import { Identity, SecureChannel, flattenFrame, frameLength, secureTcpTransport, socketDuplex } from '../src/index.js';

const identity = Identity.fromSeed(new Uint8Array(32).fill(2));
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.once('readable', () => {
    const first = socket.read(1) as Buffer | null;
    if (first === null) return;
    if (first[0] === 0x52) {
      let count = 0;
      socket.on('data', (d: Buffer) => {
        count = (count + d.length) % 65536;
        if (count === 1) {
          count = 0;
          socket.write(Buffer.of(1));
        }
      });
      return;
    }
    const duplex = socketDuplex(socket, { maxFrame: 1 << 20 });
    if (first[0] === 0x50) {
      duplex.start({
        onFrame: (f) => { if (frameLength(f) === 1) void duplex.send(flattenFrame(f)); },
        onEnd: () => undefined,
      });
    } else {
      void SecureChannel.accept(duplex, { identity, maxMessageSize: 1 << 20 }).then((ch) => {
        // a sink: pieces are counted, not concatenated (the plain sink does not concatenate either)
        ch.onMessageParts((parts) => { if (parts.length === 1 && parts[0]?.length === 1) void ch.send(parts[0]); });
      }, () => undefined);
    }
  });
});
const plainT = new TcpTransport();
const secureT = secureTcpTransport({ identity });
const localT = secureTcpTransport({ identity, localPlaintext: 'unix' });
for (const t of [plainT, secureT, localT]) {
  t.handle('sink', () => undefined);
  t.handle('echo', (p) => p);
}
const dir = mkdtempSync(path.join(tmpdir(), 'abi-link-bench-'));
const [pl, sl, ul, upl] = await Promise.all([
  plainT.listen('127.0.0.1:0'),
  secureT.listen('127.0.0.1:0'),
  localT.listen(`unix:${path.join(dir, 'secure.sock')}`),
  plainT.listen(`unix:${path.join(dir, 'plain.sock')}`),
]);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.send?.({ port: addr.port, plain: pl.address, secure: sl.address, unix: ul.address, unixPlain: upl.address });
});
process.on('disconnect', () => { process.exit(0); });
// CPU time of this (receiving) process, for the per-record CPU table
process.on('message', (m) => { if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() }); });
