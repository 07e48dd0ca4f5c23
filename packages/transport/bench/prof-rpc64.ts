/**
 * Profiling helper: runs only the 64-in-flight echo for a few seconds, server in a child.
 *   node --cpu-prof --import tsx --conditions=@abi/source bench/prof-rpc64.ts
 * (set PROF_SERVER_ARGS="--cpu-prof" to profile the child too).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TcpTransport } from '../src/index.js';

if (process.argv[2] === 'server') {
  const t = new TcpTransport({ keepAliveMs: 60_000 });
  t.handle('echo', (p) => p);
  const l = await t.listen('127.0.0.1:0');
  process.send?.(Number(l.address.split(':').pop()));
  process.on('message', () => { void t.close().then(() => process.exit(0)); });
} else {
  const child = fork(fileURLToPath(import.meta.url), ['server'], {
    execArgv: ['--import', 'tsx', '--conditions=@abi/source', ...(process.env.PROF_SERVER_ARGS ?? '').split(' ').filter(Boolean)],
  });
  const port = await new Promise<number>((r) => child.once('message', (m) => { r(m as number); }));
  const client = new TcpTransport({ keepAliveMs: 60_000 });
  const c = await client.dial(`127.0.0.1:${port}`);
  const task = { id: 123456, kind: 'compute.dot', priority: 3, weight: 0.75, tags: ['a', 'bb', 'ccc'], owner: { name: 'node-7', zone: 'eu-1' }, retries: 2, urgent: false, created: 1732000000000, payloadRef: 'blob://0123456789abcdef', note: 'benchmark task object' };
  const seconds = Number(process.env.PROF_SECONDS ?? 5);
  await Promise.all(Array.from({ length: 64 }, () => c.request('echo', task))); // warm
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await new Promise<void>((resolve) => {
    let live = 0;
    const next = (): void => {
      if (performance.now() > end) { if (--live === 0) resolve(); return; }
      c.request('echo', task).then(() => { done++; next(); }, (e: unknown) => { console.error(e); process.exit(1); });
    };
    for (let i = 0; i < 64; i++) { live++; next(); }
  });
  const cpu = process.cpuUsage(cpu0);
  console.log(`${Math.round(done / seconds)} calls/s; client CPU ${((cpu.user + cpu.system) / done).toFixed(2)} µs/call `);
  await client.close();
  child.send('exit');
}
