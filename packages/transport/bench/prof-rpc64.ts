/**
 * Profiling helper: runs only the 64-in-flight echo for a few seconds, server in a child, and
 * prints calls/s and CPU per call on each side. PROF_MINIMAL=1 runs the hand-written reference.
 *   node --cpu-prof --import tsx --conditions=@abi/source bench/prof-rpc64.ts
 * (set PROF_SERVER_ARGS="--cpu-prof" to profile the child too).
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { TcpTransport } from '../src/index.js';
import { connect, MinimalRpcClient, minimalRpcServer } from './raw.js';

const minimal = process.env.PROF_MINIMAL === '1';
if (process.argv[2] === 'server') {
  let port: number;
  if (minimal) {
    const server = net.createServer({ noDelay: true }, minimalRpcServer);
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => { resolve((server.address() as net.AddressInfo).port); }));
  } else {
    const t = new TcpTransport({ keepAliveMs: 60_000 });
    t.handle('echo', (p) => p);
    const l = await t.listen('127.0.0.1:0');
    port = Number(l.address.split(':').pop());
  }
  process.send?.({ port });
  let cpu0 = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'start') cpu0 = process.cpuUsage();
    else {
      const c = process.cpuUsage(cpu0);
      process.send?.({ cpu: c.user + c.system }, () => process.exit(0));
    }
  });
} else {
  const child = fork(fileURLToPath(import.meta.url), ['server'], {
    execArgv: ['--import', 'tsx', '--conditions=@abi/source', ...(process.env.PROF_SERVER_ARGS ?? '').split(' ').filter(Boolean)],
  });
  const { port } = await new Promise<{ port: number }>((r) => child.once('message', (m) => { r(m as { port: number }); }));
  const client = new TcpTransport({ keepAliveMs: 60_000 });
  const mc = minimal ? new MinimalRpcClient(await connect(port)) : undefined;
  const c = minimal ? undefined : await client.dial(`127.0.0.1:${port}`);
  const call = (v: unknown): Promise<unknown> => (mc ? mc.request(v) : c!.request('echo', v));
  const task = { id: 123456, kind: 'compute.dot', priority: 3, weight: 0.75, tags: ['a', 'bb', 'ccc'], owner: { name: 'node-7', zone: 'eu-1' }, retries: 2, urgent: false, created: 1732000000000, payloadRef: 'blob://0123456789abcdef', note: 'benchmark task object' };
  const seconds = Number(process.env.PROF_SECONDS ?? 5);
  for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: 64 }, () => call(task))); // warm
  child.send('start');
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await new Promise<void>((resolve) => {
    let live = 0;
    const next = (): void => {
      if (performance.now() > end) {
        if (--live === 0) resolve();
        return;
      }
      call(task).then(() => { done++; next(); }, (e: unknown) => { console.error(e); process.exit(1); });
    };
    for (let i = 0; i < 64; i++) {
      live++;
      next();
    }
  });
  const cpu = process.cpuUsage(cpu0);
  const server = new Promise<{ cpu: number }>((r) => child.once('message', (m) => { r(m as { cpu: number }); }));
  child.send('stop');
  const s = (await server).cpu;
  const cl = cpu.user + cpu.system;
  console.log(`${minimal ? 'minimal' : 'abi    '} ${Math.round(done / seconds)} calls/s; CPU per call: client ${(cl / done).toFixed(2)} µs, server ${(s / done).toFixed(2)} µs, total ${((cl + s) / done).toFixed(2)} µs`);
  mc?.close();
  await client.close();
}
