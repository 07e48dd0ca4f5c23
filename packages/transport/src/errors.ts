/**
 * The one errors module of `@abi/transport`.
 *
 * Every error thrown or rejected by this package is a {@link TransportError} with a `code` from
 * {@link TransportErrorCode}. Match on `code` (or use {@link isTransportError}, which works across
 * duplicate installs through a `Symbol.for` brand), never on `message`.
 */

const brand = Symbol.for('@abi/transport/error');

/** Every code a {@link TransportError} can carry. */
export type TransportErrorCode =
  /** Bytes off the wire that are not a valid frame (see {@link FrameError} for field/offset). */
  | 'FRAME_INVALID'
  /** A frame header announced a payload larger than the negotiated maximum. */
  | 'FRAME_TOO_LARGE'
  /** The CRC-32 of a payload does not match its header. */
  | 'CHECKSUM_MISMATCH'
  /** A payload could not be encoded or decoded (bad CBOR, too deep, too large). */
  | 'PAYLOAD_INVALID'
  /** The peer broke the protocol (unexpected frame type, bad hello, unknown stream, no credit). */
  | 'PROTOCOL_ERROR'
  /** The connection closed (locally or by the peer) while the operation was pending. */
  | 'CONNECTION_CLOSED'
  /** The connection was lost: socket error, reset, or the peer stopped answering pings. */
  | 'CONNECTION_LOST'
  /** The dial did not complete in time. */
  | 'CONNECT_TIMEOUT'
  /** The dial was refused (nothing listening, unknown memory address, partitioned). */
  | 'CONNECTION_REFUSED'
  /** The listener refused the connection: too many connections. */
  | 'TOO_MANY_CONNECTIONS'
  /** The peer did not send a complete header in time (slow headers / slowloris). */
  | 'HEADER_TIMEOUT'
  /** The connection carried no traffic for the idle timeout. */
  | 'IDLE_TIMEOUT'
  /** The peer did not answer keep-alive pings: presumed dead (half-open). */
  | 'PEER_TIMEOUT'
  /** The connection (or transport) is shutting down gracefully and refuses new work. */
  | 'GOING_AWAY'
  /** The call's deadline passed before it completed. */
  | 'DEADLINE_EXCEEDED'
  /** The call was cancelled by its AbortSignal (or by the peer's cancel frame). */
  | 'ABORTED'
  /** The remote handler failed; see {@link RpcError.status}. */
  | 'REMOTE_ERROR'
  /** An address string could not be parsed or is already in use. */
  | 'INVALID_ADDRESS'
  /** A configuration value or argument is invalid. */
  | 'INVALID_ARGUMENT'
  /** The transport is closed. */
  | 'TRANSPORT_CLOSED';

/** Base class of every error of this package. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  declare readonly [brand]: true;

  constructor(code: TransportErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'TransportError';
    Object.defineProperty(this, brand, { value: true, enumerable: false });
  }
}

/** True for any error of `@abi/transport`, even from another copy of the package. */
export function isTransportError(e: unknown): e is TransportError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** A malformed frame: names the header field and the byte offset (within the frame) at fault. */
export class FrameError extends TransportError {
  readonly field: string;
  readonly offset: number;

  constructor(code: 'FRAME_INVALID' | 'FRAME_TOO_LARGE' | 'CHECKSUM_MISMATCH', field: string, offset: number, message: string) {
    super(code, `${message} (field ${field}, offset ${offset})`);
    this.name = 'FrameError';
    this.field = field;
    this.offset = offset;
  }
}

/**
 * RPC status codes, as on the wire (u16 in ERROR frames). Modelled on gRPC's codes so they map
 * one to one when bridging.
 */
export const RpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** Name of an RPC status (`'NOT_FOUND'`, …). */
export type RpcStatusName = keyof typeof RpcStatus;

const statusNames = new Map<number, RpcStatusName>(
  (Object.entries(RpcStatus) as [RpcStatusName, number][]).map(([k, v]) => [v, k]),
);

/** Maps a wire status number to its name; unknown numbers map to `'UNKNOWN'`. */
export function rpcStatusName(status: number): RpcStatusName {
  return statusNames.get(status) ?? 'UNKNOWN';
}

/**
 * A failed remote call. Handlers throw it to choose the status the caller sees (any other thrown
 * value reaches the caller as `INTERNAL`, or `UNKNOWN` for non-errors); callers receive it with
 * `code === 'REMOTE_ERROR'` and the handler's `status`, `message` and CBOR-encodable `details`.
 */
export class RpcError extends TransportError {
  readonly status: RpcStatusName;
  readonly details: unknown;

  constructor(status: RpcStatusName, message: string, options?: ErrorOptions & { details?: unknown }) {
    super('REMOTE_ERROR', message, options);
    this.name = 'RpcError';
    this.status = status;
    this.details = options?.details;
  }
}

/** Builds the error for an aborted signal, keeping the signal's reason as `cause`. */
export function abortError(signal: AbortSignal, what: string): TransportError {
  const reason: unknown = signal.reason;
  if (isTransportError(reason)) return reason;
  return new TransportError('ABORTED', `${what} aborted`, { cause: reason });
}
