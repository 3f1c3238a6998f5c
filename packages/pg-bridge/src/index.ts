export { PgBridgeOptionError } from './errors.js';
export type {
  BridgedEvent,
  BridgeTarget,
  ChannelMapper,
  ChannelSpec,
  HubEvent,
  PgBridgeOptions,
} from './options.js';
export { createPgBridge, type PgBridge } from './pg-bridge.js';
export type { PgBridgeStats } from './stats.js';
