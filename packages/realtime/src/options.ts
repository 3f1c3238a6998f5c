import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisSource } from '@bancada/internal';
import type { Registry } from 'prom-client';
import { defaultAuthorize } from './auth/default-authorize.js';
import { RealtimeOptionError } from './errors.js';
import { checkOptions } from './options-check.js';
import type { HistoryOptions, ResolvedHistory } from './sync/history.js';
import { resolveHistory } from './sync/history-options.js';
import type { TracingChoice } from './tracing/hub-tracing.js';
import type {
  Authenticate,
  Authorize,
  ConnectionGate,
  FanoutMode,
  Logger,
  MessageQuota,
} from './types.js';
import { resolveLogger } from './validate.js';

/** Options of `createHub()`. */
export interface HubOptions {
  /**
   * Who is connecting, read from the server side at upgrade time (see `Authenticate`).
   * Required: pass `false` to accept anonymous connections on purpose (a warning is logged).
   */
  authenticate: Authenticate | false;
  /**
   * How often `authenticate` runs again on each open connection's request (spread over the
   * interval): a connection whose session ended (logout, expiry) is closed (WebSocket 4401,
   * SSE ended), and one whose principal may no longer be in one of its rooms too (4403), on
   * every instance. A check that fails (the store is down) keeps the connection. `false`: only at
   * connect time (the request is then not kept either). The check reads what each connection
   * keeps of its request: its URL, its socket's addresses and its headers but for the
   * handshake's own and those a browser sends about itself (`User-Agent`, `Accept-*`, ...).
   * @default 60_000
   */
  reauthenticateMs?: number | false;
  /**
   * Whether a principal may join a room. Every join (WebSocket `subscribe`/`auth`, SSE
   * rooms) is checked. The default admits `restaurant:<id>` when the principal's
   * `restaurantId` is `<id>` (or its `restaurantIds` has it) and refuses every other room (and
   * says once, as a warning, when it refuses a principal that has neither). Compose with
   * `anyOf(...)` and `publicRooms(...)`.
   * @default restaurantRooms
   */
  authorize?: Authorize;
  /**
   * Fans events out to the other instances: a URL (`redis://host:port`, a Redis Cluster's
   * seed list `redis-cluster://host:port,host:port`, Sentinels and the master's name
   * `redis-sentinel://host:port,host:port/mymaster`), an ioredis `Redis` or `Cluster` (only
   * used as a template: the hub opens and closes its own connections), ioredis options (with
   * `sentinels` and `name` for Sentinel), or `{ cluster: ['host:port', …] }`.
   * `false`: this instance only.
   * @default process.env.REDIS_URL, else this instance only
   */
  redis?: RedisSource | false;
  /**
   * Put before every Redis channel name: `<prefix>ws:broadcast`, `<prefix>ws:restaurant`,
   * `<prefix>ws:room:<room>` (`<prefix>ws:room:{<room>}` on a Redis Cluster).
   * @default ''
   */
  prefix?: string;
  /**
   * Browser origins allowed to open a WebSocket or SSE stream (cross-site WebSocket
   * hijacking): a list of origins such as `https://pdv.example.com`, or a function. A
   * request without an Origin header (not a browser) is allowed. The default admits only
   * the request's own host.
   * @default same origin as the request's Host
   */
  allowedOrigins?: string[] | ((origin: string) => boolean);
  /**
   * A WebSocket client that does not answer a ping within this interval is terminated at
   * the next one (so within two intervals); SSE streams get a comment line as often.
   * @default 30_000
   */
  heartbeatMs?: number;
  /**
   * The largest inbound WebSocket frame; a bigger one closes the connection with 1009.
   * @default 65_536
   */
  maxPayloadBytes?: number;
  /**
   * A client whose unsent bytes pass this is closed (WebSocket 1013, SSE ended), so one
   * stuck client cannot grow the server's memory.
   * @default 1_048_576
   */
  maxBufferedBytes?: number;
  /**
   * How long a connection's events may wait to go out together with the ones after them.
   * Events for one client produced in the same turn of the event loop always go out in one
   * write (each still its own WebSocket message or SSE event); a delay gathers more of
   * them for rooms with many events a second, at the cost of up to this much latency
   * (Centrifugo's `write_delay`). 0: the same turn only. At most 1000.
   * @default 0
   */
  writeDelayMs?: number;
  /**
   * Rooms one connection may be in.
   * @default 100
   */
  maxRoomsPerConnection?: number;
  /**
   * Bad messages (invalid JSON, unknown type, binary) a WebSocket client may send, each
   * answered with an `error` (as its path's `notices` say), before it is closed with 1008.
   * @default 10
   */
  maxBadMessages?: number;
  /**
   * The rollout switch for the Redis fan-out, changeable at run time with `setFanout()`:
   * `off` delivers to this instance's clients only; `dry-run` also publishes to Redis and
   * consumes, but only counts what it would deliver; `on` delivers everywhere. Local
   * clients get every event exactly once in every mode.
   * @default process.env.BANCADA_FANOUT, else 'on'
   */
  fanout?: FanoutMode;
  /**
   * Names this instance in envelopes (`origin`), logs and stats.
   * @default process.env.INSTANCE_ID, else `<hostname>-<pid>-<random>`
   */
  instanceId?: string;
  /**
   * Keeps each room's recent events in a Redis Stream, so that a client that reconnects gets
   * what it missed (WebSocket `resume`, SSE `Last-Event-ID`) or a `gap` when that is not
   * possible, and instances fill what they missed during a Redis outage. An event's id is
   * then its position in the room's history. Needs Redis 7. `true` for the defaults.
   * @default false (clients that resume are told `gap`)
   */
  history?: HistoryOptions | boolean;
  /** Admits or turns away each connection (`connectionLimit()` of @bancada/limits). */
  connectionGate?: ConnectionGate;
  /** Budgets inbound WebSocket messages (`messageQuota()` of @bancada/limits). */
  messageQuota?: MessageQuota;
  /**
   * Publishes on their way to Redis at once; past this (a Redis that stopped answering)
   * further ones are dropped and counted instead of piling up in memory.
   * @default 10_000
   */
  maxInFlightPublishes?: number;
  /**
   * On `close()`, clients are told to come back after a random delay in this range (ms),
   * so that they do not all reconnect in the same second.
   * @default [1000, 5000]
   */
  retryAfterMs?: [min: number, max: number];
  /**
   * A connection in no room this long after it connected (or left its last room) gets only
   * broadcasts: usually a client that asks for its room in a way the hub does not understand,
   * connected and receiving nothing. Counted (`stats().roomless`, a gauge) and logged at most
   * once per 10 s. `false`: not watched.
   * @default 10_000
   */
  roomlessAfterMs?: number | false;
  /** Reports `bancada_realtime_*` metrics to this prom-client registry. */
  registry?: Registry;
  /**
   * OpenTelemetry, through `@opentelemetry/api` (an optional peer dependency): a publish
   * records the active trace context on its envelope (`traceparent`), and each instance that
   * delivers it makes a span in that trace (room, clients written, latency). Spans go to the
   * SDK the app registers. `true` throws when `@opentelemetry/api` is not installed; `false`
   * records nothing even when it is.
   * @default on when `@opentelemetry/api` is installed
   */
  tracing?: boolean;
  /** @default console; false for none */
  logger?: Logger | false;
}

