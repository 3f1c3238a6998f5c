import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { type PrivateRedis, startRedis } from './private-redis.js';
import { linkUp } from './private-sentinel.js';
import { waitFor } from './wait-for.js';

/** A node of a private Redis Cluster, as the test sees it. */
export interface ClusterNode {
  readonly server: PrivateRedis;
  readonly port: number;
}

/** A local Redis Cluster of the test's own: to kill masters of, and to fail over. */
export interface PrivateCluster {
  /** Every node, masters and replicas: what a client takes as its seed list. */
  readonly nodes: readonly ClusterNode[];
  /** The seed list in the kit's URL form: `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…`. */
  readonly url: string;
  /** ioredis's form of the seed list. */
  readonly seeds: Array<{ host: string; port: number }>;
  /** The nodes that are masters now (asked of a live node). */
  masters(): Promise<ClusterNode[]>;
  /** The master that serves the slot of `key` now. */
  masterOf(key: string): Promise<ClusterNode>;
  /**
   * Kills `node` as a crash would, and waits until a replica has taken over its slots and
   * every slot is served again. Resolves the new master.
   */
  failover(node: ClusterNode): Promise<ClusterNode>;
  /** Stops every node and removes their folders. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const REDIS_CLI = process.env.REDIS_CLI_BIN || 'redis-cli';

/**
 * Starts a local Redis Cluster from the machine's `redis-server` (each node a private server
 * on a free port, in its own folder) and forms it with `redis-cli --cluster create`: `masters`
 * masters with `replicas` replicas each, and a short `cluster-node-timeout` so that a killed
 * master is replaced within seconds. Resolves once every slot is served.
 */
export async function startCluster(
  options: { masters?: number; replicas?: number; nodeTimeoutMs?: number } = {},
): Promise<PrivateCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const servers = await Promise.all(
    Array.from({ length: masters * (1 + replicas) }, () => startClusterNode(nodeTimeoutMs)),
  );
  const nodes: ClusterNode[] = servers.map((server) => ({ server, port: server.port }));
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const create = spawnSync(
      REDIS_CLI,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0) {
      throw new Error(
        `redis-cli --cluster create failed (${create.error?.message ?? `exit ${create.status}`}): ${create.stdout}\n${create.stderr}`,
      );
    }
    await waitUntilServed(nodes, masters);
  } catch (error) {
    await stop();
    throw error;
  }
  const byPort = (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of this cluster listens on ${port}`);
    return node;
  };
  const cluster: PrivateCluster = {
    nodes,
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    async masters() {
      return (await shardsOf(nodes)).map((shard) => byPort(shard.port));
    },
    async masterOf(key) {
      const slot = await askAnyNode(nodes, (client) => client.call('CLUSTER', 'KEYSLOT', key));
      const shard = (await shardsOf(nodes)).find((s) =>
        s.slots.some(([from, to]) => Number(slot) >= from && Number(slot) <= to),
      );
      if (!shard) throw new Error(`no master serves the slot of ${key}`);
      return byPort(shard.port);
    },
    async failover(node) {
      const before = (await shardsOf(nodes)).find((s) => s.port === node.port);
      if (!before) throw new Error(`node ${node.port} is no master`);
      await node.server.kill();
      let promoted: ClusterNode | undefined;
      await waitFor(
        `a replica to take over from ${node.port}`,
        async () => {
          const shards = await shardsOf(nodes.filter((n) => n.server.isRunning)).catch(() => []);
          const taker = shards.find(
            (s) => s.port !== node.port && s.slots.some(([from]) => from === before.slots[0]![0]),
          );
          promoted = taker ? byPort(taker.port) : undefined;
          return promoted !== undefined && (await allSlotsServed(nodes));
        },
        30_000,
      );
      return promoted!;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return cluster;
}

interface Shard {
  port: number;
  slots: Array<[number, number]>;
}

/** The masters and their slot ranges, as a live node sees them (CLUSTER SLOTS). */
async function shardsOf(nodes: readonly ClusterNode[]): Promise<Shard[]> {
  const reply = (await askAnyNode(nodes, (client) => client.call('CLUSTER', 'SLOTS'))) as Array<
    [number, number, [string, number, ...unknown[]], ...unknown[]]
  >;
  const shards = new Map<number, Shard>();
  for (const [from, to, [, port]] of reply) {
    const shard = shards.get(port) ?? { port, slots: [] };
    shard.slots.push([from, to]);
    shards.set(port, shard);
  }
  return [...shards.values()];
}

async function askAnyNode<T>(
  nodes: readonly ClusterNode[],
  ask: (client: Redis) => Promise<T>,
): Promise<T> {
  let lastError: unknown = new Error('no node of the cluster is running');
  for (const node of nodes) {
    if (!node.server.isRunning) continue;
    const client = new Redis(node.port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return await ask(client);
    } catch (error) {
      lastError = error;
    } finally {
      client.disconnect();
    }
  }
  throw lastError;
}

/** True when every running node says the cluster is ok (all 16384 slots served). */
async function allSlotsServed(nodes: readonly ClusterNode[]): Promise<boolean> {
  for (const node of nodes) {
    if (!node.server.isRunning) continue;
    const info = await askAnyNode([node], (client) => client.call('CLUSTER', 'INFO')).catch(
      () => '',
    );
    if (!String(info).includes('cluster_state:ok')) return false;
  }
  return true;
}

async function waitUntilServed(nodes: readonly ClusterNode[], masters: number): Promise<void> {
  await waitFor(
    'the cluster to serve every slot',
    async () =>
      (await allSlotsServed(nodes)) && (await shardsOf(nodes).catch(() => [])).length === masters,
    30_000,
  );
  const shards = await shardsOf(nodes);
  const replicas = nodes.filter((n) => !shards.some((s) => s.port === n.port));
  await waitFor(
    'every replica to be in sync with its master',
    async () => {
      for (const replica of replicas) if (!(await linkUp(replica.port))) return false;
      return true;
    },
    30_000,
  );
}

/**
 * One node of a cluster. Its bus port is a free port of its own (`--cluster-port`), not Redis's
 * default of port + 10000, which may be taken by another test's server or lie beyond 65535;
 * a port taken between the choice and the bind costs a new pair, a few times at most.
 */
async function startClusterNode(nodeTimeoutMs: number): Promise<PrivateRedis> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startRedis({
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(await freePort()),
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          // A replica may take over at once, however long it was away from its master.
          '--cluster-replica-validity-factor',
          '0',
        ],
      });
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
