/**
 * `@abi/transport`: a specified framed wire protocol (PROTOCOL.md), TCP and simulated in-memory
 * transports, and RPC with deadlines, cancellation, streams and back-pressure.
 *
 * ```ts
 * await using server = new TcpTransport();
 * server.handle('echo', (payload) => payload);
 * const listener = await server.listen('127.0.0.1:0');
 * await using client = new TcpTransport();
 * const conn = await client.dial(listener.address, { signal: AbortSignal.timeout(5000) });
 * await conn.request('echo', { hello: 'world' }, { deadlineMs: 1000 });
 * ```
 *
 * @packageDocumentation
 */
export { TransportError, FrameError, RpcError, RpcStatus, isTransportError, rpcStatusName } from './errors.js';
export type { TransportErrorCode, RpcStatusName } from './errors.js';
export {
  FrameDecoder,
  FrameEncoder,
  FrameType,
  FrameFlags,
  encodeFrame,
  writeHeader,
  HEADER_SIZE,
  MAGIC,
  PROTOCOL_VERSION,
  DEFAULT_MAX_FRAME_SIZE,
  MAX_FRAME_ID,
} from './frame.js';
export type { Frame, FrameDecoderOptions, FrameEncoderOptions, DecoderState } from './frame.js';
export { encodeCbor, decodeCbor, checkCborDepth, DEFAULT_MAX_DEPTH } from './payload.js';
export { openConnection, refuseStream, realClock, connectionDefaults } from './connection.js';
export type { ConnectionOptions, OpenConnectionOptions } from './connection.js';
export { StreamTransport, transportSymbol, isTransport } from './stream-transport.js';
export type { StreamTransportInit } from './stream-transport.js';
export { MemoryNetwork, MemoryTransport, VirtualClock, seededRandom } from './memory.js';
export type { MemoryNetworkInit, MemoryTransportInit, LinkFaults, NetworkStats } from './memory.js';
export { TcpTransport, tcpNetwork, socketStream, parseAddress, formatAddress } from './tcp.js';
export type { TcpTransportInit, TcpNetworkInit, TcpAddress } from './tcp.js';
export type {
  AbortOptions,
  ByteStream,
  CallContext,
  CallKind,
  Clock,
  Connection,
  ConnectionState,
  DialOptions,
  Handler,
  ListenOptions,
  Listener,
  RequestOptions,
  ResponseStream,
  SendOptions,
  StreamListener,
  StreamNetwork,
  StreamUpgrade,
  Transport,
} from './types.js';
