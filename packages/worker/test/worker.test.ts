import {
  cleanupPrefix,
  createDatabase,
  faultProxy,
  freePort,
  keyPrefix,
  recordingLogger,
  redisUrl,
  startRedis,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCliConfig } from '../src/cli-config.js';
import {
  createEventPublisher,
  createPersistenceWorker,
  type PersistenceWorkerOptions,
  partitionStreams,
} from '../src/index.js';
import { resolveWorkerOptions } from '../src/options.js';
import {
  acknowledgedIds,
  addEvents,
  bundleWorkerScripts,
  envelope,
  pendingCount,
  rowCount,
  runNode,
} from './helpers/worker-fixtures.js';

// The machine is small and shared: waits are generous, and nothing asserts a duration.
const LONG = 20_000;

let url: string;
let db: TestDatabase;
let sql: pg.Pool;
let redis: Redis;
let prefix: string;
let scripts: Awaited<ReturnType<typeof bundleWorkerScripts>>;
let tables = 0;

beforeAll(async () => {
  url = await redisUrl();
  prefix = keyPrefix('realtime-worker');
  [db, scripts] = await Promise.all([createDatabase('worker'), bundleWorkerScripts()]);
  sql = new pg.Pool({ connectionString: db.url, max: 3 });
  redis = new Redis(url);
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await sql?.end();
  await db?.drop();
  await scripts?.remove();
  if (prefix) await cleanupPrefix(url, prefix);
});

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A stream and a table of the test's own. */
function names(name: string) {
  return { stream: `${prefix}${name}`, group: 'persist', table: `events_${++tables}` };
}

/** A worker on the shared Redis and the test database, closed after the test. */
function startWorker(options: Partial<PersistenceWorkerOptions> & { stream: string }) {
  const worker = createPersistenceWorker({
    redis: url,
    connectionString: options.pool ? undefined : db.url,
    batchTimeoutMs: 50,
    logger: false,
    ...options,
  });
  worker.start();
  cleanups.push(() => worker.close());
  return worker;
}

