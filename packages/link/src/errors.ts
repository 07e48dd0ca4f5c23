/**
 * The one errors module of `@abi/link`.
 *
 * Every error thrown or rejected by this package is a {@link LinkError} with a `code` from
 * {@link LinkErrorCode}. Match on `code` (or use {@link isLinkError}, which works across duplicate
 * installs through a `Symbol.for` brand), never on `message`.
 */

const brand = Symbol.for('@abi/link/error');

/** Every code a {@link LinkError} can carry. */
export type LinkErrorCode =
  /** A key has the wrong length or form (seed, public key, signature). */
  | 'BAD_KEY'
  /** A key file is readable or writable by group/others (mode must be 0600 or stricter). */
  | 'KEY_FILE_PERMISSIONS'
  /** A key file could not be parsed, or its public key does not match its seed. */
  | 'KEY_FILE_INVALID'
  /** A node id text form is malformed or its checksum does not match. */
  | 'BAD_NODE_ID'
  /** A handshake message is malformed (see {@link WireError} for field and offset). */
  | 'HANDSHAKE_MALFORMED'
  /** A handshake message is larger than the handshake limit (1024 bytes). */
  | 'HANDSHAKE_TOO_LARGE'
  /** The handshake did not complete within the handshake timeout. */
  | 'HANDSHAKE_TIMEOUT'
  /** A message arrived that is not valid in the current handshake state. */
  | 'HANDSHAKE_UNEXPECTED'
  /** The peers share no protocol version. */
  | 'VERSION_MISMATCH'
  /** The peers share no cipher, or the responder chose one the initiator did not offer. */
  | 'NO_COMMON_CIPHER'
  /**
   * A sealed handshake part failed to open: the two sides do not have the same transcript (a
   * message was altered in flight, e.g. a downgrade of the offered ciphers or versions) or not the
   * same key (a key substituted in the middle).
   */
  | 'TRANSCRIPT_MISMATCH'
  /** A handshake signature does not verify against the claimed identity. */
  | 'BAD_SIGNATURE'
  /** The peer's identity is not the pinned key or is not on the allowlist. */
  | 'PEER_NOT_ALLOWED'
  /** The peer aborted the handshake with an alert (see {@link PeerRejectedError.alert}). */
  | 'PEER_REJECTED'
  /** A record failed authentication (flipped bit, wrong key, altered header). */
  | 'DECRYPT_FAILED'
  /** A record with a sequence number already seen, or older than the replay window. */
  | 'REPLAY'
  /** A record arrived out of order on a channel that requires order. */
  | 'OUT_OF_ORDER'
  /** A record is malformed (too short, unknown type, bad key phase). */
  | 'RECORD_MALFORMED'
  /** A record or frame is larger than the configured maximum. */
  | 'RECORD_TOO_LARGE'
  /** The stream ended without an authenticated close (or inside a frame). */
  | 'TRUNCATED'
  /** More messages arrived than the bounded receive queue holds. */
  | 'QUEUE_OVERFLOW'
  /** The channel or link is closed. */
  | 'CLOSED'
  /** The operation was cancelled by its AbortSignal. */
  | 'ABORTED'
  /** A ping was not answered in time. */
  | 'PING_TIMEOUT'
  /** The crypto provider does not implement the requested cipher. */
  | 'UNSUPPORTED_CIPHER'
  /** A permission token is malformed (see {@link WireError} for field and offset). */
  | 'TOKEN_MALFORMED'
  /** A token's signature does not verify. */
  | 'TOKEN_FORGED'
  /** A token is past `notAfter` (+ allowed skew). */
  | 'TOKEN_EXPIRED'
  /** A token is before `notBefore` (- allowed skew). */
  | 'TOKEN_NOT_YET_VALID'
  /** A token's lifetime exceeds the maximum TTL. */
  | 'TOKEN_TTL'
  /** A token lacks the requested scope, or a delegated token widens its parent's scope. */
  | 'TOKEN_SCOPE'
  /** A delegation chain is longer than allowed, or a link exceeds its parent's depth budget. */
  | 'TOKEN_OVER_DELEGATED'
  /** A delegation chain is broken (issuer is not the parent's subject, missing DELEGATE scope). */
  | 'TOKEN_CHAIN'
  /** A token (or a token in its chain) has been revoked. */
  | 'TOKEN_REVOKED'
  /** A token's subject is not the presenting identity, or its root issuer is not trusted. */
  | 'TOKEN_UNTRUSTED'
  /** The link is down and the operation needs it up. */
  | 'LINK_DOWN'
  /** A configuration value or argument is invalid. */
  | 'INVALID_ARGUMENT';

