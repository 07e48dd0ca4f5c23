// @abi/raft/testing — deterministic cluster simulator, linearizability checker, test helpers.
export { MemoryNode } from './memory-node.js';
export type { MemoryNodeOptions, TestStateMachine, CrashPoint } from './memory-node.js';
export { Cluster } from './cluster.js';
export type { ClusterOptions } from './cluster.js';
export { checkLinearizable, checkKvHistory } from './linearizability.js';
export type { Model, TimedOp, CheckResult, KvOp, KvCheckResult } from './linearizability.js';
export { runSimulation } from './simulator.js';
export type { SimulationOptions, SimulationResult, SimulationStats } from './simulator.js';
export { KvStateMachine, encodeKvCommand, decodeKvCommand } from './kv.js';
export type { KvCommand } from './kv.js';
export { storageReadConformance } from './storage-conformance.js';
export type { StorageFixture, TestApi } from './storage-conformance.js';
