// What a Redis Cluster master failover costs @bancada/limits and a lease (@bancada/jobs'
// everyOnce): a private 6-node cluster (3 masters, 3 replicas, cluster-node-timeout 1000 ms)
// from the machine's redis-server, two instances of each, and the master that owns their keys
// killed (SIGKILL) mid-traffic. Times are from the kill.
//   npm run bench -- limits-failover            (about 30 s)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { everyOnce } from '@bancada/jobs';
import { connectionLimit } from '@bancada/limits';
import { Redis } from 'ioredis';
import { fmt, percentile } from '../lib/measure.mjs';

const NODE_TIMEOUT_MS = 1000;
const AFTER_KILL_MS = 10_000;

export async function run() {
  const cluster = await startCluster();
  try {
    await measure(cluster);
  } finally {
    await cluster.stop();
  }
}

async function measure(cluster) {
  const prefix = `bench:failover:${process.pid}:`;
  const ip = '10.1.2.3';
  const limitKey = `${prefix}ip:${ip}`;
  const victim = await cluster.masterOf(limitKey);
  // A job whose keys live on the same master.
  let job = 'failover-0';
  for (let i = 1; (await cluster.masterOf(`{jobs:${job}}`)) !== victim; i++) job = `failover-${i}`;

  const gates = [0, 1].map(() =>
    connectionLimit({
      redis: cluster.url,
      prefix,
      logger: false,
      maxPerIp: 1_000_000,
      maxTotal: 1_000_000,
    }),
  );
  const jobs = [0, 1].map((i) =>
    everyOnce(job, 1000, () => {}, {
      redis: cluster.url,
      leaseMs: 1000,
      instanceId: `instance-${i}`,
      logger: false,
    }),
  );
  const req = { headers: {}, socket: { remoteAddress: ip } };
  const samples = []; // { at, ms, degraded }
  const leaders = []; // { at, count }
  let killedAt = Number.POSITIVE_INFINITY;
  let stop = false;
  const traffic = gates.map(async (gate) => {
    while (!stop) {
      const start = performance.now();
      const lease = await gate.acquire(req);
      const ms = performance.now() - start;
      if (!('status' in lease)) lease.release();
      samples.push({ at: start - killedAt, ms, degraded: gate.stats().degraded });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  const watch = setInterval(() => {
    leaders.push({
      at: performance.now() - killedAt,
      count: jobs.filter((j) => j.stats().leader).length,
    });
  }, 5);
  await waitUntil('a job leader', 20_000, async () => jobs.some((j) => j.stats().leader));
  await new Promise((resolve) => setTimeout(resolve, 2000));

  killedAt = performance.now();
  victim.kill();
  let promotedAt;
  await waitUntil('a replica to take over', 30_000, async () => {
    const owner = await cluster.masterOf(limitKey).catch(() => victim);
    if (owner !== victim && promotedAt === undefined) promotedAt = performance.now() - killedAt;
    return promotedAt !== undefined;
  });
  await new Promise((resolve) =>
    setTimeout(resolve, AFTER_KILL_MS - (performance.now() - killedAt)),
  );
  stop = true;
  clearInterval(watch);
  await Promise.all(traffic);

  const after = samples.filter((s) => s.at >= 0);
  const degraded = after.filter((s) => s.degraded);
  const lastDegraded = degraded.at(-1)?.at;
  const slowest = after.reduce((max, s) => Math.max(max, s.ms), 0);
  const during = after.filter((s) => lastDegraded !== undefined && s.at <= lastDegraded);
  const latencies = during.map((s) => s.ms).sort((a, b) => a - b);
  const leaderless = leaders.filter((l) => l.at >= 0 && l.count === 0);
  const twoAtOnce = leaders.filter((l) => l.count > 1).length;
  const lines = [
    `Redis Cluster master failover, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, cluster-node-timeout ${NODE_TIMEOUT_MS} ms`,
    '',
    '| what | measured |',
    '|---|---:|',
    `| replica promoted (CLUSTER SLOTS), ms after the kill | ${fmt(promotedAt)} |`,
    `| connection limiter degraded (counting per instance), from / until, ms | ${fmt(degraded[0]?.at)} / ${fmt(lastDegraded)} |`,
    `| acquires while degraded, both instances | ${degraded.length} of ${during.length} |`,
    `| acquire latency until shared again, p50 / p99 / max ms | ${fmt(percentile(latencies, 50))} / ${fmt(percentile(latencies, 99))} / ${fmt(slowest)} |`,
    `| lease (everyOnce): no leader, from / until, ms | ${fmt(leaderless[0]?.at)} / ${fmt(leaderless.at(-1)?.at)} |`,
    `| lease: samples (every 5 ms) with two leaders at once | ${twoAtOnce} |`,
  ];
  console.log(lines.join('\n'));
  await Promise.all([...gates.map((g) => g.close()), ...jobs.map((j) => j.stop())]);
}

/** 6 redis-server processes formed into a cluster with redis-cli, on free ports. */
async function startCluster() {
  const dir = await mkdtemp(join(tmpdir(), 'bench-cluster-'));
  const nodes = [];
  for (let i = 0; i < 6; i++) {
    const port = await freePort();
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
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
        '--cluster-replica-validity-factor',
        '0',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    nodes.push({ port, child, kill: () => child.kill('SIGKILL') });
  }
  const stop = async () => {
    for (const node of nodes) node.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const node of nodes) await waitUntil(`node ${node.port}`, 10_000, () => ask(node, 'PING'));
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await waitUntil('every slot served', 30_000, async () => {
      for (const node of nodes)
        if (!String(await ask(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      return true;
    });
    const masters = async () => new Set((await slots()).map(([, , [, port]]) => port));
    const slots = async () => {
      for (const node of nodes) {
        if (node.child.exitCode !== null || node.child.signalCode !== null) continue;
        const reply = await ask(node, 'CLUSTER', 'SLOTS');
        if (reply) return reply;
      }
      throw new Error('no node answers');
    };
    await waitUntil('every replica in sync', 30_000, async () => {
      const ports = await masters();
      for (const node of nodes) {
        if (ports.has(node.port)) continue;
        if (!String(await ask(node, 'INFO', 'replication')).includes('master_link_status:up'))
          return false;
      }
      return true;
    });
    return {
      url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
      async masterOf(key) {
        const slot = Number(
          await ask(
            nodes.find((n) => n.child.exitCode === null && n.child.signalCode === null),
            'CLUSTER',
            'KEYSLOT',
            key,
          ),
        );
        const range = (await slots()).find(([from, to]) => slot >= from && slot <= to);
        return nodes.find((n) => n.port === range[2][1]);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One command to one node on a throw-away connection; undefined if it does not answer. */
async function ask(node, ...command) {
  const client = new Redis(node.port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(...command);
  } catch {
    return undefined;
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

async function waitUntil(what, timeoutMs, condition) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