/** Base class of every error of this package. */
export class LinkError extends Error {
  readonly code: LinkErrorCode;
  declare readonly [brand]: true;

  constructor(code: LinkErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'LinkError';
    Object.defineProperty(this, brand, { value: true, enumerable: false });
  }
}

/** True for any error of `@abi/link`, even from another copy of the package. */
export function isLinkError(e: unknown): e is LinkError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** Bytes off the wire (handshake message, record, token) that do not parse: names field and offset. */
export class WireError extends LinkError {
  readonly field: string;
  readonly offset: number;

  constructor(code: 'HANDSHAKE_MALFORMED' | 'HANDSHAKE_TOO_LARGE' | 'RECORD_MALFORMED' | 'RECORD_TOO_LARGE' | 'TOKEN_MALFORMED', field: string, offset: number, message: string) {
    super(code, `${message} (field ${field}, offset ${offset})`);
    this.name = 'WireError';
    this.field = field;
    this.offset = offset;
  }
}

/** The peer sent a handshake alert; `alert` is its numeric alert code (see PROTOCOL.md). */
export class PeerRejectedError extends LinkError {
  readonly alert: number;

  constructor(alert: number) {
    super('PEER_REJECTED', `peer rejected the handshake with alert ${alert} (${alertName(alert)})`);
    this.name = 'PeerRejectedError';
    this.alert = alert;
  }
}

/** A configuration value or argument is invalid; `field` names it. */
export class InvalidArgumentError extends LinkError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('INVALID_ARGUMENT', `${field}: ${message}`);
    this.name = 'InvalidArgumentError';
    this.field = field;
  }
}

/** The caller's AbortSignal fired; `cause` is `signal.reason`. */
export class AbortedError extends LinkError {
  constructor(reason: unknown) {
    super('ABORTED', 'operation aborted', { cause: reason });
    this.name = 'AbortedError';
  }
}

/** Alert codes carried by handshake alerts (PROTOCOL.md §5). */
export const ALERTS = {
  internal: 0,
  malformed: 1,
  versionMismatch: 2,
  noCommonCipher: 3,
  badSignature: 4,
  peerNotAllowed: 5,
  transcriptMismatch: 6,
  tooLarge: 7,
  unexpected: 8,
} as const;

export function alertName(alert: number): string {
  for (const [k, v] of Object.entries(ALERTS)) if (v === alert) return k;
  return 'unknown';
}

/** Maps an error code to the alert we send the peer when the handshake fails on our side. */
export function alertFor(code: LinkErrorCode): number {
  switch (code) {
    case 'HANDSHAKE_MALFORMED': return ALERTS.malformed;
    case 'HANDSHAKE_TOO_LARGE': return ALERTS.tooLarge;
    case 'VERSION_MISMATCH': return ALERTS.versionMismatch;
    case 'NO_COMMON_CIPHER': return ALERTS.noCommonCipher;
    case 'BAD_SIGNATURE': return ALERTS.badSignature;
    case 'PEER_NOT_ALLOWED': return ALERTS.peerNotAllowed;
    case 'TRANSCRIPT_MISMATCH': return ALERTS.transcriptMismatch;
    case 'HANDSHAKE_UNEXPECTED': return ALERTS.unexpected;
    default: return ALERTS.internal;
  }
}

/** Wraps anything thrown into a LinkError (LinkErrors pass through). */
export function toLinkError(e: unknown, fallback: LinkErrorCode = 'CLOSED'): LinkError {
  if (isLinkError(e)) return e;
  return new LinkError(fallback, e instanceof Error ? e.message : String(e), { cause: e });
}
