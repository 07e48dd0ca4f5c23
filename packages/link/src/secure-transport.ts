/**
 * SecureTransport: any `@abi/transport` StreamNetwork (TCP, Unix sockets, the memory network)
 * with every stream upgraded to a {@link SecureChannel} before the transport's framing starts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  StreamTransport,
  TransportError,
  tcpNetwork,
  type ByteStream,
  type Connection,
  type DialOptions,
  type StreamNetwork,
  type StreamTransportInit,
  type StreamUpgrade,
  type TcpNetworkInit,
} from '@abi/transport';
import { SecureChannel, type ChannelOptions, type PeerIdentity } from './channel.js';
import type { CipherId } from './crypto.js';
import { byteStreamDuplex } from './duplex.js';
import { LinkError, isLinkError, toLinkError } from './errors.js';
import { publicKeyFromNodeId } from './identity.js';
import { RECORD_OVERHEAD } from './record.js';
import type { Grant, Token, TokenVerifier, VerifyRequest } from './token.js';

/** Channel options of a secure transport (the signal comes from the dial / transport). */
export type SecureOptions = Omit<ChannelOptions, 'signal' | 'ephemeralPrivateKey'>;

/**
 * When records may skip encryption. The handshake (mutual authentication, pinning, allowlist) runs
 * regardless; only the record cipher becomes `none`, and only if BOTH ends allow it and each end
 * sees the stream as same-host. The choice is in the signed transcript, so nobody in between can
 * force it.
 *
 * - `never` (default): always encrypt.
 * - `unix`: plaintext over Unix domain sockets.
 * - `unix-or-loopback`: also over TCP between loopback addresses (127.0.0.0/8, ::1).
 */
export type LocalPlaintextPolicy = 'never' | 'unix' | 'unix-or-loopback';

export interface SecureTransportInit extends Omit<StreamTransportInit, 'upgrade' | 'identity'>, SecureOptions {
  /** Operator switch for plaintext records between processes on one host. Default 'never'. */
  readonly localPlaintext?: LocalPlaintextPolicy;
  /** Called after each successful handshake (logging, metrics, tests). */
  readonly onSecured?: (info: SecuredInfo) => void;
}

/** What a completed secure upgrade negotiated. */
export interface SecuredInfo {
  readonly peer: PeerIdentity;
  readonly cipher: CipherId;
  readonly initiator: boolean;
  readonly localAddress: string;
  readonly remoteAddress: string;
}

export interface SecureDialOptions extends DialOptions {
  /** Pin the peer of this dial (node id or public key); overrides the transport's `peer`. */
  readonly peer?: string | Uint8Array;
}

/** @internal per-dial context (pinned peer, handshake-start hook) carried into the upgrade. */
export const dialContext = new AsyncLocalStorage<{ peer?: string | Uint8Array; onHandshake?: () => void }>();

function isLoopback(address: string): boolean {
  const host = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.slice(0, address.lastIndexOf(':'));
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || /^::ffff:127\.\d+\.\d+\.\d+$/i.test(host);
}

/** True when the policy allows plaintext for a stream with these addresses. */
export function plaintextAllowed(policy: LocalPlaintextPolicy, localAddress: string, remoteAddress: string): boolean {
  if (policy === 'never') return false;
  const unix = (a: string): boolean => a === 'unix' || a.startsWith('unix:') || a.startsWith('/');
  if (unix(localAddress) && unix(remoteAddress)) return true;
  return policy === 'unix-or-loopback' && isLoopback(localAddress) && isLoopback(remoteAddress);
}

/** Largest record a channel byte stream sends: bigger writes are cut (see channelByteStream). */
const RECORD_TARGET = 256 * 1024;

/**
 * Exposes an open channel as an `@abi/transport` ByteStream whose `remoteIdentity` is the peer's
 * authenticated node id: the transport reports it as `Connection.remoteIdentity` and refuses a
 * transport hello that announces another id (PROTOCOL_ERROR).
 */
