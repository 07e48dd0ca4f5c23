import net from 'node:net';
import type { PoolFactory } from '@abi/pool';

/** A pooled TCP connection: the socket plus a flag set once the peer has gone. */
export interface Conn {
  readonly socket: net.Socket;
  /** True once the socket saw 'end', 'close' or an error: it must not be reused. */
  dead: boolean;
}

/**
 * A PoolFactory for `node:net` connections to host:port. `validate` is cheap (a flag kept up
 * to date by socket events), so it suits test-on-borrow and idle probes.
 */
export function netFactory(host: string, port: number): PoolFactory<Conn> {
  return {
    create: (signal) =>
      new Promise<Conn>((resolve, reject) => {
        const socket = net.connect({ host, port });
        const conn: Conn = { socket, dead: false };
        const onAbort = (): void => {
          socket.destroy();
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          socket.setNoDelay(true);
          resolve(conn);
        });
        socket.on('error', (e) => {
          conn.dead = true;
          signal.removeEventListener('abort', onAbort);
          reject(e); // no-op once connected
        });
        socket.on('end', () => {
          conn.dead = true;
          socket.end();
        });
        socket.on('close', () => {
          conn.dead = true;
        });
      }),
    destroy: (conn) => {
      conn.socket.destroy();
    },
    validate: (conn) => !conn.dead && !conn.socket.destroyed,
  };
}

/** Sends one line and resolves with the reply line (a tiny echo protocol for the demo). */
export function request(conn: Conn, line: string, signal?: AbortSignal): Promise<string> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    let buf = '';
    const cleanup = (): void => {
      conn.socket.off('data', onData);
      conn.socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        cleanup();
        resolve(buf.slice(0, i));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('connection closed'));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal?.reason as Error);
    };
    if (conn.dead) {
      reject(new Error('connection closed'));
      return;
    }
    conn.socket.on('data', onData);
    conn.socket.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    conn.socket.write(`${line}\n`);
  });
}

/** A line echo server on 127.0.0.1 that can be killed (all connections dropped) and restarted. */
export class EchoServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  accepted = 0;

  async start(port = this.port): Promise<number> {
    const server = net.createServer((s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      s.pipe(s);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Stops listening and drops every open connection. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  }
}
