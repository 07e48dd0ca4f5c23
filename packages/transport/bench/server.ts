/**
 * The benchmark servers, run in a child process (forked by bench/index.ts) so client and server
 * do not share an event loop: @abi/transport over TCP, the minimal node:net + cbor-x RPC, raw
 * echo and sink, and grpc-js. Ports go to the parent over IPC; `mem` reports memory after GC.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Decoder, Encoder } from 'cbor-x';
import { TcpTransport } from '../src/index.js';
import { minimalRpcServer, rawEchoServer, rawSinkServer } from './raw.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function listen(handler: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ noDelay: true }, handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => { resolve((server.address() as net.AddressInfo).port); }));
}

const abi = new TcpTransport({ maxConnections: 20_000, keepAliveMs: 60_000 });
let sunk = 0;
abi.handle('echo', (p) => p);
abi.handle('sink', (p) => {
  sunk += (p as Uint8Array).length;
});
abi.handle('sync', () => sunk);
const abiListener = await abi.listen('127.0.0.1:0');

const rawSockets = new Set<net.Socket>();
const ports = {
  abi: Number(abiListener.address.split(':').pop()),
  minimal: await listen(minimalRpcServer),
  echo: await listen(rawEchoServer),
  sink: await listen(rawSinkServer),
  idle: await listen((s) => {
    rawSockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => rawSockets.delete(s));
  }),
  grpc: 0,
};

const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(here, 'echo.proto'))) as unknown as {
  bench: { Echo: { service: grpc.ServiceDefinition } };
};
const enc = new Encoder({ useRecords: false, tagUint8Array: false });
const dec = new Decoder({ useRecords: false, mapsAsObjects: true });
const grpcServer = new grpc.Server();
grpcServer.addService(pkg.bench.Echo.service, {
  Call: (call: grpc.ServerUnaryCall<{ data: Buffer }, unknown>, cb: grpc.sendUnaryData<{ data: Uint8Array }>) => {
    cb(null, { data: enc.encode(dec.decode(call.request.data)) });
  },
});
ports.grpc = await new Promise<number>((resolve, reject) => { grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) reject(err);
    else resolve(port);
  }); },
);

function mem(): { rss: number; heap: number; external: number; buffers: number } {
  for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external, buffers: m.arrayBuffers };
}

process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'mem') process.send?.({ mem: mem(), abiConnections: abi.connections.size, rawSockets: rawSockets.size });
  if (msg.cmd === 'exit') process.exit(0);
});
process.send?.({ ports });
