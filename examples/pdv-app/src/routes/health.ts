import type { Cache } from '@bancada/cache';
import type { PgBridge } from '@bancada/pg-bridge';
import type { Hub } from '@bancada/realtime';
import type { SessionMiddleware } from '@bancada/session';
import { Router } from 'express';
import type { Registry } from 'prom-client';
import type { Database } from '../database.js';

export interface HealthSources {
  instanceId: string;
  database: Database;
  sessions: SessionMiddleware;
  cache: Cache;
  hub: Hub;
  bridge: PgBridge | undefined;
  redisConfigured: boolean;
  registry: Registry;
  isDraining(): boolean;
}

export interface Health {
  status: 'ok' | 'degraded' | 'unavailable' | 'draining';
  instance: string;
  /** Serving, but with something missing: Redis away (this instance only) or sessions failing. */
  degraded: boolean;
  postgres: 'up' | 'down';
  redis: 'up' | 'down' | 'not configured';
  modes: {
    database: 'postgres' | 'embedded';
    session: 'postgres' | 'embedded';
    cache: string;
    realtime: 'redis' | 'local';
    fanout: string;
    notifyBridge: 'leader' | 'standby' | 'off';
  };
  connections: { websocket: number; sse: number };
  uptimeSeconds: number;
}

export async function readHealth(s: HealthSources): Promise<Health> {
  const postgresUp = await s.database.ping();
  const hub = s.hub.stats();
  const redisDown = s.cache.getStats().degraded || hub.degraded;
  const redis = !s.redisConfigured ? 'not configured' : redisDown ? 'down' : 'up';
  const degraded = redis === 'down' || s.sessions.health().degraded;
  const bridge = s.bridge?.stats();
  return {
    status: s.isDraining()
      ? 'draining'
      : !postgresUp
        ? 'unavailable'
        : degraded
          ? 'degraded'
          : 'ok',
    instance: s.instanceId,
    degraded,
    postgres: postgresUp ? 'up' : 'down',
    redis,
    modes: {
      database: s.database.mode,
      session: s.sessions.mode,
      cache: s.cache.mode,
      realtime: hub.mode,
      fanout: hub.fanout,
      notifyBridge: !bridge ? 'off' : bridge.leader ? 'leader' : 'standby',
    },
    connections: hub.connections,
    uptimeSeconds: Math.round(process.uptime()),
  };
}

/**
 * GET /health: 200 while this instance can serve (Postgres answers, even if Redis is away:
 * it then serves alone and says `degraded`), 503 when it cannot or is shutting down, so the
 * balancer stops sending it requests. GET /metrics: every metric, `bancada_*` included.
 */
export function healthRoutes(sources: HealthSources): Router {
  // Exactly /metrics: a balancer that keeps that path from the internet must not be walked
  // round by /metrics/ or /METRICS, which Express would otherwise answer as well.
  const router = Router({ strict: true, caseSensitive: true });
  router.get('/health', async (_req, res) => {
    const health = await readHealth(sources);
    const serving = health.status === 'ok' || health.status === 'degraded';
    res
      .status(serving ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(health);
  });
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', sources.registry.contentType).send(await sources.registry.metrics());
  });
  return router;
}
