// @abi/raft/node — durable storage, transport and the node driver for the pure core.
export { FileStorage, RECORD, encodeHardStateFile, decodeHardStateFile, encodeSnapshotFile, decodeSnapshotFile } from './storage/file-storage.js';
export type { FileStorageOptions, RecoveryInfo } from './storage/file-storage.js';
export { MemoryRaftStorage } from './storage/raft-storage.js';
export type { RaftStorage, StorageUpdate } from './storage/raft-storage.js';
export { storageConformance } from './storage/conformance.js';
export type { StorageFactory, TestApi } from './storage/conformance.js';
export { Wal, encodeRecord, WAL_MAGIC, WAL_VERSION, SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES } from './storage/wal.js';
export type { WalOptions, WalRecord, WalRecovery } from './storage/wal.js';
export { RaftNode } from './raft-node.js';
export type { StateMachine, RaftNetwork, CoreOptions, RaftNodeOptions, RaftNodeMetrics, PeerMetrics, WaitOptions, Disposable } from './raft-node.js';
export { LocalNetwork } from './local-network.js';
export type { LocalNetworkOptions } from './local-network.js';
export { RaftCluster, createRaftCluster } from './cluster.js';
export type { RaftClusterConfig } from './cluster.js';
export { KvStateMachine, KvNode, encodeKvCommand } from './kv.js';
export type { KvCommand, KvResult, KvBackend } from './kv.js';
export { encodeMessage, decodeMessage, encodeBatch, decodeBatch, WIRE_VERSION, MESSAGE_TYPE_CODES } from './wire.js';
export type { DecodeLimits } from './wire.js';
