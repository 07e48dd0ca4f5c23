export {
  PoolError,
  isPoolError,
  InvalidOptionError,
  AcquireTimeoutError,
  WaitersFullError,
  CreateError,
  DrainTimeoutError,
  NoEndpointError,
} from './errors.js';
export type { PoolErrorCode } from './errors.js';
export { systemScheduler } from './scheduler.js';
export type { Scheduler } from './scheduler.js';
export { ConnectionPool } from './pool.js';
export { KeyedPool } from './keyed.js';
export type { KeyedFactory, KeyedPoolOptions, KeyedPoolStats } from './keyed.js';
export { PoolBuilder } from './builder.js';
export type {
  PoolFactory,
  PoolOptions,
  AcquireOptions,
  DrainOptions,
  ResourceState,
  ResourceInfo,
  PoolStats,
  Lease,
} from './pool.js';
export { LoadBalancer, STRATEGIES, hash32 } from './balancer.js';
export type {
  Strategy,
  EndpointInit,
  Endpoint,
  NodeStats,
  OutlierOptions,
  ProbeOptions,
  BalancerOptions,
  BalancerEvent,
} from './balancer.js';
