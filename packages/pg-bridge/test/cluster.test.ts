import { createDatabase, recordingLogger, startCluster } from '@bancada/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPgBridge } from '../src/pg-bridge.js';
import {
  afterThisTest,
  joinedClient,
  startInstances,
  type TestClient,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const SLOW = 20_000;

type Ticket = { restaurantId: string; ticket: number };

function tickets(client: TestClient): number[] {
  return client
    .events()
    .filter((e) => e.eventType === 'ticket-updated')
    .map((e) => (e.payload as Ticket).ticket);
}

describe('createPgBridge with its leader lease on a Redis Cluster', () => {
  it('elects one listener among two instances, and one again after the master of the lease fails over', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const db = await createDatabase('pg_bridge_cluster');
    afterThisTest(() => db.drop());
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    afterThisTest(() => sql.end());
    // The hubs fan out over the shared test Redis; only the lease is on the cluster here.
    const hubs = await startInstances(2);
    const logger = recordingLogger();
    const bridges = hubs.map(({ hub }, i) => {
      const bridge = createPgBridge({
        hub,
        connectionString: db.url,
        channels: {
          ticket_updates: (payload) => ({
            room: `restaurant:${(payload as Ticket).restaurantId}`,
            event: { eventType: 'ticket-updated', payload },
          }),
        },
        redis: cluster.url,
        prefix: 'cluster-test:',
        leaseMs: 1500,
        instanceId: `bridge-${i + 1}`,
        logger,
      });
      afterThisTest(() => bridge.close());
      return bridge;
    });
    expect(logger.lines.some((line) => line.includes('on redis cluster'))).toBe(true);
    const listening = () => bridges.filter((b) => b.stats().listening);
    await waitFor('one bridge to listen', () => listening().length === 1, SLOW);
    const clients = await Promise.all(
      hubs.map((h) => joinedClient(h.wsUrl, alice, 'restaurant:a')),
    );
    const notify = (ticket: number) =>
      sql.query('SELECT pg_notify($1, $2)', [
        'ticket_updates',
        JSON.stringify({ restaurantId: 'a', ticket }),
      ]);
    await notify(1);
    await waitFor('ticket 1 everywhere', () => clients.every((c) => tickets(c).includes(1)), SLOW);

    await cluster.failover(await cluster.masterOf('cluster-test:pg-bridge:leader'));
    await waitFor(
      'one bridge to listen after the failover',
      async () => {
        if (listening().length !== 1) return false;
        // Still one a moment later: the lead has settled.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return listening().length === 1;
      },
      SLOW,
    );
    await notify(2);
    await waitFor('ticket 2 everywhere', () => clients.every((c) => tickets(c).includes(2)), SLOW);
    // Nothing twice: a late duplicate would have come with ticket 3, which goes the same way.
    await notify(3);
    await waitFor('ticket 3 everywhere', () => clients.every((c) => tickets(c).includes(3)), SLOW);
    for (const client of clients) expect(tickets(client)).toEqual([1, 2, 3]);
  });
});
