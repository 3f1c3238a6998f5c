import type { IncomingMessage } from 'node:http';

// The logger and the connection-gate contract are the kit's own (declared once for every
// package); the envelope is the wire format's.
export type { ConnectionGate, Lease, Logger, Rejection } from '@bancada/internal';
export type { Envelope } from '@bancada/internal/wire';

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
  /**
   * Connections in no room for longer than `roomlessAfterMs` now: they get broadcasts only
   * (0 when not watched).
   */
  roomless: number;
  /** Client messages that a path's `decode` returned null for: ignored on purpose. */
  messagesIgnored: number;
}
