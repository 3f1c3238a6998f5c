export { createHub } from './create-hub.js';
export { EVERYONE } from './envelope.js';
export { HubClosedError, RealtimeArgumentError, RealtimeOptionError } from './errors.js';
export type { HistoryOptions } from './history.js';
export type { AttachOptions, Hub, SseOptions } from './hub.js';
export type { HubOptions } from './options.js';
export type {
  BridgedEvent,
  BridgeTarget,
  ChannelMapper,
  ChannelSpec,
  PgBridgeOptions,
} from './pg-bridge/options.js';
export { createPgBridge, type PgBridge } from './pg-bridge/pg-bridge.js';
export type { PgBridgeStats } from './pg-bridge/stats.js';
export { restaurantRoom, restaurantRooms } from './policy.js';
export type { ErrorCode } from './protocol.js';
export type {
  Authenticate,
  Authorize,
  ConnectionGate,
  Envelope,
  FanoutMode,
  HubEvent,
  HubStats,
  Lease,
  Logger,
  MessageQuota,
  Principal,
  Rejection,
} from './types.js';
export {
  createPersistenceWorker,
  type PersistenceWorker,
  PersistenceWorkerClosedError,
  type PersistenceWorkerOptions,
  type PersistenceWorkerStats,
  type PersistenceWorkerTestHooks,
} from './worker/index.js';