export function channelByteStream(ch: SecureChannel, raw: ByteStream): ByteStream {
  const drainListeners = new Set<() => void>();
  const limit = Math.min(ch.maxMessageSize, RECORD_TARGET);
  // Records accepted from the transport but not yet sealed (views of its chunks). Sealing waits
  // while the channel reports back-pressure: sealing a 16 MiB coalesced write at once would
  // overflow the recycled send memory and fall back to a fresh allocation per record (measured:
  // sender CPU per 64 KiB message 53–63 µs that way). Bounded by the transport, which stops
  // writing while write() returns false.
  const backlog: Uint8Array[][] = [];
  let blocked = false;
  let ending = false;
  let needDrain = false; // a write returned false: tell the drain listeners when all is handed over
  const isOpen = (): boolean => ch.state === 'open'; // a call: sending can close the channel

  const pump = (): void => {
    while (!blocked && backlog.length > 0) {
      const group = backlog.shift() as Uint8Array[];
      let r: void | Promise<void>;
      try {
        r = ch.sendParts(group);
      } catch {
        backlog.length = 0;
        return;
      }
      if (r !== undefined) {
        blocked = true;
        r.then(
          () => {
            blocked = false;
            pump();
          },
          () => { backlog.length = 0; },
        );
        return;
      }
    }
    if (blocked) return;
    if (ending) {
      void ch.close();
      return;
    }
    if (needDrain) {
      needDrain = false;
      for (const l of drainListeners) l();
    }
  };

  return {
    localAddress: raw.localAddress,
    remoteAddress: raw.remoteAddress,
    remoteIdentity: ch.peer.nodeId,
    write(chunks: readonly Uint8Array[]): boolean {
      if (!isOpen() || ending) return false;
      // A byte stream: a large write (the transport coalesces queued frames into one) is cut into
      // records of at most `limit` bytes, as views of the chunks (no copy), so each record fits
      // recycled send memory and the receiver can open it before the rest has arrived.
      let group: Uint8Array[] = [];
      let size = 0;
      for (const c of chunks) {
        let off = 0;
        while (off < c.length) {
          const take = Math.min(c.length - off, limit - size);
          group.push(off === 0 && take === c.length ? c : c.subarray(off, off + take));
          size += take;
          off += take;
          if (size === limit) {
            backlog.push(group);
            group = [];
            size = 0;
          }
        }
      }
      if (size > 0) backlog.push(group);
      if (!blocked) pump();
      const ok = isOpen() && !blocked && backlog.length === 0;
      if (!ok) needDrain = true;
      return ok;
    },
    onData(listener: (chunk: Uint8Array) => void): Disposable {
      return ch.onMessageParts((parts) => {
        for (const p of parts) listener(p);
      });
    },
    onDrain(listener: () => void): Disposable {
      drainListeners.add(listener);
      return { [Symbol.dispose]: () => { drainListeners.delete(listener); } };
    },
    onClose(listener: (error?: Error) => void): Disposable {
      return ch.onClose((e) => { listener(e); });
    },
    end(): void {
      // after the records still waiting to be sealed
      ending = true;
      if (!blocked && backlog.length === 0) void ch.close();
    },
    destroy(error?: Error): void {
      backlog.length = 0;
      ch.destroy(error === undefined ? undefined : isLinkError(error) ? error : new LinkError('CLOSED', error.message, { cause: error }));
      raw.destroy(error);
    },
    pause(): void {
      raw.pause?.();
    },
    resume(): void {
      raw.resume?.();
    },
  };
}

/**
 * The stream upgrade that runs the secure handshake on both sides. A failed handshake rejects with
 * a TransportError PROTOCOL_ERROR whose `cause` is the LinkError (its `code` names the reason).
 */
