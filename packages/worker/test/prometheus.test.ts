import {
  checkMetricsText,
  cleanupPrefix,
  createDatabase,
  familiesWithoutSamples,
  keyPrefix,
  redisUrl,
  waitFor,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createPersistenceWorker } from '../src/index.js';
import { addEvents, rowCount } from './helpers/worker-fixtures.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the worker metrics', () => {
  it("pass Prometheus's own linter (promtool check metrics), every family with samples", async () => {
    const url = await redisUrl();
    const prefix = keyPrefix('worker-prometheus');
    cleanups.push(() => cleanupPrefix(url, prefix));
    const db = await createDatabase('worker_prometheus');
    cleanups.push(() => db.drop());
    const redis = new Redis(url);
    cleanups.push(() => redis.disconnect());
    const sql = new pg.Pool({ connectionString: db.url, max: 1 });
    cleanups.push(() => sql.end());
    const registry = new Registry();
    const stream = `${prefix}events`;
    const worker = createPersistenceWorker({
      redis: url,
      connectionString: db.url,
      stream,
      batchTimeoutMs: 50,
      statsIntervalMs: 100,
      registry,
      logger: false,
    });
    worker.start();
    cleanups.push(() => worker.close());
    await addEvents(redis, stream, 0, 5);
    await waitFor('5 rows', async () => (await rowCount(sql, 'realtime_events')) === 5, 20_000);

    const text = await registry.metrics();
    expect(familiesWithoutSamples(text)).toEqual([]);
    expect(text).toContain('bancada_realtime_worker_inserted_total 5');
    await checkMetricsText(text);
  });
});
