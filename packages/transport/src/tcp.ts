import net from 'node:net';
import { realClock } from './connection.js';
import { abortError, TransportError } from './errors.js';
import { StreamTransport } from './stream-transport.js';
import type { StreamTransportInit } from './stream-transport.js';
import type { AbortOptions, ByteStream, DialOptions, StreamListener, StreamNetwork } from './types.js';

/** A parsed transport address. */
export type TcpAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/**
 * Parses `host:port`, `[v6]:port`, `tcp://host:port`, `unix:/path`, `unix:///path` or a path
 * starting with `/` or `.`. Throws INVALID_ADDRESS naming the problem.
 */
export function parseAddress(address: string): TcpAddress {
  let a = address.trim();
  if (a.startsWith('unix:')) {
    a = a.slice(5).replace(/^\/\/(?=\/)/, '');
    if (a.length === 0) throw new TransportError('INVALID_ADDRESS', `empty unix socket path in ${JSON.stringify(address)}`);
    return { kind: 'unix', path: a };
  }
  if (a.startsWith('/') || a.startsWith('.')) return { kind: 'unix', path: a };
  if (a.startsWith('tcp://')) a = a.slice(6);
  let host: string;
  let portText: string;
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    if (close < 0 || a[close + 1] !== ':') throw new TransportError('INVALID_ADDRESS', `expected [ipv6]:port, got ${JSON.stringify(address)}`);
    host = a.slice(1, close);
    portText = a.slice(close + 2);
  } else {
    const colon = a.lastIndexOf(':');
    if (colon <= 0 || a.indexOf(':') !== colon) throw new TransportError('INVALID_ADDRESS', `expected host:port, got ${JSON.stringify(address)}`);
    host = a.slice(0, colon);
    portText = a.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) throw new TransportError('INVALID_ADDRESS', `bad port ${JSON.stringify(portText)} in ${JSON.stringify(address)}`);
  if (host.length === 0) throw new TransportError('INVALID_ADDRESS', `empty host in ${JSON.stringify(address)}`);
  return { kind: 'tcp', host, port };
}

