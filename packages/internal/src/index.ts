export { atMost, Backoff, once, sleep, TimeoutError, within } from './bounded.js';
export {
  type ConnectionGate,
  isRejection,
  type Lease,
  type Rejection,
  type RejectionReason,
} from './connection-gate.js';
export {
  type Leadership,
  type LeadershipEvents,
  RedisLease,
  type RedisLeaseOptions,
  SoleLeadership,
} from './lease.js';
export { type Logger, resolveLogger, silentLogger } from './logger.js';
export { checkRedisSource, checkWholeNumbers } from './option-checks.js';
export { type Otel, optionalOtel } from './otel.js';
export type { RestaurantPrincipal } from './principal.js';
export {
  closeOwnConnection,
  describeRedisError,
  hearEverySocketError,
  type OwnConnectionOptions,
  openOwnClient,
  openOwnConnection,
} from './redis-connection.js';
export {
  describeTopology,
  type HostPort,
  isRedisClient,
  openTopology,
  parseRedisUrl,
  type RedisSource,
  RedisSourceError,
  type RedisTopology,
  redact,
  topologyOf,
} from './redis-topology.js';
export { type Refusal, refusalOf, refuseRequest, refuseUpgrade } from './refusal.js';
export { claimRegistry, claimsOf } from './registry.js';
export { type ScrapedMetrics, scrapedFrom } from './scraped-metrics.js';
export { ThrottledLog } from './throttled-log.js';
export {
  type Admitted,
  type ClosingSocket,
  type UpgradeTarget,
  upgradeThrough,
} from './upgrade.js';
