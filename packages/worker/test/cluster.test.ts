import { fileURLToPath } from 'node:url';
import {
  createDatabase,
  keyPrefix,
  type PrivateCluster,
  readmeCode,
  recordingLogger,
  runReadmeApp,
  startCluster,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { Cluster } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventPublisher,
  createPersistenceWorker,
  deadLetterStreams,
  type EventPublisher,
  type PersistenceWorker,
  type PersistenceWorkerOptions,
  partitionCountKey,
  partitionStreams,
} from '../src/index.js';
import { keySlot } from '../src/partitions.js';
import { bundleWorkerScripts, runNode } from './helpers/worker-fixtures.js';

// A private Redis Cluster (3 masters, 3 replicas) of this file's own; generous waits.
const LONG = 30_000;
const PARTITIONS = 6;
const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const README = `${PACKAGE}README.md`;

let cluster: PrivateCluster;
let db: TestDatabase;
let sql: pg.Pool;
let redis: Cluster;
const prefix = keyPrefix('worker-cluster');
let tables = 0;

beforeAll(async () => {
  [cluster, db] = await Promise.all([startCluster(), createDatabase('worker_cluster')]);
  sql = new pg.Pool({ connectionString: db.url, max: 3 });
  redis = new Cluster(cluster.seeds);
}, 90_000);

afterAll(async () => {
  redis?.disconnect();
  await sql?.end();
  await db?.drop();
  await cluster?.stop();
});

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function names(name: string) {
  return { stream: `${prefix}${name}`, group: 'persist', table: `events_${++tables}` };
}

function startWorker(
  options: Partial<PersistenceWorkerOptions> & { stream: string },
): PersistenceWorker {
  const worker = createPersistenceWorker({
    redis: cluster.url,
    connectionString: db.url,
    partitions: PARTITIONS,
    batchTimeoutMs: 50,
    backoffMs: [50, 500],
    logger: false,
    ...options,
  });
  worker.start();
  cleanups.push(() => worker.close());
  return worker;
}

function publisherOf(stream: string, partitions = PARTITIONS): EventPublisher {
  const publisher = createEventPublisher({ redis: cluster.url, stream, partitions, logger: false });
  cleanups.push(() => publisher.close());
  return publisher;
}

/** Event `n` of room `room`: its id says both, its payload too. */
function event(room: string, n: number) {
  return {
    eventType: 'order-created',
    id: `${room}/${n}`,
    room,
    payload: { room, n },
    ts: 1_700_000_000_000 + n,
  };
}

async function rowsOf(table: string) {
  const { rows } = await sql
    .query<{ id: string; room: string; stream_id: string; n: number }>(
      `SELECT id, room, stream_id, (payload->>'n')::int AS n FROM ${table}`,
    )
    .catch(() => ({ rows: [] }));
  return rows;
}

