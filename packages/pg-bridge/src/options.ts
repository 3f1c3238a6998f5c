import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { checkRedisSource, type Logger, type RedisSource, resolveLogger } from '@bancada/internal';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { PgBridgeOptionError } from './errors.js';

/** An event as the hub takes it (`hub.publish(room, event)` of @bancada/realtime). */
export interface HubEvent {
  eventType: string;
  payload?: unknown;
  traceId?: string;
  id?: string;
}

/** Where a mapped notification goes: `hub.publish(room, event)`. */
export interface BridgedEvent {
  room: string;
  event: HubEvent;
}

/**
 * Turns one notification into an event, or skips it (null or undefined). Gets the payload
 * parsed as JSON when it parses, else the raw string (see `ChannelSpec.payload`). Must be
 * synchronous, so events keep the order of the notifications. A throw, or anything that is
 * not `{ room, event }`, drops the notification (counted in `malformed` and logged).
 */
export type ChannelMapper = (payload: unknown, channel: string) => BridgedEvent | null | undefined;

/** A channel with more say over its payload than a bare mapper has. */
export interface ChannelSpec {
  /**
   * `auto`: parsed as JSON when it parses, else the raw string. `json`: a payload that is not
   * JSON is malformed (dropped, counted), so the mapper only ever sees parsed values. `text`:
   * always the raw string.
   * @default 'auto'
   */
  payload?: 'auto' | 'json' | 'text';
  map: ChannelMapper;
}

/** The hub the bridge publishes into: a `Hub` of `createHub()`, or anything with `publish`. */
export interface BridgeTarget {
  publish(room: string, event: HubEvent): unknown;
  readonly instanceId?: string;
}

/** Options of `createPgBridge()`. */
export interface PgBridgeOptions {
  /** The hub that gets the events (the leader's hub fans them out to every instance). */
  hub: BridgeTarget;
  /**
   * Postgres channels to LISTEN on, each with the mapper of its notifications. Names are
   * used exactly as given (quoted), as the first argument of `pg_notify()`.
   */
  channels: Record<string, ChannelMapper | ChannelSpec>;
  /**
   * The database to LISTEN on. The bridge opens one dedicated `pg` Client of its own, since
   * LISTEN belongs to one session; no pool is needed.
   * @default process.env.DATABASE_URL
   */
  connectionString?: string;
  /**
   * Instead of `connectionString`: the settings of that dedicated Client (`ssl`, `host`...),
   * or a `pg.Pool` whose settings are copied. A pooled connection is never used: a pool
   * recycles idle connections, and a LISTEN must live as long as the leadership.
   */
  client?: pg.ClientConfig | pg.Pool;
  /**
   * The Redis of the leader lease: a `redis://` URL, a Redis Cluster
   * (`redis-cluster://host:port,…`, `{ cluster: seeds }`) or a Sentinel set-up
   * (`redis-sentinel://host:port,…/mymaster`, ioredis options with `sentinels` and `name`), or
   * an ioredis client or Cluster (a template only: the bridge opens and closes its own connection). `false`, or no Redis at
   * all: this instance is the only listener (logged as single instance).
   * @default process.env.REDIS_URL, else single instance
   */
  redis?: RedisSource | false;
  /**
   * How long a leader's lease lasts without renewal (renewed every third of it). A leader
   * that dies is replaced within about this time; notifications in between are lost.
   * @default 5000
   */
  leaseMs?: number;
  /**
   * Put before the lease key `<prefix>pg-bridge:leader`. Bridges that share a prefix and a
   * Redis elect one leader among them.
   * @default ''
   */
  prefix?: string;
  /**
   * Names this bridge in the lease, logs and stats; unique per bridge.
   * @default `<hub.instanceId>-<random>`, else `<hostname>-<pid>-<random>`
   */
  instanceId?: string;
  /**
   * An idle LISTEN connection is checked (`SELECT 1`) this often, so that a connection that
   * died silently (a black-holed network) is replaced instead of waiting forever.
   * @default 15_000
   */
  healthCheckMs?: number;
  /** Reports `bancada_realtime_bridge_*` metrics to this prom-client registry. */
  registry?: Registry;
  /** @default console; false for none */
  logger?: Logger | false;
}

/** A channel after defaults. */
export interface ResolvedChannel {
  name: string;
  payload: 'auto' | 'json' | 'text';
  map: ChannelMapper;
}

/** Options after defaults, as the bridge uses them. */
export interface ResolvedPgBridgeOptions {
  hub: BridgeTarget;
  channels: Map<string, ResolvedChannel>;
  client: pg.ClientConfig;
  redis: RedisSource | undefined;
  leaseMs: number;
  prefix: string;
  instanceId: string;
  healthCheckMs: number;
  registry: Registry | undefined;
  logger: Logger;
}

const PAYLOAD_MODES = ['auto', 'json', 'text'] as const;
/** Postgres truncates identifiers to 63 bytes: a longer name would LISTEN on another channel. */
const MAX_CHANNEL_BYTES = 63;

