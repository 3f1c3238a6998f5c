import {
  createDatabase,
  type PrivateTlsRedis,
  recordingLogger,
  startTlsRedis,
  type TestDatabase,
} from '@bancada/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgBridge, type PgBridge } from '../src/index.js';
import { afterThisTest, joinedClient, startHub, waitFor } from './helpers/hubs.js';

// The leader lease in Redis as hosted services give it: TLS (a certificate of a throw-away
// authority here) and a user with a password, reached with a rediss:// URL and the authority
// as ioredis's `tls: { ca }`, through a client that is only a template for the lease's own
// connection.

let server: PrivateTlsRedis;
let db: TestDatabase;
beforeAll(async () => {
  [server, db] = await Promise.all([startTlsRedis(), createDatabase('pg_bridge_tls')]);
});
afterAll(async () => {
  await db?.drop();
  await server?.stop();
});

const SLOW = 15_000;

function bridgeOn(
  url: string,
  tls: RedisOptions['tls'],
  hub: Parameters<typeof createPgBridge>[0]['hub'],
  instanceId: string,
  logger = recordingLogger(),
): PgBridge {
  const template = new Redis(url, { tls, lazyConnect: true });
  afterThisTest(() => template.disconnect());
  const bridge = createPgBridge({
    hub,
    connectionString: db.url,
    redis: template,
    prefix: 'tls:',
    instanceId,
    leaseMs: 2000,
    channels: {
      ticket_updates: (payload) => ({
        room: `restaurant:${(payload as { restaurantId: string }).restaurantId}`,
        event: { eventType: 'ticket-updated', payload },
      }),
    },
    logger,
  });
  afterThisTest(() => bridge.close());
  return bridge;
}

describe('the NOTIFY bridge with its lease on Redis with TLS and a password', () => {
  it('elects one leader among instances, which republishes each notification once', async () => {
    const { hub, wsUrl } = await startHub({ redis: false });
    const a = bridgeOn(server.url, { ca: server.ca }, hub, 'bridge-a');
    const b = bridgeOn(server.url, { ca: server.ca }, hub, 'bridge-b');
    await waitFor('one leader, listening', () => [a, b].some((x) => x.stats().listening), SLOW);
    const [leader, follower] = a.stats().leader ? [a, b] : [b, a];
    await waitFor(
      'the follower to see the leader',
      () => {
        return follower.stats().leaderId === leader.stats().instanceId;
      },
      SLOW,
    );
    const client = await joinedClient(wsUrl, { name: 'ana', restaurantId: 'a' }, 'restaurant:a');
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    afterThisTest(() => sql.end());
    await sql.query(`SELECT pg_notify('ticket_updates', '{"restaurantId":"a"}')`);
    await client.next((m) => m.type === 'event', 'the bridged event');
    expect(leader.stats().published).toBe(1);
    expect(follower.stats()).toMatchObject({ leader: false, received: 0 });
  });

  for (const [what, url, tls, cause] of [
    [
      'a wrong password',
      () => server.url.replace(server.password, 'not-it'),
      () => ({ ca: server.ca }),
      /WRONGPASS/,
    ],
    ['a certificate it does not trust', () => server.url, () => ({}), /self[- ]signed certificate/],
  ] as const) {
    it(`with ${what}: never leads (nothing published twice), the log says why, and it closes`, async () => {
      const { hub } = await startHub({ redis: false });
      const logger = recordingLogger();
      const bridge = bridgeOn(url(), tls(), hub, 'bridge-x', logger);
      await waitFor('the cause in the log', () => logger.lines.some((l) => cause.test(l)), SLOW);
      expect(bridge.stats()).toMatchObject({ mode: 'lease', leader: false, listening: false });
      await bridge.close();
    });
  }
});