describe('createPersistenceWorker', () => {
  it('writes every entry to the table exactly once and acknowledges it', async () => {
    const { stream, group, table } = names('once');
    // Before the worker exists: a new group starts from the beginning of the stream.
    await addEvents(redis, stream, 0, 500);
    const registry = new Registry();
    const worker = startWorker({ stream, group, table, batchSize: 100, registry });
    await addEvents(redis, stream, 500, 500);

    await waitFor('1000 rows', async () => (await rowCount(sql, table)) === 1000, LONG);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, group)) === 0);
    const { rows } = await sql.query(
      `SELECT count(DISTINCT id)::int AS ids, count(DISTINCT stream_id)::int AS entries FROM ${table}`,
    );
    expect(rows[0]).toEqual({ ids: 1000, entries: 1000 });
    const row = (await sql.query(`SELECT * FROM ${table} WHERE id = 'ev-7'`)).rows[0];
    const sent = JSON.parse(envelope(7));
    expect(row).toMatchObject({
      id: 'ev-7',
      room: sent.room,
      event_type: 'order-created',
      payload: sent.payload,
      trace_id: 'trace-7',
    });
    expect(row.ts.getTime()).toBe(sent.ts);

    // The same events again (a publisher that retried): acknowledged, not written twice.
    await addEvents(redis, stream, 0, 10);
    // Counted as duplicates once written, as acknowledged once the XACK has answered.
    await waitFor(
      'the repeats to be handled',
      () => worker.stats().duplicates === 10 && worker.stats().acknowledged === 1010,
      LONG,
    );
    expect(await rowCount(sql, table)).toBe(1000);
    const stats = worker.stats();
    expect(stats).toMatchObject({ inserted: 1000, acknowledged: 1010, degraded: false });
    expect(stats.batches).toBeGreaterThanOrEqual(10);
    expect(stats.insertLatency.p50Ms).toBeGreaterThan(0);
    const metrics = await registry.metrics();
    expect(metrics).toContain('bancada_realtime_worker_inserted_total 1000');
    expect(metrics).toContain('bancada_realtime_worker_duplicates_total 10');
    expect(metrics).toMatch(/bancada_realtime_worker_insert_latency_seconds_count \d+/);
  });

  it('shares one stream between the workers of a group, each entry in the table once', async () => {
    const { stream, group, table } = names('shared');
    // One of them on a pool of the application's, which it must leave open.
    const appPool = new pg.Pool({ connectionString: db.url, max: 2 });
    cleanups.push(() => appPool.end());
    const workers = [
      startWorker({ stream, group, table, batchSize: 50, consumer: 'w1' }),
      startWorker({ stream, group, table, batchSize: 50, consumer: 'w2' }),
      startWorker({ stream, group, table, batchSize: 50, consumer: 'w3', pool: appPool }),
    ];
    for (let chunk = 0; chunk < 30; chunk++) {
      await addEvents(redis, stream, chunk * 100, 100);
      await new Promise((resolve) => setImmediate(resolve));
    }

    await waitFor('3000 rows', async () => (await rowCount(sql, table)) === 3000, LONG);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, group)) === 0);
    const inserted = workers.map((worker) => worker.stats().inserted);
    expect(inserted.reduce((sum, n) => sum + n, 0)).toBe(3000);
    expect(inserted.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    await workers[2]!.close();
    expect((await appPool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });

  it('takes over the batch of a worker killed between commit and acknowledgement, writing nothing twice', async () => {
    const { stream, group, table } = names('killed');
    await addEvents(redis, stream, 0, 200);
    const doomed = runNode(scripts.child, [], {
      REDIS_URL: url,
      DATABASE_URL: db.url,
      WORKER_STREAM: stream,
      WORKER_GROUP: group,
      WORKER_CONSUMER: 'doomed',
      WORKER_TABLE: table,
      WORKER_BATCH_SIZE: '50',
    });
    cleanups.push(() => doomed.process.kill('SIGKILL'));
    const ended = await doomed.exited;
    expect(ended, doomed.stderr).toEqual({ code: null, signal: 'SIGKILL' });
    // It died in the worst place: its batch is in the table and still pending in Redis
    // (with, perhaps, the next batch it was reading meanwhile).
    expect(await rowCount(sql, table)).toBe(50);
    expect(await pendingCount(redis, stream, group)).toBeGreaterThanOrEqual(50);

    const rescuer = startWorker({
      stream,
      group,
      table,
      batchSize: 50,
      consumer: 'rescuer',
      claimMinIdleMs: 1000,
      claimIntervalMs: 200,
    });
    await waitFor('200 rows', async () => (await rowCount(sql, table)) === 200, LONG);
    await waitFor(
      'nothing pending',
      async () => (await pendingCount(redis, stream, group)) === 0,
      LONG,
    );
    expect(rescuer.stats()).toMatchObject({ inserted: 150, duplicates: 50 });
    expect(rescuer.stats().claimed).toBeGreaterThanOrEqual(50);
    const { rows } = await sql.query(`SELECT count(DISTINCT id)::int AS n FROM ${table}`);
    expect(rows[0].n).toBe(200);
  });

  it('holds its batch while Postgres is cut, acknowledges nothing unwritten, and resumes by itself', async () => {
    const { stream, group, table } = names('cut');
    const proxy = await faultProxy(db.url);
    cleanups.push(() => proxy.close());
    const logger = recordingLogger();
    const worker = startWorker({
      stream,
      group,
      table,
      batchSize: 25,
      connectionString: proxy.url(db.url),
      backoffMs: [20, 200],
      statementTimeoutMs: 3000,
      logger,
    });
    const unwrittenButAcked = async () => {
      // Redis first, then the table: a row never disappears, so an id acknowledged at the
      // first read that is missing at the second was acknowledged before it was written.
      const acked = await acknowledgedIds(redis, stream, group);
      const { rows } = await sql.query(`SELECT id FROM ${table}`);
      const written = new Set(rows.map((row: { id: string }) => row.id));
      return acked.filter((id) => !written.has(id));
    };

    await addEvents(redis, stream, 0, 100);
    await waitFor('100 rows', async () => (await rowCount(sql, table)) === 100, LONG);
    proxy.cut();
    await addEvents(redis, stream, 100, 100);
    await waitFor('the worker to say degraded', () => worker.stats().degraded, LONG);
    await waitFor('several failed writes', () => worker.stats().writeErrors >= 3, LONG);
    expect(worker.stats().held).toBeGreaterThan(0);
    expect(await rowCount(sql, table)).toBe(100);
    expect(await pendingCount(redis, stream, group)).toBeGreaterThan(0);
    expect(await unwrittenButAcked()).toEqual([]);

    proxy.restore();
    await waitFor('200 rows', async () => (await rowCount(sql, table)) === 200, LONG);
    await waitFor(
      'nothing pending',
      async () => (await pendingCount(redis, stream, group)) === 0,
      LONG,
    );
    await waitFor('the worker to recover', () => !worker.stats().degraded);
    expect(await unwrittenButAcked()).toEqual([]);
    expect((await acknowledgedIds(redis, stream, group)).length).toBe(200);
    expect(logger.lines.some((line) => line.includes('cannot write to postgres'))).toBe(true);
    expect(logger.lines.some((line) => line.includes('postgres is back'))).toBe(true);
  });

  it('leaves no INSERT it gave up on waiting on the server: Postgres stops it at the same timeout', async () => {
    const { stream, group, table } = names('locked');
    const worker = startWorker({
      stream,
      group,
      table,
      batchSize: 10,
      backoffMs: [20, 100],
      statementTimeoutMs: 300,
    });
    await addEvents(redis, stream, 0, 10);
    await waitFor('10 rows', async () => (await rowCount(sql, table)) === 10, LONG);
    const locker = await sql.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`);
      await addEvents(redis, stream, 10, 10);
      await waitFor('five writes given up', () => worker.stats().writeErrors >= 5, LONG);
      const waiting = await sql.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'bancada-worker'
           AND wait_event_type = 'Lock'`,
      );
      // The attempt in progress, at most: none of the ones given up is still queued there.
      expect(Number(waiting.rows[0]!.n)).toBeLessThanOrEqual(1);
    } finally {
      await locker.query('COMMIT').catch(() => {});
      locker.release();
    }
    await waitFor('20 rows', async () => (await rowCount(sql, table)) === 20, LONG);
  });

  it('abandons its batch on close while Postgres is away, acknowledging none of it', async () => {
    const { stream, group, table } = names('abandon');
    const proxy = await faultProxy(db.url);
    cleanups.push(() => proxy.close());
    const options = { stream, group, table, batchSize: 20, consumer: 'same-name' };
    const first = startWorker({
      ...options,
      connectionString: proxy.url(db.url),
      backoffMs: [20, 200],
    });
    await addEvents(redis, stream, 0, 10);
    await waitFor('10 rows', async () => (await rowCount(sql, table)) === 10, LONG);
    proxy.cut();
    await addEvents(redis, stream, 10, 30);
    await waitFor('the worker to say degraded', () => first.stats().degraded, LONG);
    await first.close();
    expect(await rowCount(sql, table)).toBe(10);
    expect(await pendingCount(redis, stream, group)).toBeGreaterThan(0);

    // The same consumer name again: it reads what it left pending at once, no claim needed.
    const second = startWorker(options);
    await waitFor('40 rows', async () => (await rowCount(sql, table)) === 40, LONG);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, group)) === 0);
    expect(second.stats().claimed).toBe(0);
  });

  it('waits out a Redis that was killed and restarted empty, and resumes by itself', async () => {
    const { stream, group, table } = names('redis-down');
    const privateRedis = await startRedis();
    cleanups.push(() => privateRedis.stop());
    const client = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
    cleanups.push(() => client.disconnect());
    const logger = recordingLogger();
    const worker = startWorker({
      stream,
      group,
      table,
      batchSize: 20,
      redis: privateRedis.url,
      backoffMs: [20, 200],
      logger,
    });
    await addEvents(client, stream, 0, 50);
    await waitFor('50 rows', async () => (await rowCount(sql, table)) === 50, LONG);

    await privateRedis.kill();
    await waitFor('the worker to say degraded', () => worker.stats().degraded, LONG);
    await privateRedis.restart(); // no persistence: the stream and its group are gone
    await addEvents(client, stream, 50, 50);
    await waitFor('100 rows', async () => (await rowCount(sql, table)) === 100, LONG);
    await waitFor(
      'nothing pending',
      async () => (await pendingCount(client, stream, group)) === 0,
      LONG,
    );
    expect(worker.stats().degraded).toBe(false);
    expect(logger.lines.some((line) => line.includes('redis unavailable'))).toBe(true);
    expect(logger.lines.some((line) => line.includes('redis is back'))).toBe(true);
  });

  it('moves malformed entries and rows Postgres refuses to the dead-letter stream, and goes on', async () => {
    const { stream, group, table } = names('malformed');
    const logger = recordingLogger();
    const worker = startWorker({ stream, group, table, batchSize: 10, logger });
    await waitFor('the group', async () => (await redis.exists(stream)) === 1, LONG);
    await redis
      .pipeline()
      .xadd(stream, '*', 'e', 'not json')
      .xadd(stream, '*', 'e', JSON.stringify({ eventType: 'order-created' }))
      .xadd(stream, '*', 'other', 'field')
      .xadd(stream, '*', 'e', envelope(1))
      // Valid JSON that jsonb refuses: the whole batch fails, then goes in row by row.
      .xadd(stream, '*', 'e', envelope(2, { payload: 'nul \u0000 inside' }))
      .xadd(stream, '*', 'e', envelope(3))
      .exec();

    await waitFor('4 dead letters', () => worker.stats().deadLettered === 4, LONG);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, group)) === 0);
    const { rows } = await sql.query(`SELECT id FROM ${table} ORDER BY id`);
    expect(rows.map((row: { id: string }) => row.id)).toEqual(['ev-1', 'ev-3']);
    const dead = await redis.xrange(`${stream}:dead`, '-', '+');
    const reasons = dead.map(([, fields]) => fields[fields.indexOf('reason') + 1]);
    expect(reasons.slice(0, 3)).toEqual(['not JSON', 'no id', 'no "e" field']);
    expect(reasons[3]).toMatch(/^refused by postgres: /);
    // The original entry travels along, to be looked at or replayed.
    expect(dead[0]![1]).toEqual(expect.arrayContaining(['source_stream', stream, 'e', 'not json']));
    expect(logger.lines.some((line) => line.startsWith('warn') && line.includes(':dead'))).toBe(
      true,
    );
  });

  it('after losing Redis, reads again what is pending under its name at once, not after a claim', async () => {
    // As after a failover whose new master missed some of this worker's acknowledgements:
    // entries pending under the worker's own name that it no longer holds.
    const { stream, group, table } = names('own-pending');
    const worker = startWorker({ stream, group, table, consumer: 'own', claimMinIdleMs: 600_000 });
    await waitFor('the group', async () => (await redis.exists(stream)) === 1, LONG);
    await addEvents(redis, stream, 0, 5);
    await waitFor('5 rows', async () => (await rowCount(sql, table)) === 5, LONG);
    // Entries delivered to "own" behind the worker's back, in one transaction so that the
    // worker's blocked read cannot take them first: pending under its name.
    const transaction = redis.multi();
    for (let n = 5; n < 10; n++) transaction.xadd(stream, '*', 'e', envelope(n));
    transaction.xreadgroup('GROUP', group, 'own', 'COUNT', 5, 'STREAMS', stream, '>');
    await transaction.exec();
    expect(await pendingCount(redis, stream, group)).toBe(5);
    expect(worker.stats().held).toBe(0);
    // Its reading connection dropped: the next round fails, then reads its own pending entries.
    const clients = String(await redis.client('LIST')).split('\n');
    const reader = clients.find((line) => line.includes('name=bancada-worker-read:own'));
    await redis.client('KILL', 'ID', /id=(\d+)/.exec(reader!)![1]!);
    await waitFor('10 rows', async () => (await rowCount(sql, table)) === 10, LONG);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, group)) === 0);
    expect(worker.stats().claimed).toBe(0);
  });

  it('reads every partition of a partitioned stream on one Redis, each room in its order', async () => {
    const { stream, group, table } = names('partitioned');
    const worker = startWorker({ stream, group, table, partitions: 4 });
    const publisher = createEventPublisher({ redis: url, stream, partitions: 4, logger: false });
    cleanups.push(() => publisher.close());
    for (let n = 0; n < 120; n++) {
      await publisher.publish({ eventType: 'order-created', id: `p${n}`, restaurantId: n % 9 });
    }
    await waitFor('120 rows', async () => (await rowCount(sql, table)) === 120, LONG);
    const streams = partitionStreams(stream, 4);
    const lengths = await Promise.all(streams.map((name) => redis.xlen(name)));
    expect(lengths.every((length) => length > 0)).toBe(true);
    expect(lengths.reduce((a, b) => a + b)).toBe(120);
    const { rows } = await sql.query(
      `SELECT room, array_agg(id ORDER BY split_part(stream_id, '-', 1)::bigint, split_part(stream_id, '-', 2)::bigint) AS ids FROM ${table} GROUP BY room`,
    );
    for (const { room, ids } of rows) {
      // One room, one partition: its entries in the order they were published.
      expect(new Set(ids.map(() => publisher.streamOf({ room }))).size).toBe(1);
      expect(ids.map((id: string) => Number(id.slice(1)))).toEqual(
        [...ids.map((id: string) => Number(id.slice(1)))].sort((a, b) => a - b),
      );
    }
    expect(worker.stats()).toMatchObject({ partitions: 4, inserted: 120 });
  });

  it('refuses options that cannot work, naming them', () => {
    const base = { redis: 'redis://127.0.0.1:6379', connectionString: db.url, stream: 's' };
    const refused = (options: Record<string, unknown>, message: RegExp) =>
      expect(() =>
        createPersistenceWorker({ ...base, ...options } as PersistenceWorkerOptions),
      ).toThrow(
        expect.objectContaining({
          name: 'WorkerOptionError',
          code: 'BANCADA_WORKER_INVALID_OPTION',
          message: expect.stringMatching(message),
        }),
      );
    refused({ stream: undefined }, /stream is required/);
    refused({ table: 'events; DROP TABLE users' }, /table must be a lowercase SQL identifier/);
    refused({ table: 'Events' }, /table must be/);
    refused({ batchSize: 0 }, /batchSize must be a whole number from 1/);
    refused({ batchTimeoutMs: 1.5 }, /batchTimeoutMs must be a whole number/);
    refused({ pool: new pg.Pool() }, /either pool or connectionString/);
    refused({ connectionString: 'mysql://x' }, /connectionString must start with postgres/);
    refused({ redis: 'localhost:6379' }, /redis URL must start with redis:\/\//);
    refused({ backoffMs: [100, 10] }, /backoffMs must be \[min, max\]/);
    refused({ partitions: 0 }, /partitions must be a whole number from 1 to 256, got 0/);
    refused({ partitions: 2.5 }, /partitions must be a whole number/);
    refused({ partitions: 4, stream: 'events:{a}' }, /stream must not contain \{ or \}/);
    refused({ redis: 'redis-cluster://' }, /names no host:port/);
    refused({ redis: 'redis-sentinel://127.0.0.1:26379' }, /ends with the master's name/);
    refused({ redis: { cluster: [] } }, /redis.cluster must list at least one node/);
    refused({ redis: { sentinels: [{ port: 26379 }] } }, /Sentinel options need `name`/);
    for (const redis of [
      'redis-cluster://127.0.0.1:7000,127.0.0.1:7001',
      'redis-sentinel://127.0.0.1:26379/mymaster',
      { cluster: ['127.0.0.1:7000'] },
    ]) {
      expect(() => resolveWorkerOptions({ ...base, redis })).not.toThrow();
    }
    const logger = recordingLogger();
    const eager = createPersistenceWorker({
      ...base,
      claimMinIdleMs: 1000,
      batchTimeoutMs: 5000,
      logger,
    });
    expect(logger.lines.join('\n')).toContain('BANCADA_WORKER_CLAIM_TOO_EAGER');
    return eager.close();
  });
});

