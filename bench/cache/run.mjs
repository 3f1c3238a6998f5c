// @bancada/cache against raw lru-cache, raw ioredis and bentocache (with its bus), all in
// one process and one run, on the same Redis. Values: 200-byte JSON objects over 1,000 keys.
//   npm run bench -- cache            (REDIS_URL, default redis://127.0.0.1:6379)
//   npm run bench -- cache --quick    (fewer operations, for a smoke run)
import { createCache } from '@bancada/cache';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { concurrentThroughput, fmt, interleavedLatency, nsPerOp } from '../lib/measure.mjs';

const KEYS = 1000;
const TTL_SECONDS = 600;

function value(i) {
  // ~200 bytes of JSON, like an order summary.
  return {
    id: i,
    restaurant: 'r-0001',
    status: 'preparing',
    items: [
      { sku: 'coxinha', qty: 2 },
      { sku: 'guarana', qty: 1 },
    ],
    note: 'sem cebola, por favor'.padEnd(60, '.'),
    total: 4250,
  };
}

export async function run(args) {
  const quick = args.includes('--quick');
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bench:cache:${process.pid}:`;
  const keys = Array.from({ length: KEYS }, (_, i) => `order:${i}`);
  const keyAt = (i) => keys[i % KEYS];
  const sizes = quick
    ? { hitOps: 100_000, hitRounds: 3, latencyOps: 2_000, tputOps: 20_000, tputRounds: 2 }
    : { hitOps: 1_000_000, hitRounds: 7, latencyOps: 20_000, tputOps: 200_000, tputRounds: 5 };

  const redis = new Redis(url);
  const redisOptions = { host: redis.options.host, port: redis.options.port, db: redis.options.db };
  const silent = { info() {}, warn() {}, error() {} };

  // Ours: memory mode, two-tier (L1 + Redis, tracking), and Redis tier alone (l1: false).
  const oursMemory = createCache({ redis: false, logger: silent, l1: { maxEntries: 10_000 } });
  const oursTwoTier = createCache({ redis: url, prefix: `${prefix}ours:`, logger: silent });
  const oursRedisOnly = createCache({
    redis: url,
    prefix: `${prefix}ours:`,
    l1: false,
    logger: silent,
  });

  // bentocache configured alike: L1 memory without serialization (objects, as ours), L2 Redis,
  // and its Redis bus for cross-instance invalidation; and an L2-only store for the tier row.
  const bento = new BentoCache({
    default: 'tiered',
    logger: undefined,
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false }))
        .useL2Layer(redisDriver({ connection: redisOptions, prefix: `${prefix}bento` }))
        .useBus(redisBusDriver({ connection: redisOptions })),
      l2only: bentostore().useL2Layer(
        redisDriver({ connection: redisOptions, prefix: `${prefix}bento` }),
      ),
    },
  });
  const bentoTiered = bento.use('tiered');
  const bentoL2 = bento.use('l2only');

  const lru = new LRUCache({ max: 10_000 });
  const rawKey = (key) => `${prefix}raw:${key}`;

  // Fill every store with the same values.
  for (let i = 0; i < KEYS; i++) {
    const v = value(i);
    lru.set(keys[i], v);
    await redis.set(rawKey(keys[i]), JSON.stringify(v), 'EX', TTL_SECONDS);
    await oursMemory.set(keys[i], v, TTL_SECONDS);
    await oursTwoTier.set(keys[i], v, TTL_SECONDS);
    await bentoTiered.set({ key: keys[i], value: v, ttl: `${TTL_SECONDS}s` });
  }
  // Warm the local tiers so the hit rows measure hits.
  for (let i = 0; i < KEYS; i++) {
    await oursTwoTier.get(keys[i]);
    await bentoTiered.get({ key: keys[i] });
  }

  const rows = [];
  const row = (operation, name, cells) => rows.push({ operation, name, ...cells });

  // 1. Local hits.
  const lruAsync = async (key) => lru.get(key);
  const hits = await nsPerOp(
    [
      {
        name: 'lru-cache get (sync)',
        loop: (n) => {
          for (let i = 0; i < n; i++) lru.get(keyAt(i));
        },
      },
      {
        name: 'lru-cache get (awaited)',
        loop: async (n) => {
          for (let i = 0; i < n; i++) await lruAsync(keyAt(i));
        },
      },
      {
        name: 'bancada memory mode',
        loop: async (n) => {
          for (let i = 0; i < n; i++) await oursMemory.get(keyAt(i));
        },
      },
      {
        name: 'bancada two-tier, L1 hit',
        loop: async (n) => {
          for (let i = 0; i < n; i++) await oursTwoTier.get(keyAt(i));
        },
      },
      {
        name: 'bentocache L1 hit',
        loop: async (n) => {
          for (let i = 0; i < n; i++) await bentoTiered.get({ key: keyAt(i) });
        },
      },
    ],
    { ops: sizes.hitOps, rounds: sizes.hitRounds },
  );
  const awaitedLru = hits['lru-cache get (awaited)'];
  for (const [name, ns] of Object.entries(hits)) {
    row('L1 hit', name, { ns, vsBase: ns / awaitedLru, base: 'awaited lru-cache' });
  }
  const twoTierStats = oursTwoTier.getStats();
  if (twoTierStats.l1.hits < sizes.hitOps)
    throw new Error('two-tier rows did not hit L1: bench is wrong');

  // Each Redis row: one caller at a time (interleaved) and 50 concurrent callers, against raw.
  const compare = async (operation, impls) => {
    const base = impls[0].name;
    await interleavedLatency(impls, { ops: 1000, keyAt }); // warm-up
    const latency = await interleavedLatency(impls, { ops: sizes.latencyOps, keyAt });
    for (const [name, r] of Object.entries(latency)) {
      row(`${operation}, 1 caller`, name, {
        p50: r.p50,
        p99: r.p99,
        opsPerSec: r.opsPerSec,
        vsBase: r.p50 / latency[base].p50,
        base: 'raw p50',
      });
    }
    const throughput = await concurrentThroughput(impls, {
      ops: sizes.tputOps,
      concurrency: 50,
      rounds: sizes.tputRounds,
      keyAt,
    });
    for (const [name, opsPerSec] of Object.entries(throughput)) {
      row(`${operation}, 50 callers`, name, {
        opsPerSec,
        vsBase: opsPerSec / throughput[base],
        base: 'raw ops/s',
      });
    }
  };

  // 2. Redis-tier get (no local tier).
  await compare('get', [
    {
      name: 'ioredis GET + JSON.parse',
      op: async (key) => JSON.parse(await redis.get(rawKey(key))),
    },
    { name: 'bancada (l1: false)', op: (key) => oursRedisOnly.get(key) },
    { name: 'bentocache (L2 only)', op: (key) => bentoL2.get({ key }) },
  ]);

  // 3. Sets, with whatever each needs to keep other instances coherent.
  let counter = 0;
  await compare('set', [
    {
      name: 'ioredis SET PX (no invalidation)',
      op: (key) =>
        redis.set(rawKey(key), JSON.stringify(value(counter++)), 'PX', TTL_SECONDS * 1000),
    },
    {
      name: 'bancada two-tier (tracking)',
      op: (key) => oursTwoTier.set(key, value(counter++), TTL_SECONDS),
    },
    {
      name: 'bentocache L1+L2+bus',
      op: (key) => bentoTiered.set({ key, value: value(counter++), ttl: `${TTL_SECONDS}s` }),
    },
  ]);

  printTable(rows, { url, quick });

  await oursMemory.close();
  await oursTwoTier.clear();
  await oursTwoTier.close();
  await oursRedisOnly.close();
  await bento.clear().catch(() => {});
  await bento.disconnectAll();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
  redis.disconnect();
}

function printTable(rows, { url, quick }) {
  const lines = [];
  lines.push(
    `Cache benchmark, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, Redis at ${url.replace(/\/\/.*@/, '//')}${quick ? ' (quick run)' : ''}`,
  );
  lines.push('');
  lines.push('| operation | implementation | ns/op | p50 µs | p99 µs | ops/s | ratio |');
  lines.push('|---|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    lines.push(
      `| ${r.operation} | ${r.name} | ${r.ns === undefined ? '' : fmt(r.ns)} | ${r.p50 === undefined ? '' : fmt(r.p50)} | ${r.p99 === undefined ? '' : fmt(r.p99)} | ${r.opsPerSec === undefined ? '' : fmt(r.opsPerSec)} | ${fmt(r.vsBase, 3)}x ${r.base} |`,
    );
  }
  console.log(lines.join('\n'));
}