/** Formats an address so that {@link parseAddress} reads it back. */
export function formatAddress(a: TcpAddress): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function socketAddress(host: string | undefined, port: number | undefined): string {
  if (host === undefined || port === undefined) return 'unix';
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A `net.Socket` as a {@link ByteStream} (a class: no per-connection closures for its methods). */
class SocketStream implements ByteStream {
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly #socket: net.Socket;
  #error: Error | undefined;

  constructor(socket: net.Socket, names?: { local: string; remote: string }) {
    this.#socket = socket;
    socket.on('error', (e) => {
      this.#error = e;
    });
    this.localAddress = names?.local ?? socketAddress(socket.localAddress, socket.localPort);
    this.remoteAddress = names?.remote ?? socketAddress(socket.remoteAddress, socket.remotePort);
  }

  get writableLength(): number {
    return this.#socket.writableLength;
  }

  write(chunks: readonly Uint8Array[]): boolean {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return false;
    const only = chunks.length === 1 ? chunks[0] : undefined;
    if (only !== undefined) return socket.write(only);
    socket.cork();
    let ok = true;
    for (const c of chunks) ok = socket.write(c);
    socket.uncork();
    return ok;
  }

  onData(listener: (chunk: Uint8Array) => void): Disposable {
    const socket = this.#socket;
    socket.on('data', listener);
    return { [Symbol.dispose]: () => socket.off('data', listener) };
  }

  onDrain(listener: () => void): Disposable {
    const socket = this.#socket;
    socket.on('drain', listener);
    return { [Symbol.dispose]: () => socket.off('drain', listener) };
  }

  onClose(listener: (error?: Error) => void): Disposable {
    const socket = this.#socket;
    const l = (): void => {
      listener(this.#error);
    };
    if (socket.destroyed && socket.closed) queueMicrotask(l);
    else socket.once('close', l);
    return { [Symbol.dispose]: () => socket.off('close', l) };
  }

  end(): void {
    this.#socket.end();
  }

  destroy(error?: Error): void {
    this.#socket.destroy(error);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }
}

/** Wraps a `net.Socket` as a {@link ByteStream}: vectored writes through cork/uncork. */
export function socketStream(socket: net.Socket, names?: { local: string; remote: string }): ByteStream {
  return new SocketStream(socket, names);
}

export interface TcpNetworkInit {
  /** Disable Nagle's algorithm. @default true */
  readonly noDelay?: boolean;
  /** Listen backlog. @default 511 */
  readonly backlog?: number;
}

function mapSocketError(e: NodeJS.ErrnoException, what: string): TransportError {
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOENT':
      return new TransportError('CONNECTION_REFUSED', `${what}: ${e.message}`, { cause: e });
    case 'EADDRINUSE':
    case 'EADDRNOTAVAIL':
    case 'EACCES':
      return new TransportError('INVALID_ADDRESS', `${what}: ${e.message}`, { cause: e });
    case 'ETIMEDOUT':
      return new TransportError('CONNECT_TIMEOUT', `${what}: ${e.message}`, { cause: e });
    default:
      return new TransportError('CONNECTION_LOST', `${what}: ${e.message}`, { cause: e });
  }
}

/** TCP (IPv4, IPv6) and Unix-socket {@link StreamNetwork}. */
export function tcpNetwork(init: TcpNetworkInit = {}): StreamNetwork {
  const noDelay = init.noDelay ?? true;
  return {
    clock: realClock,
    listen(address: string, onStream: (s: ByteStream) => void, options?: AbortOptions): Promise<StreamListener> {
      options?.signal?.throwIfAborted();
      const a = parseAddress(address);
      const server = net.createServer({ noDelay, pauseOnConnect: false }, (socket) => {
        onStream(socketStream(socket));
      });
      return new Promise((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => {
          reject(mapSocketError(e, `listen ${address}`));
        });
        const onListening = (): void => {
          const bound = server.address();
          const addr = typeof bound === 'object' && bound !== null ? formatAddress({ kind: 'tcp', host: bound.address, port: bound.port }) : formatAddress(a);
          server.on('error', () => undefined);
          resolve({
            address: addr,
            // Stops accepting at once; connections already accepted belong to their owners.
            close: () => {
              server.close();
              return Promise.resolve();
            },
          });
        };
        if (a.kind === 'unix') server.listen({ path: a.path, backlog: init.backlog ?? 511 }, onListening);
        else server.listen({ host: a.host, port: a.port, backlog: init.backlog ?? 511, ipv6Only: a.host.includes(':') }, onListening);
      });
    },
    dial(address: string, options?: DialOptions): Promise<ByteStream> {
      const signal = options?.signal;
      if (signal?.aborted === true) return Promise.reject(abortError(signal, `dial ${address}`));
      let a: TcpAddress;
      try {
        a = parseAddress(address);
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
      return new Promise((resolve, reject) => {
        const socket = a.kind === 'unix' ? net.connect({ path: a.path }) : net.connect({ host: a.host, port: a.port, noDelay });
        const cleanup = (): void => {
          socket.off('connect', onConnect);
          socket.off('error', onError);
          signal?.removeEventListener('abort', onAbort);
        };
        const onConnect = (): void => {
          cleanup();
          resolve(socketStream(socket, a.kind === 'unix' ? { local: 'unix', remote: formatAddress(a) } : undefined));
        };
        const onError = (e: NodeJS.ErrnoException): void => {
          cleanup();
          socket.destroy();
          reject(mapSocketError(e, `dial ${address}`));
        };
        const onAbort = (): void => {
          cleanup();
          socket.destroy();
          if (signal !== undefined) reject(abortError(signal, `dial ${address}`));
        };
        socket.once('connect', onConnect);
        socket.once('error', onError);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}

export interface TcpTransportInit extends StreamTransportInit, TcpNetworkInit {}

/** The {@link Transport} contract over TCP and Unix sockets. */
export class TcpTransport extends StreamTransport {
  constructor(init: TcpTransportInit = {}) {
    super(tcpNetwork(init), init);
  }
}
