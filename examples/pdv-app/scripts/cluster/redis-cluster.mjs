// `npm run cluster -- --redis-cluster`: a Redis Cluster of our own (3 masters, 3 replicas) from
// the machine's redis-server, on free ports of 127.0.0.1, keeping nothing on disk but its
// nodes.conf files, in temporary folders removed by stop().
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { aptInstall, ClusterSetupError, findCommand } from './packages.mjs';
import { freePort, printLine, running, sleep, startChild, stopChild } from './processes.mjs';
import { redisAnswers } from './services.mjs';

/**
 * True when the node on `port` says every slot is served and knows `masters` masters and
 * `replicas` replicas (right after `--cluster create`, replicas show up as masters for a while).
 */
async function formedAt(port, masters, replicas) {
  const client = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    if (!String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
    const flags = String(await client.call('CLUSTER', 'NODES'))
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[2] ?? '');
    const count = (role) => flags.filter((f) => f.split(',').includes(role)).length;
    return count('master') === masters && count('slave') === masters * replicas;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Starts `masters` masters with `replicas` replicas each (a short cluster-node-timeout, so a
 * killed master is replaced within seconds) and forms the cluster with `redis-cli --cluster
 * create`. Resolves `{ url: 'redis-cluster://127.0.0.1:p1,…', ports, kill(port), stop() }` once every node
 * says every slot is served and knows every replica. redis-server (and redis-cli, which comes with it) are installed
 * with apt-get first when `install` is true.
 * @param {{ masters?: number, replicas?: number, install?: boolean, log?: (name: string, line: string) => void }} [options]
 */
export async function startPrivateRedisCluster({
  masters = 3,
  replicas = 1,
  install = false,
  log = printLine,
} = {}) {
  let server = findCommand('redis-server');
  if (server === undefined && install) {
    aptInstall('redis-server');
    server = findCommand('redis-server');
  }
  const cli = findCommand('redis-cli');
  if (server === undefined || cli === undefined) {
    throw new ClusterSetupError('redis-server is not installed: apt-get install redis-server');
  }
  const nodes = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => stopChild(node.proc, 'SIGTERM', 5000)));
    await Promise.all(nodes.map((node) => rm(node.dir, { recursive: true, force: true })));
  };
  try {
    // Each node's cluster bus gets a free port of its own: Redis's default, port + 10000, may
    // be taken or lie beyond 65535.
    const count = masters * (1 + replicas);
    const free = new Set();
    while (free.size < 2 * count) free.add(await freePort());
    const ports = [...free].slice(0, count);
    const busPorts = [...free].slice(count);
    for (const [i, port] of ports.entries()) {
      const dir = await mkdtemp(join(tmpdir(), 'pdv-redis-cluster-'));
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
      args.push('--cluster-port', String(busPorts[i]));
      args.push('--save', '', '--appendonly', 'no', '--loglevel', 'warning');
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf');
      // A replica takes over within seconds of its master's death, however long their link
      // was down (a local cluster: better a promoted replica than a cluster down for good).
      args.push('--cluster-node-timeout', '2000', '--cluster-replica-validity-factor', '0');
      const proc = startChild(`redis-${i + 1}`, server, args, { log });
      nodes.push({ port, dir, proc });
    }
    const deadline = Date.now() + 10_000;
    for (const node of nodes) {
      while (!(await redisAnswers(`redis://127.0.0.1:${node.port}`))) {
        if (Date.now() > deadline || !running.has(node.proc.child)) {
          throw new Error(
            `redis-server did not start on ${node.port}:\n${node.proc.tail.join('\n')}`,
          );
        }
        await sleep(50);
      }
    }
    const create = spawnSync(
      cli,
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0) {
      throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    }
    const formBy = Date.now() + 30_000;
    for (;;) {
      const formed = await Promise.all(nodes.map((n) => formedAt(n.port, masters, replicas)));
      if (formed.every(Boolean)) break;
      if (Date.now() > formBy) {
        throw new Error('the Redis Cluster did not serve every slot with its replicas in 30 s');
      }
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `redis-cluster://${nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`,
    ports: nodes.map((node) => node.port),
    /** SIGKILLs the node on `port`, as a crash would (for a failover). */
    async kill(port) {
      const node = nodes.find((n) => n.port === port);
      if (node) await stopChild(node.proc, 'SIGKILL', 1000);
    },
    stop,
  };
}
