// @bancada/cache on a Redis Cluster against raw ioredis Cluster, in one process and one run,
// on the same cluster. Values: 200-byte JSON objects over 1,000 keys (spread over the masters).
//   npm run bench -- cache-cluster           (starts its own 3-master cluster; about 40 s)
//   npm run bench -- cache-cluster --quick   (fewer operations, for a smoke run)
//   REDIS_CLUSTER_URL=redis-cluster://h:p,h:p npm run bench -- cache-cluster   (a cluster of yours)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCache } from '@bancada/cache';
import { Cluster, Redis } from 'ioredis';
import { concurrentThroughput, fmt, interleavedLatency, nsPerOp } from '../lib/measure.mjs';

const KEYS = 1000;
const TTL_SECONDS = 600;
const MASTERS = 3;

function value(i) {
  // ~200 bytes of JSON, like an order summary (as bench/cache).
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
  const own = process.env.REDIS_CLUSTER_URL ? undefined : await startCluster();
  try {
    await measure(process.env.REDIS_CLUSTER_URL ?? own.url, quick);
  } finally {
    own?.stop();
  }
}

async function measure(url, quick) {
  const prefix = `bench:cache-cluster:${process.pid}:`;
  const keys = Array.from({ length: KEYS }, (_, i) => `order:${i}`);
  const keyAt = (i) => keys[i % KEYS];
  const sizes = quick
    ? { hitOps: 100_000, hitRounds: 3, latencyOps: 2_000, tputOps: 20_000, tputRounds: 2 }
    : { hitOps: 1_000_000, hitRounds: 5, latencyOps: 10_000, tputOps: 100_000, tputRounds: 3 };

  const seeds = url
    .replace(/^redis-cluster:\/\//, '')
    .split(',')
    .map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) }));
  const raw = new Cluster(seeds);
  const silent = { info() {}, warn() {}, error() {} };
  const oursTwoTier = createCache({ redis: url, prefix: `${prefix}ours:`, logger: silent });
  const oursRedisOnly = createCache({
    redis: url,
    prefix: `${prefix}ours:`,
    l1: false,
    logger: silent,
  });
  // Its own prefix: writes under the two-tier cache's would reach that cache's subscribers, in
  // this same process, as invalidations.
  const oursWriter = createCache({
    redis: url,
    prefix: `${prefix}writes:`,
    l1: false,
    logger: silent,
  });
  const rawKey = (key) => `${prefix}raw:${key}`;

  for (const cache of [oursTwoTier, oursRedisOnly, oursWriter]) {
    do await cache.get('warm-up');
    while (cache.getStats().degraded && (await sleep(50)) === undefined);
  }
  for (let i = 0; i < KEYS; i++) {
    const v = value(i);
    await raw.set(rawKey(keys[i]), JSON.stringify(v), 'EX', TTL_SECONDS);
    await oursTwoTier.set(keys[i], v, TTL_SECONDS);
  }
  // Warm the local tier (every master's tracking must be up for a key to be kept).
  for (let tries = 0; oursTwoTier.getStats().l1.size < KEYS && tries < 100; tries++) {
    for (let i = 0; i < KEYS; i++) await oursTwoTier.get(keys[i]);
    await sleep(20);
  }

  const rows = [];
  const row = (operation, name, cells) => rows.push({ operation, name, ...cells });

  // 1. Local hits: what the per-node trust check costs a hit (none while every node is trusted).
  const hits = await nsPerOp(
    [
      {
        name: 'bancada on the cluster, L1 hit',
        loop: async (n) => {
          for (let i = 0; i < n; i++) await oursTwoTier.get(keyAt(i));
        },
      },
    ],
    { ops: sizes.hitOps, rounds: sizes.hitRounds },
  );
  for (const [name, ns] of Object.entries(hits)) row('L1 hit', name, { ns, vsBase: 1, base: '' });
  if (oursTwoTier.getStats().l1.hits < sizes.hitOps) {
    throw new Error('the L1 row did not hit L1: the bench is wrong');
  }

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

  // 2. Gets from the cluster (no local tier).
  await compare('get', [
    {
      name: 'ioredis Cluster GET + JSON.parse',
      op: async (key) => JSON.parse(await raw.get(rawKey(key))),
    },
    { name: 'bancada (l1: false)', op: (key) => oursRedisOnly.get(key) },
  ]);

  // 3. Sets; ours keeps every other instance coherent through each master's tracking.
  let counter = 0;
  await compare('set', [
    {
      name: 'ioredis Cluster SET PX (no invalidation)',
      op: (key) => raw.set(rawKey(key), JSON.stringify(value(counter++)), 'PX', TTL_SECONDS * 1000),
    },
    {
      name: 'bancada (l1: false)',
      op: (key) => oursWriter.set(key, value(counter++), TTL_SECONDS),
    },
    {
      name: 'bancada two-tier (tracking, keeps a local copy)',
      op: (key) => oursTwoTier.set(key, value(counter++), TTL_SECONDS),
    },
  ]);

  printTable(rows, { quick, masters: raw.nodes('master').length });
  if (oursTwoTier.getStats().errors > 0 || oursRedisOnly.getStats().errors > 0) {
    console.log('(the cache counted errors during the run: the figures are suspect)');
  }

  await oursTwoTier.clear();
  await oursTwoTier.close();
  await oursRedisOnly.close();
  await oursWriter.clear();
  await oursWriter.close();
  for (const node of raw.nodes('master')) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) await node.unlink(key);
    } while (cursor !== '0');
  }
  raw.disconnect();
}

function printTable(rows, { quick, masters }) {
  const lines = [
    `Cache on a Redis Cluster (${masters} masters, loopback), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}${quick ? ' (quick run)' : ''}`,
    '',
    '| operation | implementation | ns/op | p50 µs | p99 µs | ops/s | ratio |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.operation} | ${r.name} | ${r.ns === undefined ? '' : fmt(r.ns)} | ${r.p50 === undefined ? '' : fmt(r.p50)} | ${r.p99 === undefined ? '' : fmt(r.p99)} | ${r.opsPerSec === undefined ? '' : fmt(r.opsPerSec)} | ${r.base ? `${fmt(r.vsBase, 3)}x ${r.base}` : ''} |`,
    );
  }
  console.log(lines.join('\n'));
}

/** Starts 3 masters (no replicas: nothing fails over here) from the machine's redis-server. */
async function startCluster() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cache-cluster-'));
  const ports = [];
  const children = [];
  const stop = () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < MASTERS; i++) {
      const port = await freePort();
      ports.push(port);
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
    }
    for (const port of ports) await until(`redis-server on ${port}`, () => answers(port));
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create: ${create.stdout}`);
    await until('every slot to be served', async () => {
      for (const port of ports) {
        const client = new Redis(port, '127.0.0.1', { lazyConnect: true });
        try {
          await client.connect();
          if (!String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
            return false;
          }
        } finally {
          client.disconnect();
        }
      }
      return true;
    });
  } catch (error) {
    stop();
    throw error;
  }
  return { url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, stop };
}

async function until(what, condition) {
  const deadline = Date.now() + 20_000;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
    await sleep(50);
  }
}

async function answers(port) {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
