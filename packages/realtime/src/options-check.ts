import { RealtimeOptionError } from './errors.js';
import type { HubOptions, ResolvedHubOptions } from './options.js';
import type { FanoutMode } from './types.js';
import { checkRedisSource, checkWholeNumbers } from './validate.js';

/** The longest delay a Node timer takes; longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

const FANOUT_MODES: readonly FanoutMode[] = ['off', 'dry-run', 'on'];

/** Throws a RealtimeOptionError, saying what to give instead, for options that cannot work. */
export function checkOptions(o: ResolvedHubOptions, given: HubOptions): void {
  if (given.authenticate === undefined) {
    throw new RealtimeOptionError(
      'authenticate is required: pass a function that reads the session of the upgrade ' +
        'request (sessionAuthenticator() of @bancada/session), or false to accept anonymous ' +
        'connections on purpose',
    );
  }
  if (o.authenticate !== false && typeof o.authenticate !== 'function') {
    throw new RealtimeOptionError('authenticate must be a function (req) => principal, or false');
  }
  checkDelayOrFalse('reauthenticateMs', o.reauthenticateMs, 1000);
  checkDelayOrFalse('roomlessAfterMs', o.roomlessAfterMs, 1);
  if (typeof o.authorize !== 'function') {
    throw new RealtimeOptionError('authorize must be a function (principal, room) => boolean');
  }
  checkRedisSource(o.redis, { orFalse: true });
  if (typeof o.prefix !== 'string') throw new RealtimeOptionError('prefix must be a string');
  if (
    o.allowedOrigins !== undefined &&
    typeof o.allowedOrigins !== 'function' &&
    !(Array.isArray(o.allowedOrigins) && o.allowedOrigins.every((x) => typeof x === 'string'))
  ) {
    throw new RealtimeOptionError(
      'allowedOrigins must be a list of origins (https://host[:port]) or a function',
    );
  }
  checkWholeNumbers(o, [
    'heartbeatMs',
    'maxPayloadBytes',
    'maxBufferedBytes',
    'maxRoomsPerConnection',
    'maxInFlightPublishes',
  ]);
  if (!Number.isInteger(o.writeDelayMs) || o.writeDelayMs < 0 || o.writeDelayMs > 1000) {
    throw new RealtimeOptionError(
      `writeDelayMs must be a whole number of milliseconds from 0 to 1000, got ${o.writeDelayMs}`,
    );
  }
  if (!Number.isInteger(o.maxBadMessages) || o.maxBadMessages < 0) {
    throw new RealtimeOptionError(`maxBadMessages must be a whole number, got ${o.maxBadMessages}`);
  }
  if (!FANOUT_MODES.includes(o.fanout)) {
    const source = given.fanout === undefined ? 'BANCADA_FANOUT' : 'fanout';
    throw new RealtimeOptionError(
      `${source} must be one of ${FANOUT_MODES.join(', ')}, got "${o.fanout}"`,
    );
  }
  if (typeof o.instanceId !== 'string' || o.instanceId.length === 0) {
    throw new RealtimeOptionError('instanceId must be a non-empty string');
  }
  if (o.connectionGate !== undefined && typeof o.connectionGate.acquire !== 'function') {
    throw new RealtimeOptionError('connectionGate must have an acquire(req) method');
  }
  if (o.messageQuota !== undefined && typeof o.messageQuota.forConnection !== 'function') {
    throw new RealtimeOptionError('messageQuota must have a forConnection() method');
  }
  if (typeof o.tracing !== 'boolean' && o.tracing !== 'auto') {
    throw new RealtimeOptionError(
      `tracing must be true or false, got ${JSON.stringify(o.tracing)}`,
    );
  }
  const [min, max] = Array.isArray(o.retryAfterMs) ? o.retryAfterMs : [Number.NaN, Number.NaN];
  if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 0 && max >= min)) {
    throw new RealtimeOptionError(
      `retryAfterMs must be [min, max] milliseconds with 0 <= min <= max, got ${JSON.stringify(o.retryAfterMs)}`,
    );
  }
}

/** A delay in milliseconds, or false for never: a whole number a Node timer can hold. */
function checkDelayOrFalse(name: string, value: number | false, min: number): void {
  if (value === false || (Number.isInteger(value) && value >= min && value <= MAX_TIMER_MS)) {
    return;
  }
  throw new RealtimeOptionError(
    `${name} must be a whole number from ${min} to ${MAX_TIMER_MS}, or false, got ${value}`,
  );
}

/** Checks a fan-out mode given at run time. */
export function checkFanout(mode: unknown): asserts mode is FanoutMode {
  if (!FANOUT_MODES.includes(mode as FanoutMode)) {
    throw new RealtimeOptionError(
      `fanout must be one of ${FANOUT_MODES.join(', ')}, got "${String(mode)}"`,
    );
  }
}
