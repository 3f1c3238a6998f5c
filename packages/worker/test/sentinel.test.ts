import { fileURLToPath } from 'node:url';
import {
  createDatabase,
  type PrivateSentinel,
  readmeCode,
  recordingLogger,
  runReadmeApp,
  startSentinel,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventPublisher, createPersistenceWorker } from '../src/index.js';

// A private master, two replicas and three Sentinels of this file's own.
const LONG = 30_000;
const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

let sentinel: PrivateSentinel;
let db: TestDatabase;
let sql: pg.Pool;

beforeAll(async () => {
  [sentinel, db] = await Promise.all([startSentinel(), createDatabase('worker_sentinel')]);
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
}, 90_000);

afterAll(async () => {
  await sql?.end();
  await db?.drop();
  await sentinel?.stop();
});

async function persistedIds(table = 'realtime_events'): Promise<Set<string>> {
  const { rows } = await sql
    .query<{ id: string }>(`SELECT id FROM ${table}`)
    .catch(() => ({ rows: [] }));
  return new Set(rows.map((row) => row.id));
}

describe('the worker on a Sentinel set-up', () => {
  it("runs the README's example as pasted", async () => {
    const app = await runReadmeApp(
      PACKAGE,
      readmeCode(`${PACKAGE}README.md`, '## Redis Sentinel'),
      {
        sources: { '@bancada/worker': `${PACKAGE}src/index.ts` },
        env: { REDIS_URL: sentinel.url, DATABASE_URL: db.url },
      },
    );
    const client = new Redis({ sentinels: sentinel.sentinelList, name: sentinel.masterName });
    try {
      await client.xadd(
        'realtime:events',
        '*',
        'e',
        JSON.stringify({ eventType: 'order-created', id: 'readme-1', room: 'restaurant:1' }),
      );
    } finally {
      client.disconnect();
    }
    await waitFor(
      'the event in the table',
      async () => (await persistedIds()).has('readme-1'),
      LONG,
    );
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ stream: 'realtime:events', degraded: false });
  }, 60_000);

  it('follows a failover to the promoted replica and persists what comes after it', async () => {
    const logger = recordingLogger();
    const worker = createPersistenceWorker({
      redis: sentinel.url,
      connectionString: db.url,
      stream: 'orders:events',
      table: 'orders_events',
      partitions: 2,
      batchTimeoutMs: 50,
      backoffMs: [50, 500],
      statsIntervalMs: 200,
      logger,
    });
    const publisher = createEventPublisher({
      redis: sentinel.url,
      stream: 'orders:events',
      partitions: 2,
      logger: false,
    });
    worker.start();
    try {
      const publish = async (n: number) => {
        const room = `restaurant:${n % 7}`;
        await publisher.publish({ eventType: 'order-created', id: `e${n}`, room, payload: { n } });
        return `e${n}`;
      };
      const before = await Promise.all(Array.from({ length: 100 }, (_, n) => publish(n)));
      await waitFor(
        'the first 100 in the table',
        async () => {
          const ids = await persistedIds('orders_events');
          return before.every((id) => ids.has(id));
        },
        LONG,
      );

      let sawDegraded = false;
      const watch = setInterval(() => {
        sawDegraded ||= worker.stats().degraded;
      }, 10);
      await sentinel.failover();
      // The publisher's connection follows the Sentinels too; while it finds the new master,
      // a publish may be refused: try each until Redis takes it.
      const after: string[] = [];
      for (let n = 100; n < 200; n++) {
        await waitFor(
          `event ${n} taken`,
          () =>
            publish(n).then(
              () => true,
              () => false,
            ),
          LONG,
        );
        after.push(`e${n}`);
      }
      await waitFor(
        'the 100 published after the failover in the table',
        async () => {
          const ids = await persistedIds('orders_events');
          return after.every((id) => ids.has(id));
        },
        LONG,
      );
      clearInterval(watch);
      expect(sawDegraded).toBe(true);
      expect(logger.lines[0]).toMatch(/in 2 partitions .*from redis sentinel mymaster/);
      expect(logger.lines.join('\n')).toContain('redis is back; reading again');
      expect(worker.stats()).toMatchObject({ partitions: 2, running: true });
      const { rows } = await sql.query(
        'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM orders_events',
      );
      expect(rows[0].n).toBe(rows[0].d);
    } finally {
      await worker.close();
      await publisher.close();
    }
  }, 120_000);
});
