// @abi/raft/node — durable storage, transport and the node driver for the pure core.
export { FileStorage, RECORD, encodeHardStateFile, decodeHardStateFile, encodeSnapshotFile, decodeSnapshotFile } from './storage/file-storage.js';
export type { FileStorageOptions, RecoveryInfo } from './storage/file-storage.js';
export { MemoryRaftStorage } from './storage/raft-storage.js';
export type { RaftStorage, StorageUpdate } from './storage/raft-storage.js';
export { storageConformance } from './storage/conformance.js';
export type { StorageFactory, TestApi } from './storage/conformance.js';
export { Wal, encodeRecord, WAL_MAGIC, WAL_VERSION, SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES } from './storage/wal.js';
export type { WalOptions, WalRecord, WalRecovery } from './storage/wal.js';