/** Merges defaults (after dropping undefined) and throws a PgBridgeOptionError for what cannot work. */
export function resolvePgBridgeOptions(
  options: PgBridgeOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPgBridgeOptions {
  if (typeof options !== 'object' || options === null) {
    throw new PgBridgeOptionError(
      'createPgBridge() needs an options object with `hub`, `channels` and a database',
    );
  }
  const hub = options.hub;
  if (typeof hub !== 'object' || hub === null || typeof hub.publish !== 'function') {
    throw new PgBridgeOptionError('hub must be the hub of createHub() (something with publish())');
  }
  const logger = resolveLogger(options.logger, invalid);
  const resolved: ResolvedPgBridgeOptions = {
    hub,
    channels: resolveChannels(options.channels),
    client: resolveClient(options, env),
    redis: options.redis === false ? undefined : (options.redis ?? (env.REDIS_URL || undefined)),
    leaseMs: options.leaseMs ?? 5000,
    prefix: options.prefix ?? '',
    instanceId:
      options.instanceId ??
      `${hub.instanceId ?? `${hostname()}-${process.pid}`}-${randomBytes(3).toString('hex')}`,
    healthCheckMs: options.healthCheckMs ?? 15_000,
    registry: options.registry,
    logger,
  };
  validate(resolved);
  return resolved;
}

function resolveChannels(channels: PgBridgeOptions['channels']): Map<string, ResolvedChannel> {
  if (typeof channels !== 'object' || channels === null || Array.isArray(channels)) {
    throw new PgBridgeOptionError(
      'channels must be an object: { <channel>: (payload) => ({ room, event }) }',
    );
  }
  const resolved = new Map<string, ResolvedChannel>();
  for (const [name, spec] of Object.entries(channels)) {
    if (name.length === 0 || name.includes('\0') || Buffer.byteLength(name) > MAX_CHANNEL_BYTES) {
      throw new PgBridgeOptionError(
        `channel names must be 1 to ${MAX_CHANNEL_BYTES} bytes without NUL, got ${JSON.stringify(name)}`,
      );
    }
    if (typeof spec === 'function') {
      resolved.set(name, { name, payload: 'auto', map: spec });
      continue;
    }
    if (typeof spec !== 'object' || spec === null || typeof spec.map !== 'function') {
      throw new PgBridgeOptionError(
        `channel "${name}" must have a mapper: a function, or { payload?, map: function }`,
      );
    }
    const payload = spec.payload ?? 'auto';
    if (!PAYLOAD_MODES.includes(payload)) {
      throw new PgBridgeOptionError(
        `channel "${name}" payload must be one of ${PAYLOAD_MODES.join(', ')}, got "${String(payload)}"`,
      );
    }
    resolved.set(name, { name, payload, map: spec.map });
  }
  if (resolved.size === 0) {
    throw new PgBridgeOptionError('channels must name at least one channel to LISTEN on');
  }
  return resolved;
}

function resolveClient(options: PgBridgeOptions, env: NodeJS.ProcessEnv): pg.ClientConfig {
  const { connectionString, client } = options;
  if (connectionString !== undefined && client !== undefined) {
    throw new PgBridgeOptionError('give connectionString or client, not both');
  }
  let config: pg.ClientConfig;
  if (client !== undefined) {
    if (typeof client !== 'object' || client === null) {
      throw new PgBridgeOptionError('client must be pg Client settings or a pg.Pool');
    }
    // A Pool is only a template: its settings, never one of its connections.
    const pool = client as Partial<pg.Pool>;
    config =
      typeof pool.connect === 'function' && typeof pool.options === 'object'
        ? { ...pool.options }
        : { ...(client as pg.ClientConfig) };
  } else {
    const url = connectionString ?? (env.DATABASE_URL || undefined);
    if (url === undefined) {
      throw new PgBridgeOptionError(
        'createPgBridge() needs a database: connectionString, client, or DATABASE_URL',
      );
    }
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      throw new PgBridgeOptionError(
        `connectionString must start with postgres:// or postgresql://, got "${String(url).slice(0, 40)}"`,
      );
    }
    config = { connectionString: url };
  }
  return {
    application_name: 'bancada-pg-bridge', // to be found in pg_stat_activity
    connectionTimeoutMillis: 5000, // pg waits forever by default
    keepAlive: true,
    ...config,
  };
}

function validate(o: ResolvedPgBridgeOptions): void {
  checkRedisSource(o.redis, invalid, { orFalse: true });
  // Renewed every third: below this a busy event loop would lose the lease all the time.
  if (!Number.isInteger(o.leaseMs) || o.leaseMs < 300) {
    throw new PgBridgeOptionError(
      `leaseMs must be a whole number of at least 300, got ${o.leaseMs}`,
    );
  }
  if (!Number.isInteger(o.healthCheckMs) || o.healthCheckMs < 100) {
    throw new PgBridgeOptionError(
      `healthCheckMs must be a whole number of at least 100, got ${o.healthCheckMs}`,
    );
  }
  if (typeof o.prefix !== 'string') throw new PgBridgeOptionError('prefix must be a string');
  if (typeof o.instanceId !== 'string' || o.instanceId.length === 0) {
    throw new PgBridgeOptionError('instanceId must be a non-empty string');
  }
}

const invalid = (message: string) => new PgBridgeOptionError(message);
