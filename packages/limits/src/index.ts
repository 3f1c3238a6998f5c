export {
  type AttemptLimit,
  type AttemptLimitOptions,
  type AttemptVerdict,
  attemptLimit,
} from './attempt-limit.js';
export { clientIp, ipKey, type TrustProxy } from './client-ip.js';
export {
  ConnectionLimiter,
  type ConnectionLimitStats,
  connectionLimit,
} from './connection-limit.js';
export { LimitsOptionError } from './errors.js';
export { RateLimitUnavailableError } from './fallback-store.js';
export { rejectUpgrade, sendRejection } from './http.js';
export {
  type MessageBudget,
  type MessageQuotaOptions,
  messageQuota,
  type QuotaVerdict,
} from './message-quota.js';
export type { ConnectionLimitOptions, OnRedisError } from './options.js';
export { closeRateLimits, type RateLimitOptions, rateLimit } from './rate-limit.js';
export {
  type ConnectionGate,
  isRejection,
  type Lease,
  type Logger,
  type Rejection,
  type RejectionReason,
} from './types.js';
export { type UpgradeTarget, upgradeWithLimit } from './websocket.js';
