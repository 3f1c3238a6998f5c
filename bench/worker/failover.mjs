// What a Redis Cluster master failover costs the persistence worker: two workers (in this
// process, @bancada/worker's build) persist a stream of 6 partitions from a local cluster of
// 3 masters and 3 replicas while 60 rooms publish as fast as they can (each room one event at
// a time, in order); the master of partition 0 is SIGKILLed mid-stream. Per round: events
// acknowledged by Redis, publishes refused, how long the killed master's partitions took no
// writes, how long until the workers wrote them again, acknowledged events lost (XADDed to the
// master before it replicated them), redelivered entries skipped, rooms out of order.
//
//   npm run build && node bench/worker/failover.mjs             # 3 rounds, about 1 minute
//   node bench/worker/failover.mjs --rounds=1
//
// The cluster (the machine's redis-server, free ports) and the database (on DATABASE_URL's
// server, default 127.0.0.1:5432) are the run's own, stopped and dropped at the end.
import { createEventPublisher, createPersistenceWorker, partitionStreams } from '@bancada/worker';
import { Cluster } from 'ioredis';
import pg from 'pg';
import {
  createPrivateDatabase,
  startPrivateRedisCluster,
} from '../../examples/pdv-app/scripts/cluster.mjs';
import { median } from '../lib/measure.mjs';

const PARTITIONS = 6;
const ROOMS = 60;
const BEFORE_KILL_MS = 3000;
const AFTER_KILL_MS = 7000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what, ms, condition) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** The longest gap between consecutive times in `times` that ends after `since`, ms. */
function longestPause(times, since) {
  const sorted = [...times].sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] > since) longest = Math.max(longest, sorted[i] - sorted[i - 1]);
  }
  return Math.round(longest);
}

/** The master serving `key`'s slot now, by port (CLUSTER SLOTS of a live node). */
async function masterPortOf(client, key) {
  const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
  const ranges = await client.call('CLUSTER', 'SLOTS');
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  return Number(range[2][1]);
}

