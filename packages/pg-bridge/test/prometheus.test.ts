import {
  checkMetricsText,
  cleanupPrefix,
  createDatabase,
  familiesWithoutSamples,
  keyPrefix,
  redisUrl,
} from '@bancada/testkit';
import pg from 'pg';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createPgBridge } from '../src/index.js';
import { afterThisTest, joinedClient, startHub, waitFor } from './helpers/hubs.js';

describe('the bridge metrics', () => {
  it("pass Prometheus's own linter (promtool check metrics), every family with samples", async () => {
    const db = await createDatabase('pg_bridge_prometheus');
    afterThisTest(() => db.drop());
    const redis = await redisUrl();
    const prefix = keyPrefix('pg-bridge-prometheus');
    afterThisTest(() => cleanupPrefix(redis, prefix));
    const { hub, wsUrl } = await startHub({ redis: false });
    const registry = new Registry();
    const bridge = createPgBridge({
      hub,
      connectionString: db.url,
      redis,
      prefix,
      channels: {
        ticket_updates: (payload) => ({
          room: `restaurant:${(payload as { restaurantId: string }).restaurantId}`,
          event: { eventType: 'ticket-updated', payload },
        }),
      },
      registry,
      logger: false,
    });
    afterThisTest(() => bridge.close());
    const client = await joinedClient(wsUrl, { name: 'ana', restaurantId: 'a' }, 'restaurant:a');
    await waitFor('the bridge to lead and listen', () => bridge.stats().listening, 15_000);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    afterThisTest(() => sql.end());
    await sql.query(`SELECT pg_notify('ticket_updates', '{"restaurantId":"a"}')`);
    await client.next((m) => m.type === 'event', 'the bridged event');

    const text = await registry.metrics();
    expect(familiesWithoutSamples(text)).toEqual([]);
    expect(text).toContain('bancada_realtime_bridge_notifications_total{outcome="published"} 1');
    expect(text).toContain('bancada_realtime_bridge_leader 1');
    await checkMetricsText(text);
  });
});
