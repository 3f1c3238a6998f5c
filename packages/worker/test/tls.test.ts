import {
  createDatabase,
  freePort,
  type PrivateTlsRedis,
  recordingLogger,
  startTlsRedis,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPersistenceWorker } from '../src/index.js';
import { addEvents, bundleWorkerScripts, rowCount, runNode } from './helpers/worker-fixtures.js';

// Redis as hosted services give it: TLS (a certificate of a throw-away authority here) and a
// user with a password. The library takes the rediss:// URL and the authority as ioredis's
// `tls: { ca }` through a client (a template for its own connections); the command takes the
// URL, and the authority the way Node takes one for a whole process, NODE_EXTRA_CA_CERTS.

let server: PrivateTlsRedis;
let db: TestDatabase;
let sql: pg.Pool;
let scripts: Awaited<ReturnType<typeof bundleWorkerScripts>>;
let streams = 0;
beforeAll(async () => {
  [server, db, scripts] = await Promise.all([
    startTlsRedis(),
    createDatabase('worker_tls'),
    bundleWorkerScripts(),
  ]);
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
}, 60_000);
afterAll(async () => {
  await sql?.end();
  await db?.drop();
  await scripts?.remove();
  await server?.stop();
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function template(url: string, tls: RedisOptions['tls']): Redis {
  const client = new Redis(url, { tls, lazyConnect: true });
  cleanups.push(() => client.disconnect());
  return client;
}

/** A plain client of the TLS Redis, to XADD with. */
function writer(): Redis {
  const client = new Redis(server.url, { tls: { ca: server.ca } });
  cleanups.push(() => client.disconnect());
  return client;
}

describe('the worker on Redis with TLS and a password', () => {
  it('persists a stream, acknowledging every entry', async () => {
    const stream = `tls:events:${++streams}`;
    const table = `tls_events_${streams}`;
    const logger = recordingLogger();
    const worker = createPersistenceWorker({
      redis: template(server.url, { ca: server.ca }),
      connectionString: db.url,
      stream,
      table,
      batchTimeoutMs: 50,
      logger,
    });
    worker.start();
    cleanups.push(() => worker.close());
    await addEvents(writer(), stream, 0, 20);
    await waitFor('20 rows', async () => (await rowCount(sql, table)) === 20, 20_000);
    await waitFor('20 acknowledged', () => worker.stats().acknowledged === 20);
    expect(worker.stats().degraded).toBe(false);
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
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
    it(`with ${what}: degraded, the log says why, and it closes`, async () => {
      const logger = recordingLogger();
      const worker = createPersistenceWorker({
        redis: template(url(), tls()),
        connectionString: db.url,
        stream: `tls:events:${++streams}`,
        batchTimeoutMs: 50,
        logger,
      });
      worker.start();
      await waitFor('the cause in the log', () => logger.lines.some((l) => cause.test(l)), 10_000);
      expect(worker.stats().degraded).toBe(true);
      await worker.close(); // within its bounds
      expect(worker.stats().running).toBe(false);
    });
  }

  it('runs as bancada-worker with a rediss:// URL and NODE_EXTRA_CA_CERTS, and says why it cannot', async () => {
    const stream = `tls:events:${++streams}`;
    const table = `tls_events_${streams}`;
    const start = async (redisUrl: string) => {
      const port = await freePort();
      const child = runNode(scripts.cli, [], {
        REDIS_URL: redisUrl,
        DATABASE_URL: db.url,
        BANCADA_WORKER_STREAM: stream,
        BANCADA_WORKER_TABLE: table,
        BANCADA_WORKER_BATCH_TIMEOUT_MS: '50',
        BANCADA_WORKER_METRICS_PORT: String(port),
        NODE_EXTRA_CA_CERTS: server.caFile,
      });
      cleanups.push(async () => {
        child.process.kill('SIGKILL');
        await child.exited;
      });
      const health = async () => {
        const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        return response && { status: response.status, body: (await response.json()) as never };
      };
      return { child, health };
    };

    const refused = await start(server.url.replace(server.password, 'not-it'));
    await waitFor('the cause in its log', () => /WRONGPASS/.test(refused.child.stderr), 15_000);
    expect((await refused.health())?.status).toBe(503); // degraded, and still up
    expect(refused.child.process.exitCode).toBeNull();

    const worker = await start(server.url);
    await addEvents(writer(), stream, 0, 5);
    await waitFor('5 rows', async () => (await rowCount(sql, table)) === 5, 20_000);
    expect(await worker.health()).toMatchObject({ status: 200, body: { degraded: false } });
    worker.child.process.kill('SIGTERM');
    expect(await worker.child.exited).toEqual({ code: 0, signal: null });
  });
});