async function round(n) {
  const redis = await startPrivateRedisCluster({ log: () => {} });
  const database = await createPrivateDatabase({ prefix: 'bench_worker_failover' });
  const sql = new pg.Pool({ connectionString: database.url, max: 2 });
  const admin = new Cluster(redis.ports.map((port) => ({ host: '127.0.0.1', port })));
  admin.on('error', () => {});
  const stream = 'bench:events';
  const streams = partitionStreams(stream, PARTITIONS);
  const workers = [1, 2].map((i) =>
    createPersistenceWorker({
      redis: redis.url,
      connectionString: database.url,
      stream,
      partitions: PARTITIONS,
      consumer: `worker-${i}`,
      batchSize: 500,
      batchTimeoutMs: 50,
      backoffMs: [50, 500],
      statsIntervalMs: 200,
      logger: false,
    }),
  );
  const publisher = createEventPublisher({
    redis: redis.url,
    stream,
    partitions: PARTITIONS,
    logger: false,
  });
  try {
    for (const worker of workers) worker.start();
    const victim = await masterPortOf(admin, streams[0]);
    // Partitions whose master is the victim: their writes stop at the kill.
    const hit = new Set();
    for (const name of streams) if ((await masterPortOf(admin, name)) === victim) hit.add(name);

    const acked = new Map(); // id -> { at, stream }
    let refused = 0;
    let running = true;
    let killedAt = Number.POSITIVE_INFINITY;
    const publishing = Array.from({ length: ROOMS }, async (_, r) => {
      const room = `restaurant:${r}`;
      for (let i = 0; running; i++) {
        const event = { eventType: 'order-created', id: `${room}/${i}`, room, payload: { i } };
        try {
          const { stream: target } = await publisher.publish(event);
          acked.set(event.id, { at: Date.now(), stream: target });
        } catch {
          refused++;
          await sleep(10); // a refused publish: Redis is failing over; do not spin
        }
      }
    });
    await sleep(BEFORE_KILL_MS);
    const ackedBeforeKill = acked.size;
    killedAt = Date.now();
    await redis.kill(victim);
    await sleep(AFTER_KILL_MS);
    running = false;
    await Promise.all(publishing);

    // Caught up: nothing pending or held, and the table no longer growing.
    let count = -1;
    await waitUntil('the workers to catch up', 60_000, async () => {
      await sleep(500);
      const { rows } = await sql.query('SELECT count(*)::int AS n FROM realtime_events');
      const idle = workers.every((w) => {
        const s = w.stats();
        return s.pending === 0 && s.lag === 0 && s.held === 0 && !s.degraded;
      });
      const settled = idle && rows[0].n === count;
      count = rows[0].n;
      return settled;
    });
    const { rows } = await sql.query(
      `SELECT id, room, (payload->>'i')::int AS i, stream_id,
              extract(epoch from inserted_at) * 1000 AS inserted
         FROM realtime_events`,
    );
    const stored = new Map(rows.map((row) => [row.id, row]));
    const lost = [...acked].filter(([id]) => !stored.has(id));
    // The longest pause around the kill in the killed master's partitions: between two
    // acknowledged XADDs, and between two rows written from them.
    const hitAcks = [...acked.values()].filter((a) => hit.has(a.stream)).map((a) => a.at);
    const hitRows = rows
      .filter((row) => hit.has(acked.get(row.id)?.stream))
      .map((row) => Number(row.inserted));
    let outOfOrder = 0;
    const byRoom = new Map();
    for (const row of rows) byRoom.set(row.room, [...(byRoom.get(row.room) ?? []), row]);
    for (const list of byRoom.values()) {
      list.sort((a, b) => {
        const [am, as] = a.stream_id.split('-').map(Number);
        const [bm, bs] = b.stream_id.split('-').map(Number);
        return am - bm || as - bs;
      });
      for (let k = 1; k < list.length; k++) if (list[k].i < list[k - 1].i) outOfOrder++;
    }
    const result = {
      round: n,
      ratePerS: Math.round(ackedBeforeKill / (BEFORE_KILL_MS / 1000)),
      acked: acked.size,
      refused,
      writesStoppedMs: longestPause(hitAcks, killedAt),
      workersBackMs: longestPause(hitRows, killedAt),
      lost: lost.length,
      // When Redis acknowledged the lost events, relative to the SIGKILL (+: after it was sent,
      // answers already on their way).
      lostFromMs: lost.length ? Math.min(...lost.map(([, { at }]) => at - killedAt)) : 0,
      lostToMs: lost.length ? Math.max(...lost.map(([, { at }]) => at - killedAt)) : 0,
      duplicatesSkipped: workers.reduce((sum, w) => sum + w.stats().duplicates, 0),
      outOfOrder,
    };
    console.log(
      `round ${n}: ${result.ratePerS} events/s before the kill; ${result.acked} acknowledged, ` +
        `${result.refused} refused; the killed master's ${hit.size} partitions took no write for ` +
        `${result.writesStoppedMs} ms, and the workers wrote none of them for ${result.workersBackMs} ms; ` +
        `${result.lost} acknowledged events lost` +
        (result.lost
          ? ` (acknowledged from ${result.lostFromMs} to ${result.lostToMs} ms of the kill)`
          : '') +
        `; ${result.duplicatesSkipped} redelivered entries skipped; ${result.outOfOrder} rows out of order`,
    );
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await publisher.close();
    admin.disconnect();
    await sql.end();
    await redis.stop();
    await database.drop();
  }
}

export async function run(args = process.argv.slice(2)) {
  const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 3);
  const results = [];
  for (let n = 1; n <= rounds; n++) results.push(await round(n));
  const med = (key) => median(results.map((r) => r[key]));
  console.log(
    `\nmedian of ${rounds}: ${med('ratePerS')} events/s; writes to the killed master's ` +
      `partitions stopped ${med('writesStoppedMs')} ms, the workers' writes of them ${med('workersBackMs')} ms; ` +
      `lost ${results.map((r) => r.lost).join(', ')} acknowledged events; ` +
      `out of order ${results.map((r) => r.outOfOrder).join(', ')}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const watchdog = setTimeout(() => {
    console.error('bench: over 3 minutes, giving up');
    process.exit(1);
  }, 180_000);
  watchdog.unref();
  await run();
}
