export { LinkError, WireError, PeerRejectedError, InvalidArgumentError, AbortedError, ALERTS, alertName, isLinkError } from './errors.js';
export type { LinkErrorCode } from './errors.js';
export { nodeCrypto, portableCrypto, CIPHER_IDS, cipherFromId, nonceLength } from './crypto.js';
export type { CipherId, CryptoProvider, Aead, Signer, Ephemeral } from './crypto.js';
export { nativeAead } from './native.js';
export type { NativeAeadStatus } from './native.js';
export { nativeEd25519 } from './ed25519.js';
export type { NativeEd25519Status } from './ed25519.js';
export { Identity, nodeIdFromPublicKey, publicKeyFromNodeId, isNodeId, verifySignature, NODE_ID_LENGTH } from './identity.js';
export type { SaveOptions } from './identity.js';
export {
  InitiatorHandshake,
  ResponderHandshake,
  parseHello,
  parseReply,
  parseAuth,
  parseAlert,
  encodeHello,
  MAX_HANDSHAKE_MESSAGE,
  SUPPORTED_VERSIONS,
} from './handshake.js';
export type { Hello, Reply, Auth, HandshakeResult, HandshakeOptions } from './handshake.js';
export { RecordSender, RecordReceiver, RecordType, RECORD_HEADER, RECORD_OVERHEAD, recordNonce, nextKey } from './record.js';
export type { SenderOptions, ReceiverOptions, OpenedRecord } from './record.js';
export { socketDuplex, byteStreamDuplex, memoryDuplexPair, LengthPrefixFramer, flattenFrame, frameLength } from './duplex.js';
export type { Frame, FrameDuplex, FrameSink, MemoryDuplex, SocketDuplexOptions, ByteStreamLike } from './duplex.js';
export { SecureChannel, systemClock } from './channel.js';
export type { ChannelOptions, ChannelStats, Clock, PeerIdentity } from './channel.js';
export { Token, Scope, scopeNames, issueToken, delegateToken, encodeTokenChain, decodeTokenChain, RevocationList, TokenVerifier, MAX_CHAIN, MAX_TTL_MS, MAX_CLOCK_SKEW_MS } from './token.js';
export type { ScopeName, IssueOptions, VerifierOptions, VerifyRequest, Grant } from './token.js';
export { SecureTransport, secureTcpTransport, secureUpgrade, channelByteStream, plaintextAllowed, authorizeConnection } from './secure-transport.js';
export type { SecureTransportInit, SecureOptions, SecureDialOptions, LocalPlaintextPolicy, SecuredInfo } from './secure-transport.js';
export { LinkManager, Link, backoffDelay, registerHeartbeat, HEARTBEAT_METHOD } from './link-manager.js';
export type { LinkState, LinkStateChange, LinkManagerOptions, LinkOptions, BackoffOptions } from './link-manager.js';
