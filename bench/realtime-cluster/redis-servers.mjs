// The Redis servers of bench/realtime-cluster/run.mjs: one redis-server alone and three as a
// Redis Cluster (3 masters, no replicas), each on a free port in a temporary folder, and what
// the run reads from them (their CPU, which master owns a channel). Small process helpers too.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function until(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** CPU seconds a process has used (user + system), from /proc. */
export function cpuOf(pid) {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
export function machineBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  return [0, 1, 2, 5, 6, 7].reduce((s, i) => s + Number(f[i]), 0) / 100;
}

/** A Redis server's own CPU seconds (INFO cpu). */
export async function redisCpu(client) {
  const info = await client.info('cpu');
  const num = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return num('used_cpu_sys') + num('used_cpu_user');
}

/** A redis-server of ours, in its own folder under `root`; `extra` for cluster mode. */
export async function startRedis(root, extra = []) {
  const port = await freePort();
  const dir = join(root, String(port));
  mkdirSync(dir);
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    ...extra,
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const client = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  client.on('error', () => {});
  await until(`redis-server on ${port}`, async () => (await client.ping()) === 'PONG', 10_000);
  return { port, child, client };
}

/**
 * Three redis-servers made into a cluster (3 masters, no replicas). Returns the nodes, the
 * seed list `h:p,h:p,h:p` and `ownerOf(channel)`: the port of the master serving its slot.
 */
export async function startCluster(root) {
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startRedis(root, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']),
    );
  }
  const seeds = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  const create = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...seeds.split(','), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (create.status !== 0) {
    for (const n of nodes) stopRedis(n);
    throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  }
  await until('the cluster to serve every slot', async () => {
    for (const n of nodes)
      if (!(await n.client.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
    return true;
  });
  const slots = await nodes[0].client.call('CLUSTER', 'SLOTS');
  const ownerOf = (channel) => {
    const slot = calculateSlot(channel);
    return slots.find(([from, to]) => slot >= from && slot <= to)[2][1];
  };
  return { nodes, seeds, ownerOf };
}

export function stopRedis(server) {
  server.client.disconnect();
  server.child.kill('SIGKILL');
}
