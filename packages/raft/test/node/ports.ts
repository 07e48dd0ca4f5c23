import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The kernel's ephemeral port range (outgoing connections and port-0 binds of every process on
 * the machine draw from it), falling back to Linux's default.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => { resolve(false); });
    s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true); }); });
  });
}

/**
 * Free TCP ports on 127.0.0.1 for servers that are killed and restarted on the same port.
 * They are taken outside the ephemeral range: a port handed out by `listen(0)` can be grabbed by
 * any process's outgoing connection while its node is down, and the restart would then fail
 * with EADDRINUSE (on a busy CI machine running many suites at once, this happens).
 */
export async function freePorts(n: number): Promise<number[]> {
  const [lo, hi] = ephemeralRange();
  const base = lo > 12_000 ? 10_000 : hi + 1;
  const span = lo > 12_000 ? lo - 10_000 : 65_535 - hi;
  const ports: number[] = [];
  for (let tries = 0; ports.length < n && tries < 10_000; tries++) {
    const p = base + Math.floor(Math.random() * span);
    if (!ports.includes(p) && (await tryListen(p))) ports.push(p);
  }
  if (ports.length < n) throw new Error(`could not find ${n} free ports in ${base}..${base + span}`);
  return ports;
}
