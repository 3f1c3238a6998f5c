import { connectionLimit, messageQuota } from '@bancada/limits';
import { type BridgedEvent, createPgBridge, type PgBridge } from '@bancada/pg-bridge';
import { createHub, type Hub, HubClosedError, restaurantRoom } from '@bancada/realtime';
import { type SessionMiddleware, sessionAuthenticator } from '@bancada/session';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Order } from './orders.js';

export type OrderEventType = 'order-created' | 'order-updated';

/** What the hub knows of a connected screen: read from its session, never from the client. */
export interface ScreenPrincipal {
  userId: number;
  restaurantId: string;
}

export interface RealtimeParts {
  hub: Hub;
  bridge: PgBridge | undefined;
  limiter: ReturnType<typeof connectionLimit>;
  /** Sends an order change to its restaurant's screens on every instance. */
  publishOrder(type: OrderEventType, order: Order): void;
}

export interface RealtimeSettings {
  config: Config;
  sessions: SessionMiddleware;
  /** The database of the NOTIFY bridge; undefined for the embedded one (no LISTEN there). */
  bridgeDatabaseUrl: string | undefined;
  prefix: string;
  maxConnectionsPerIp: number;
  /** See createPdvApp's option of the same name. */
  sessionCheckMs: number;
  registry: Registry;
  logger: Logger;
}

/**
 * The hub (WebSocket + SSE, fanned out through Redis), its connection limit, and the
 * Postgres NOTIFY bridge for order changes made outside the app.
 */
export function createRealtime(settings: RealtimeSettings): RealtimeParts {
  const { config, registry, logger, prefix } = settings;
  const redis = config.redisUrl ?? false;
  const limiter = connectionLimit({
    maxPerIp: settings.maxConnectionsPerIp,
    maxTotal: 20_000,
    redis,
    prefix: `${prefix}conn:`,
    trustProxy: config.trustProxy,
    registry,
    logger,
  });
  const hub = createHub({
    authenticate: sessionAuthenticator(settings.sessions, (session) => {
      const user = (session as { user?: { id: number; restaurantId: string } }).user;
      return user ? { userId: user.id, restaurantId: user.restaurantId } : null;
    }),
    // A tablet logged out (or whose session expired) stops getting orders within this, on
    // whichever instance it is: one session read per screen per interval.
    reauthenticateMs: settings.sessionCheckMs,
    // The default policy: a screen joins restaurant:<its session's restaurant> and nothing else.
    redis,
    prefix,
    fanout: config.fanout,
    ...(config.instanceId ? { instanceId: config.instanceId } : {}),
    // A kitchen screen that blinks off for a few seconds gets what it missed on reconnect.
    history: redis ? { maxLen: 500, maxAgeMs: 6 * 3_600_000 } : false,
    connectionGate: limiter,
    messageQuota: messageQuota({ points: 20, perMs: 1_000 }),
    maxRoomsPerConnection: 4,
    registry,
    logger,
  });

  const bridge = settings.bridgeDatabaseUrl
    ? createPgBridge({
        hub,
        connectionString: settings.bridgeDatabaseUrl,
        redis,
        prefix,
        channels: { ticket_updates: { payload: 'json', map: ticketUpdateToEvent } },
        registry,
        logger,
      })
    : undefined;

  return {
    hub,
    bridge,
    limiter,
    publishOrder(type, order) {
      try {
        // Never rejects; local screens get it at once, others through Redis.
        void hub.toRestaurant(order.restaurantId, { eventType: type, payload: order });
      } catch (error) {
        // The order is committed: a request that outlived the drain's time limit, and so the
        // hub, must not turn that into a 500. Screens reload the list when they reconnect.
        if (!(error instanceof HubClosedError)) throw error;
        logger.warn(`realtime: hub closed, ${type} of order ${order.id} not published`);
      }
    },
  };
}

/**
 * The trigger's notification (`{ op, order }`, see migrations.ts) as the same event the app
 * publishes, so screens cannot tell which path an order change took.
 */
export function ticketUpdateToEvent(payload: unknown): BridgedEvent | null {
  const { op, order } = payload as { op?: string; order?: Record<string, unknown> };
  if (!order || typeof order.restaurantId !== 'string') return null;
  const at = (value: unknown) => new Date(String(value)).toISOString();
  return {
    room: restaurantRoom(order.restaurantId),
    event: {
      eventType: op === 'INSERT' ? 'order-created' : 'order-updated',
      payload: { ...order, createdAt: at(order.createdAt), updatedAt: at(order.updatedAt) },
    },
  };
}