describe('bancada-worker (the CLI)', () => {
  it('refuses bad configuration with a clear message and exit code 2', async () => {
    const env = { REDIS_URL: url, DATABASE_URL: db.url };
    const runs = await Promise.all(
      [
        { args: [], env, message: /missing --stream \(or BANCADA_WORKER_STREAM\)/ },
        {
          args: ['--stream', 's'],
          env: { REDIS_URL: url },
          message: /missing --database-url \(or DATABASE_URL\)/,
        },
        {
          args: ['--stream', 's', '--batch-size', 'lots'],
          env,
          message: /--batch-size must be a whole number, got "lots"/,
        },
        {
          args: ['--stream', 's'],
          env: { ...env, BANCADA_WORKER_TABLE: 'drop table' },
          message: /table must be a lowercase SQL identifier/,
        },
        { args: ['--stream', 's', '--bogus'], env, message: /Unknown option '--bogus'/ },
      ].map(async (run) => {
        const child = runNode(scripts.cli, run.args, run.env);
        return { ...run, ended: await child.exited, stderr: child.stderr };
      }),
    );
    for (const run of runs) {
      expect(run.ended.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(run.message);
    }
    // The same checks, without a process: flags win over the environment.
    const config = parseCliConfig(['--stream', 'flag', '--batch-size', '7'], {
      ...env,
      BANCADA_WORKER_STREAM: 'env',
      BANCADA_WORKER_BATCH_TIMEOUT_MS: '250',
    });
    expect(config).toMatchObject({
      help: false,
      options: { stream: 'flag', batchSize: 7, batchTimeoutMs: 250, redis: url },
    });
  });

  it('persists with good configuration and stops after its batch on SIGTERM', async () => {
    const { stream, table } = names('cli');
    const port = await freePort();
    const cli = runNode(
      scripts.cli,
      ['--stream', stream, '--batch-size', '20', '--metrics-port', String(port)],
      {
        REDIS_URL: url,
        DATABASE_URL: db.url,
        BANCADA_WORKER_TABLE: table,
        BANCADA_WORKER_BATCH_TIMEOUT_MS: '50',
      },
    );
    cleanups.push(() => cli.process.kill('SIGKILL'));
    await addEvents(redis, stream, 0, 100);
    await waitFor('100 rows', async () => (await rowCount(sql, table)) === 100, LONG);
    await waitFor(
      'the metrics to say so',
      async () =>
        (await fetch(`http://127.0.0.1:${port}/metrics`).then((res) => res.text())).includes(
          'bancada_realtime_worker_inserted_total 100',
        ),
      LONG,
    );
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ stream, inserted: 100, degraded: false });

    cli.process.kill('SIGTERM');
    const ended = await cli.exited;
    expect(ended, cli.stderr).toEqual({ code: 0, signal: null });
    expect(cli.stdout).toContain('SIGTERM: stopping after the current batch');
    expect(cli.stdout).toContain('realtime worker: stopped');
    expect(await pendingCount(redis, stream, 'bancada-persistence')).toBe(0);
  });
});
