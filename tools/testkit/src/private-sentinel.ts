import { Redis } from 'ioredis';
import { type PrivateRedis, startRedis } from './private-redis.js';
import { waitFor } from './wait-for.js';

/** A master with replicas watched by Sentinels, of the test's own: to fail over at will. */
export interface PrivateSentinel {
  readonly masterName: string;
  /** The data nodes: the first is the master at start. */
  readonly servers: readonly PrivateRedis[];
  readonly sentinels: readonly PrivateRedis[];
  /** The kit's URL form: `redis-sentinel://127.0.0.1:s1,127.0.0.1:s2,…/<masterName>`. */
  readonly url: string;
  /** ioredis's form of the Sentinel list. */
  readonly sentinelList: Array<{ host: string; port: number }>;
  /** The data node that the Sentinels name as master now. */
  master(): Promise<PrivateRedis>;
  /**
   * Kills the master as a crash would, and waits until the Sentinels have promoted a
   * replica. Resolves the new master.
   */
  failover(): Promise<PrivateRedis>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a master, `replicas` replicas and `sentinels` Sentinels (quorum: a majority), all
 * from the machine's `redis-server` on free ports, with a short down-after so that a killed
 * master is replaced within seconds. Resolves once every Sentinel knows every replica.
 */
export async function startSentinel(
  options: {
    masterName?: string;
    replicas?: number;
    sentinels?: number;
    downAfterMs?: number;
  } = {},
): Promise<PrivateSentinel> {
  const masterName = options.masterName ?? 'mymaster';
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const downAfterMs = options.downAfterMs ?? 1000;
  const started: PrivateRedis[] = [];
  const stop = async () => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    const master = await startRedis();
    started.push(master);
    const replicas = await Promise.all(
      Array.from({ length: replicaCount }, () =>
        startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] }),
      ),
    );
    started.push(...replicas);
    const quorum = Math.floor(sentinelCount / 2) + 1;
    const sentinels = await Promise.all(
      Array.from({ length: sentinelCount }, () =>
        startRedis({
          // A Sentinel rewrites its config file with what it learns: it must be a file.
          config: [
            `sentinel monitor ${masterName} 127.0.0.1 ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
            `sentinel failover-timeout ${masterName} ${Math.max(3000, downAfterMs * 3)}`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
          args: ['--sentinel'],
        }),
      ),
    );
    started.push(...sentinels);
    const servers = [master, ...replicas];
    const ask = (sentinel: PrivateRedis, ...args: string[]) => {
      const client = new Redis(sentinel.port, '127.0.0.1', {
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => {});
      return client.call('SENTINEL', ...args).finally(() => client.disconnect());
    };
    const masterPort = async (): Promise<number> => {
      for (const sentinel of sentinels) {
        if (!sentinel.isRunning) continue;
        const reply = (await ask(sentinel, 'get-master-addr-by-name', masterName).catch(
          () => null,
        )) as [string, string] | null;
        if (reply) return Number(reply[1]);
      }
      throw new Error('no Sentinel answered');
    };
    await waitFor(
      'every replica to be in sync with the master',
      async () => {
        for (const replica of replicas) if (!(await linkUp(replica.port))) return false;
        return true;
      },
      30_000,
    );
    await waitFor(
      'every Sentinel to know every replica',
      async () => {
        for (const sentinel of sentinels) {
          const known = (await ask(sentinel, 'replicas', masterName).catch(() => [])) as unknown[];
          if (known.length < replicaCount) return false;
        }
        return true;
      },
      30_000,
    );
    const byPort = (port: number) => {
      const server = servers.find((s) => s.port === port);
      if (!server) throw new Error(`no data node of this set-up listens on ${port}`);
      return server;
    };
    const setup: PrivateSentinel = {
      masterName,
      servers,
      sentinels,
      url: `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${masterName}`,
      sentinelList: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      master: async () => byPort(await masterPort()),
      async failover() {
        const old = byPort(await masterPort());
        await old.kill();
        let promoted: PrivateRedis | undefined;
        await waitFor(
          'the Sentinels to promote a replica',
          async () => {
            const port = await masterPort().catch(() => old.port);
            if (port === old.port) return false;
            promoted = byPort(port);
            const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 });
            client.on('error', () => {});
            const role = await client.call('ROLE').catch(() => []);
            client.disconnect();
            return (role as unknown[])[0] === 'master';
          },
          30_000,
        );
        return promoted!;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    return setup;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** True once a replica's link to its master is up: its first full sync is done. */
export async function linkUp(port: number): Promise<boolean> {
  const client = new Redis(port, '127.0.0.1', {
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    return (await client.info('replication')).includes('master_link_status:up');
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
