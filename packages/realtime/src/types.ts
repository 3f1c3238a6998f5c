import type { IncomingMessage } from 'node:http';

/** Any logger with these three methods: console, pino, winston. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Who is connected: whatever `authenticate` returned (for example the session's user). */
export type Principal = NonNullable<unknown>;

/**
 * Reads who is behind a WebSocket upgrade or an SSE request, from the server side (the
 * session cookie), never from what the client claims. Null: nobody (401). A rejection:
 * the store is down (503). `sessionAuthenticator()` of @bancada/session is one.
 */
export type Authenticate = (req: IncomingMessage) => Promise<Principal | null>;

/** May this principal receive the events of this room? */
export type Authorize = (principal: Principal, room: string) => boolean | Promise<boolean>;

/** A connection slot (see @bancada/limits). */
export interface Lease {
  release(): void;
}

/** A connection turned away by the gate. */
export interface Rejection {
  status: 429 | 503;
  reason: string;
  retryAfter: number;
}

/** Decides whether a connection may open (`connectionLimit()` of @bancada/limits is one). */
export interface ConnectionGate {
  acquire(req: IncomingMessage): Promise<Lease | Rejection>;
}

/** A per-connection budget for inbound messages (`messageQuota()` of @bancada/limits is one). */
export interface MessageQuota {
  forConnection(): { take(): 'ok' | 'over' | 'close' };
}

/** What the hub's rollout switch says about Redis: see `HubOptions.fanout`. */
export type FanoutMode = 'off' | 'dry-run' | 'on';

/** An event as the application publishes it. */
export interface HubEvent {
  /** What happened, for example `order-created`. */
  eventType: string;
  /** Anything JSON can carry. */
  payload?: unknown;
  /** Ties the event to the request that caused it, for logs. @default a new id */
  traceId?: string;
  /** @default a new id, increasing per instance */
  id?: string;
}

/** An event as it travels: one JSON line on Redis, and (without `origin`) to clients. */
export interface Envelope {
  eventType: string;
  id: string;
  traceId: string;
  payload: unknown;
  /** Milliseconds since the epoch, when it was published. */
  ts: number;
  /** The room it is for; `*` for every client. */
  room: string;
  /**
   * Its number among the events its origin published to this room (from 1), so that other
   * instances can count what they missed. Absent when another service published it.
   */
  seq?: number;
  /** The instance that published it (absent when another service published it). */
  origin?: string;
}

/** `hub.stats()`. */
export interface HubStats {
  instanceId: string;
  mode: 'redis' | 'local';
  fanout: FanoutMode;
  degraded: boolean;
  connections: { websocket: number; sse: number };
  rooms: number;
  published: number;
  delivered: number;
  pubsubReceived: number;
  /** Messages from Redis that `dry-run` counted instead of delivering. */
  dryRunSkipped: number;
  deserializeFailures: number;
  slowConsumerCloses: number;
  /** Connections closed because `authenticate` or `authorize` no longer admitted them. */
  sessionEndCloses: number;
  /** Publishes that could not reach the other instances (Redis away, or too many in flight). */
  fanoutDropped: number;
  /**
   * Events of other instances that never arrived here, counted from the gaps in their
   * numbering (whatever the cause: an outage, a drop, a resubscription race).
   */
  fanoutMissed: number;
  /**
   * WebSocket upgrades to a path that no hub and no listener of the app took, answered 404
   * and closed by the hub (see `AttachOptions.unclaimedTimeoutMs`).
   */
  upgradesUnclaimed: number;
  /** Resumes answered with `gap` instead of a replay, for coming too often (see `HistoryOptions.minReplayIntervalMs`). */
  replaysRefused: number;
}