export function secureUpgrade(options: SecureOptions & { readonly localPlaintext?: LocalPlaintextPolicy; readonly onSecured?: (info: SecuredInfo) => void }): StreamUpgrade {
  return async (raw, { initiator, signal }) => {
    const base: CipherId[] = [...(options.ciphers ?? (options.provider ?? options.identity.provider).ciphers)].filter((c) => c !== 'none');
    const local = plaintextAllowed(options.localPlaintext ?? 'never', raw.localAddress, raw.remoteAddress);
    const ciphers: CipherId[] = local ? ['none', ...base] : base;
    const perDial = initiator ? dialContext.getStore() : undefined;
    const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024;
    const duplex = byteStreamDuplex(raw, { maxFrame: maxMessageSize + RECORD_OVERHEAD });
    const o: ChannelOptions = { ...options, ciphers, maxMessageSize, signal, ...(perDial?.peer !== undefined ? { peer: perDial.peer } : {}) };
    perDial?.onHandshake?.();
    try {
      const ch = initiator ? await SecureChannel.connect(duplex, o) : await SecureChannel.accept(duplex, o);
      options.onSecured?.({ peer: ch.peer, cipher: ch.cipher, initiator, localAddress: raw.localAddress, remoteAddress: raw.remoteAddress });
      return channelByteStream(ch, raw);
    } catch (e) {
      if (signal.aborted) throw e;
      const code = isLinkError(e) ? e.code : 'UNKNOWN';
      throw new TransportError('PROTOCOL_ERROR', `secure handshake failed: ${code}${e instanceof Error ? `: ${e.message}` : ''}`, { cause: e });
    }
  };
}

/**
 * A Transport whose every connection is a mutually authenticated, encrypted {@link SecureChannel}
 * over the given network. `Connection.remoteIdentity` is the peer's authenticated node id.
 */
export class SecureTransport extends StreamTransport {
  readonly #init: SecureTransportInit;

  constructor(network: StreamNetwork, init: SecureTransportInit) {
    super(network, { ...init, identity: init.identity.nodeId, upgrade: secureUpgrade(init) });
    this.#init = init;
  }

  /** This transport's node id. */
  get nodeId(): string {
    return this.#init.identity.nodeId;
  }

  override dial(address: string, options?: SecureDialOptions): Promise<Connection> {
    const peer = options?.peer;
    if (peer === undefined) return super.dial(address, options);
    const outer = dialContext.getStore();
    return dialContext.run({ ...outer, peer }, () => super.dial(address, options));
  }

  /** The authenticated peer of a connection of this transport. */
  static peerOf(connection: Connection): PeerIdentity | undefined {
    const id = connection.remoteIdentity;
    if (id === undefined) return undefined;
    try {
      return { nodeId: id, publicKey: publicKeyFromNodeId(id) };
    } catch {
      return undefined;
    }
  }
}

/** A SecureTransport over TCP and Unix sockets (`host:port`, `[v6]:port`, `unix:/path`). */
export function secureTcpTransport(init: SecureTransportInit & TcpNetworkInit): SecureTransport {
  return new SecureTransport(tcpNetwork(init), init);
}

/**
 * Verifies a token chain presented on a secure connection, with the connection's authenticated
 * peer as the required subject. On any failure the connection is aborted (PROTOCOL_ERROR whose
 * cause is the LinkError) and the LinkError (TOKEN_*) is thrown.
 */
export function authorizeConnection(connection: Connection, chain: Uint8Array | readonly Token[], verifier: TokenVerifier, request: Omit<VerifyRequest, 'subject'> = {}): Grant {
  try {
    const peer = SecureTransport.peerOf(connection);
    if (peer === undefined) throw new LinkError('TOKEN_UNTRUSTED', 'the connection has no authenticated peer');
    return verifier.verify(chain, { ...request, subject: peer.publicKey });
  } catch (e) {
    const err = toLinkError(e, 'TOKEN_MALFORMED');
    connection.abort(new TransportError('PROTOCOL_ERROR', `token rejected: ${err.code}`, { cause: err }));
    throw err;
  }
}