/** Stream ids in order: `<ms>-<seq>`, compared as numbers. */
function byStreamId(a: { stream_id: string }, b: { stream_id: string }): number {
  const [am, as] = a.stream_id.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.stream_id.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** The events of each room, in the order of their stream, as `n`s. */
function ordersByRoom(rows: Awaited<ReturnType<typeof rowsOf>>): Map<string, number[]> {
  const byRoom = new Map<string, Array<(typeof rows)[number]>>();
  for (const row of rows) byRoom.set(row.room, [...(byRoom.get(row.room) ?? []), row]);
  return new Map([...byRoom].map(([room, list]) => [room, list.sort(byStreamId).map((r) => r.n)]));
}

describe('a partitioned stream on a Redis Cluster', () => {
  it('puts each partition in a slot of its own, spread evenly over the masters', async () => {
    const { stream } = names('spread');
    const streams = partitionStreams(stream, PARTITIONS);
    const deadLetters = deadLetterStreams(`${stream}:dead`, PARTITIONS);
    const slots = await Promise.all(
      streams.map(async (name) => Number(await redis.call('CLUSTER', 'KEYSLOT', name))),
    );
    expect(new Set(slots).size).toBe(PARTITIONS);
    expect(slots).toEqual(streams.map(slotOfTag));
    for (const [i, dead] of deadLetters.entries()) {
      expect(Number(await redis.call('CLUSTER', 'KEYSLOT', dead))).toBe(slots[i]);
    }
    const perMaster = new Map<number, number>();
    for (const name of streams) {
      const master = await cluster.masterOf(name);
      perMaster.set(master.port, (perMaster.get(master.port) ?? 0) + 1);
    }
    expect([...perMaster.values()]).toEqual([2, 2, 2]);
  });

  it('has two workers persist every event of many rooms once, each room in its order', async () => {
    const { stream, group, table } = names('rooms');
    const logger = recordingLogger();
    const workers = [
      startWorker({ stream, group, table, consumer: 'one', logger }),
      startWorker({ stream, group, table, consumer: 'two' }),
    ];
    const publisher = publisherOf(stream);
    const rooms = Array.from({ length: 40 }, (_, r) => `restaurant:${r}`);
    for (let n = 0; n < 25; n++) {
      await Promise.all(rooms.map((room) => publisher.publish(event(room, n))));
    }
    await waitFor('1,000 rows', async () => (await rowsOf(table)).length === 1000, LONG);

    const rows = await rowsOf(table);
    expect(new Set(rows.map((row) => row.id)).size).toBe(1000);
    for (const [room, ns] of ordersByRoom(rows)) {
      expect(ns, room).toEqual(Array.from({ length: 25 }, (_, n) => n));
    }
    // Each room's entries all in one partition, and every partition used.
    const used = new Set(rooms.map((room) => publisher.streamOf({ room })));
    expect(used.size).toBe(PARTITIONS);
    await waitFor('both workers to have acknowledged all', () => {
      const stats = workers.map((w) => w.stats());
      return stats[0]!.acknowledged + stats[1]!.acknowledged === 1000;
    });
    expect(workers.map((w) => w.stats().inserted).reduce((a, b) => a + b)).toBe(1000);
    expect(logger.lines.join('\n')).toMatch(
      new RegExp(`persisting stream ${stream} in ${PARTITIONS} partitions .*from redis cluster`),
    );
    expect(await redis.get(partitionCountKey(stream))).toBe(String(PARTITIONS));
  });

  it('claims what a dead consumer left in every partition, and dead-letters per partition', async () => {
    const { stream, group, table } = names('claims');
    const streams = partitionStreams(stream, PARTITIONS);
    const publisher = publisherOf(stream);
    for (const name of streams) await redis.xgroup('CREATE', name, group, '0', 'MKSTREAM');
    for (let n = 0; n < 60; n++) await publisher.publish(event(`restaurant:${n}`, n));
    // A consumer takes every entry and dies without acknowledging any.
    for (const name of streams) {
      await redis.xreadgroup('GROUP', group, 'dead', 'COUNT', 1000, 'STREAMS', name, '>');
    }
    // An entry that can never be written, in two partitions.
    await redis.xadd(streams[1]!, '*', 'e', 'not json');
    await redis.xadd(streams[4]!, '*', 'e', '{"id":"no-type"}');

    const worker = startWorker({ stream, group, table, claimMinIdleMs: 300, claimIntervalMs: 100 });
    await waitFor('60 rows', async () => (await rowsOf(table)).length === 60, LONG);
    await waitFor(
      'nothing pending',
      async () => {
        const pending = await Promise.all(
          streams.map(async (name) => Number(((await redis.xpending(name, group)) as [number])[0])),
        );
        return pending.every((count) => count === 0);
      },
      LONG,
    );
    expect(worker.stats().claimed).toBe(60);
    expect(worker.stats().deadLettered).toBe(2);
    const dead = deadLetterStreams(`${stream}:dead`, PARTITIONS);
    const letters = await Promise.all(dead.map((name) => redis.xrange(name, '-', '+')));
    expect(letters.map((entries) => entries.length)).toEqual([0, 1, 0, 0, 1, 0]);
    const source = (i: number) => {
      const fields = letters[i]![0]![1];
      return fields[fields.indexOf('source_stream') + 1];
    };
    expect([source(1), source(4)]).toEqual([streams[1], streams[4]]);
  });

  it('logs when publishers and workers disagree on the number of partitions', async () => {
    const { stream, group, table } = names('mismatch');
    const workerLog = recordingLogger();
    startWorker({ stream, group, table, partitions: 3, logger: workerLog });
    await waitFor(
      'the count recorded',
      async () => (await redis.get(partitionCountKey(stream))) === '3',
    );
    const publisherLog = recordingLogger();
    const publisher = createEventPublisher({
      redis: cluster.url,
      stream,
      partitions: 2,
      logger: publisherLog,
    });
    cleanups.push(() => publisher.close());
    await publisher.publish(event('restaurant:1', 1));
    await waitFor('the publisher to say so', () =>
      publisherLog.lines.some((line) => line.includes('BANCADA_WORKER_PARTITIONS_MISMATCH')),
    );
    const secondLog = recordingLogger();
    startWorker({ stream, group, table, partitions: 4, logger: secondLog });
    await waitFor('the second worker to say so', () =>
      secondLog.lines.some((line) => /PARTITIONS_MISMATCH.*4 partition.*says 3/.test(line)),
    );
    expect(workerLog.lines.join('\n')).not.toContain('MISMATCH');
  });
});

describe("the README's Redis Cluster example", () => {
  it("runs as pasted: orders go to their room's partition and reach the table", async () => {
    const code = readmeCode(README, '## Redis Cluster');
    const app = await runReadmeApp(PACKAGE, code, {
      sources: { '@bancada/worker': `${PACKAGE}src/index.ts` },
      env: { REDIS_URL: cluster.url, DATABASE_URL: db.url },
    });
    const answers = await Promise.all(
      [1, 2, 3, 1].map(async (restaurantId) => {
        const response = await fetch(`${app.url}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ restaurantId, total: 26 }),
        });
        expect(response.status).toBe(202);
        return (await response.json()) as { id: string; stream: string };
      }),
    );
    const streams = partitionStreams('realtime:events', 6);
    for (const { stream } of answers) expect(streams).toContain(stream);
    expect(answers[3]!.stream).toBe(answers[0]!.stream);
    await waitFor(
      'the 4 orders in the table',
      async () => {
        const stats = (await (await fetch(`${app.url}/worker`)).json()) as { inserted: number };
        return stats.inserted === 4;
      },
      LONG,
    );
    const { rows } = await sql.query('SELECT id FROM realtime_events');
    expect(rows.map((row) => row.id).sort()).toEqual(answers.map((a) => a.id).sort());
  }, 60_000);
});

describe('bancada-worker on a Redis Cluster', () => {
  it('persists a partitioned stream from REDIS_URL=redis-cluster://… and --partitions', async () => {
    const scripts = await bundleWorkerScripts();
    cleanups.push(() => scripts.remove());
    const { stream, table } = names('cli');
    const cli = runNode(scripts.cli, ['--partitions', '3', '--batch-timeout-ms', '50'], {
      REDIS_URL: cluster.url,
      DATABASE_URL: db.url,
      BANCADA_WORKER_STREAM: stream,
      BANCADA_WORKER_TABLE: table,
    });
    cleanups.push(async () => {
      cli.process.kill('SIGTERM');
      await cli.exited;
    });
    const publisher = publisherOf(stream, 3);
    for (let n = 0; n < 30; n++) await publisher.publish(event(`restaurant:${n % 5}`, n));
    await waitFor('30 rows', async () => (await rowsOf(table)).length === 30, LONG).catch(
      (error: Error) => {
        throw new Error(`${error.message}\n${cli.stdout}\n${cli.stderr}`);
      },
    );
    expect(cli.stdout).toMatch(
      new RegExp(`persisting stream ${stream} in 3 partitions .*from redis cluster`),
    );
  }, 60_000);
});

describe('a master failover under a stream being written', () => {
  // Last in the file: it kills a master of the shared cluster.
  it('resumes by itself, loses only what Redis had not replicated, and writes nothing twice', async () => {
    const { stream, group, table } = names('failover');
    const streams = partitionStreams(stream, PARTITIONS);
    const logger = recordingLogger();
    const worker = startWorker({ stream, group, table, logger, statsIntervalMs: 200 });
    const publisher = publisherOf(stream);
    // 20 rooms, each publishing one event every 100 ms (about 200 events/s), one at a time.
    const acked = new Map<string, number>();
    let failed = 0;
    let running = true;
    const rooms = Array.from({ length: 20 }, (_, r) => `restaurant:${r}`);
    const publishing = rooms.map(async (room) => {
      for (let n = 0; running; n++) {
        const e = event(room, n);
        await publisher.publish(e).then(
          () => acked.set(e.id, Date.now()),
          () => failed++,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    await waitFor('events before the failover', () => acked.size >= 200, LONG);
    const victim = await cluster.masterOf(streams[0]!);
    // Degraded while the partitions of the killed master fail (the Cluster client stays ready).
    let sawDegraded = false;
    const watch = setInterval(() => {
      sawDegraded ||= worker.stats().degraded;
    }, 10);
    const killedAt = Date.now();
    await cluster.failover(victim);
    const promotedAt = Date.now();
    const ackedBefore = acked.size;
    await waitFor('events after the failover', () => acked.size >= ackedBefore + 200, LONG);
    running = false;
    await Promise.all(publishing);
    clearInterval(watch);
    expect(sawDegraded).toBe(true);

    const afterPromotion = [...acked].filter(([, at]) => at > promotedAt).map(([id]) => id);
    await waitFor(
      'every event acknowledged after the promotion in the table',
      async () => {
        const ids = new Set((await rowsOf(table)).map((row) => row.id));
        return afterPromotion.every((id) => ids.has(id));
      },
      LONG,
    );
    await waitFor(
      'the worker to be idle',
      () => {
        const stats = worker.stats();
        return stats.pending === 0 && stats.held === 0 && !stats.degraded;
      },
      LONG,
    );
    const rows = await rowsOf(table);
    const ids = new Set(rows.map((row) => row.id));
    expect(ids.size).toBe(rows.length);
    for (const [room, ns] of ordersByRoom(rows)) {
      expect(
        ns.every((n, i) => i === 0 || n > ns[i - 1]!),
        room,
      ).toBe(true);
    }
    const lines = logger.lines.join('\n');
    expect(lines).toMatch(/redis unavailable for [12] of 6 partitions/);
    expect(lines).toContain('redis is back; reading again');
    const lost = [...acked.keys()].filter((id) => !ids.has(id));
    console.info(
      `failover: ${acked.size} events acknowledged by Redis, ${failed} publishes refused ` +
        `during ${promotedAt - killedAt} ms of failover; ${lost.length} acknowledged events ` +
        `lost (XADDed to the killed master before it replicated them); ` +
        `${worker.stats().duplicates} redelivered entries skipped as duplicates`,
    );
    // Whatever is lost was acknowledged just before the kill, never after the promotion.
    for (const id of lost) expect(acked.get(id)!).toBeLessThan(promotedAt);
  }, 120_000);
});

/** The slot a partition's name maps to, by its hash tag. */
function slotOfTag(name: string): number {
  return keySlot(name.slice(name.indexOf('{') + 1, name.indexOf('}')));
}