/** Options after defaults, as the hub uses them. */
export interface ResolvedHubOptions {
  authenticate: Authenticate | false;
  reauthenticateMs: number | false;
  authorize: Authorize;
  redis: RedisSource | undefined;
  prefix: string;
  allowedOrigins: string[] | ((origin: string) => boolean) | undefined;
  heartbeatMs: number;
  maxPayloadBytes: number;
  maxBufferedBytes: number;
  writeDelayMs: number;
  maxRoomsPerConnection: number;
  maxBadMessages: number;
  fanout: FanoutMode;
  instanceId: string;
  history: ResolvedHistory | undefined;
  connectionGate: ConnectionGate | undefined;
  messageQuota: MessageQuota | undefined;
  maxInFlightPublishes: number;
  retryAfterMs: [number, number];
  roomlessAfterMs: number | false;
  registry: Registry | undefined;
  tracing: TracingChoice;
  logger: Logger;
}

/** Merges defaults (after dropping undefined) and throws a RealtimeOptionError for what cannot work. */
export function resolveOptions(
  options: HubOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedHubOptions {
  if (typeof options !== 'object' || options === null) {
    throw new RealtimeOptionError(
      'createHub() needs an options object with at least `authenticate`',
    );
  }
  const logger = resolveLogger(options.logger);
  const resolved: ResolvedHubOptions = {
    authenticate: options.authenticate,
    reauthenticateMs: options.reauthenticateMs ?? 60_000,
    authorize: options.authorize ?? defaultAuthorize(logger),
    redis: options.redis === false ? undefined : (options.redis ?? (env.REDIS_URL || undefined)),
    prefix: options.prefix ?? '',
    allowedOrigins: options.allowedOrigins,
    heartbeatMs: options.heartbeatMs ?? 30_000,
    maxPayloadBytes: options.maxPayloadBytes ?? 64 * 1024,
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    writeDelayMs: options.writeDelayMs ?? 0,
    maxRoomsPerConnection: options.maxRoomsPerConnection ?? 100,
    maxBadMessages: options.maxBadMessages ?? 10,
    fanout: options.fanout ?? ((env.BANCADA_FANOUT || 'on') as FanoutMode),
    instanceId:
      options.instanceId ??
      (env.INSTANCE_ID || `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    history: resolveHistory(options.history),
    connectionGate: options.connectionGate,
    messageQuota: options.messageQuota,
    maxInFlightPublishes: options.maxInFlightPublishes ?? 10_000,
    retryAfterMs: options.retryAfterMs ?? [1000, 5000],
    roomlessAfterMs: options.roomlessAfterMs ?? 10_000,
    registry: options.registry,
    tracing: options.tracing ?? 'auto',
    logger,
  };
  checkOptions(resolved, options);
  return resolved;
}
