import {
  createDatabase,
  freePort,
  type PrivateSentinel,
  recordingLogger,
  startSentinel,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPersistenceWorker } from '../src/index.js';

// Configurations that can never reach a Redis: the worker says why and stays degraded, and
// close() still returns; nothing hangs.
let db: TestDatabase;
let sentinel: PrivateSentinel;

beforeAll(async () => {
  [db, sentinel] = await Promise.all([
    createDatabase('worker_bad_topology'),
    startSentinel({ replicas: 1 }),
  ]);
}, 90_000);

afterAll(async () => {
  await db?.drop();
  await sentinel?.stop();
});

async function degradedWorker(redis: string) {
  const logger = recordingLogger();
  const worker = createPersistenceWorker({
    redis,
    connectionString: db.url,
    stream: 'events',
    partitions: 2,
    backoffMs: [50, 200],
    logger,
  });
  worker.start();
  await waitFor(
    'an error in the log',
    () => logger.lines.some((l) => l.startsWith('error')),
    20_000,
  );
  expect(worker.stats()).toMatchObject({ running: true, degraded: true, inserted: 0 });
  await worker.close(); // a hang would fail the test at its timeout
  return logger.lines;
}

describe('the worker on a Redis it can never reach', () => {
  it('says so for a cluster seed list nobody answers on, and closes', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const lines = await degradedWorker(`redis-cluster://127.0.0.1:${a},127.0.0.1:${b}`);
    expect(lines[0]).toMatch(/from redis cluster/);
    expect(lines.join('\n')).toContain(
      "redis error: Failed to refresh slots cache. (no node of the cluster's seed list answers",
    );
  });

  it('says so for a Sentinel master name that does not exist, and closes', async () => {
    const url = sentinel.url.replace(/\/[^/]+$/, '/nosuchmaster');
    const lines = await degradedWorker(url);
    expect(lines[0]).toMatch(/from redis sentinel nosuchmaster/);
    expect(lines.join('\n')).toContain('No such master with that name');
  });
});
