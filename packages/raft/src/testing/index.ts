// @abi/raft/testing — deterministic cluster simulator, linearizability checker, test helpers.
export { MemoryNode } from './memory-node.js';
export type { MemoryNodeOptions, TestStateMachine, CrashPoint } from './memory-node.js';
export { Cluster } from './cluster.js';
export type { ClusterOptions } from './cluster.js';
