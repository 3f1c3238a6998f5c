import { startCluster, startSentinel } from '@bancada/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkRedisSource,
  closeOwnConnection,
  describeTopology,
  openOwnClient,
  openOwnConnection,
  parseRedisUrl,
  topologyOf,
} from '../src/index.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const invalid = (message: string) => new TypeError(message);

describe('parseRedisUrl', () => {
  it('reads one node, a cluster by its seeds, and a Sentinel set-up by its Sentinels and master', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'single',
      url: 'redis://127.0.0.1:6379/2',
      options: {},
    });
    expect(parseRedisUrl('rediss-cluster://app:s3cr%40t@10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      options: { redisOptions: { username: 'app', password: 's3cr@t', tls: {} } },
    });
    const sentinel = parseRedisUrl(
      'redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/orders?sentinelPassword=sp',
    );
    expect(sentinel).toEqual({
      kind: 'sentinel',
      name: 'orders',
      options: {
        password: 'pw',
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '10.0.0.2', port: 26379 },
        ],
        name: 'orders',
        sentinelPassword: 'sp',
      },
    });
    expect(describeTopology(sentinel)).toBe('redis sentinel orders');
  });

  it('refuses what can never work, naming why, with the password hidden', () => {
    expect(() => checkRedisSource('http://x', invalid)).toThrow(/must start with redis:\/\//);
    expect(() => checkRedisSource('redis-sentinel://:pw@10.0.0.1:26379', invalid)).toThrow(
      /master's name.*:\*\*\*@/,
    );
    expect(() => checkRedisSource('redis-cluster://', invalid)).toThrow(/names no host:port/);
    expect(() => checkRedisSource('redis-cluster://host:99999', invalid)).toThrow(
      /not a host:port/,
    );
    expect(() => checkRedisSource({ sentinels: [{ host: 'a', port: 1 }] }, invalid)).toThrow(
      /name/,
    );
    expect(() => checkRedisSource({ cluster: [] }, invalid)).toThrow(/at least one node/);
  });

  it('takes a caller client of either kind as a template', () => {
    const single = new Redis({ lazyConnect: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true });
    cleanups.push(() => {
      single.disconnect();
      cluster.disconnect();
    });
    expect(topologyOf(single).kind).toBe('single');
    expect(topologyOf(cluster)).toMatchObject({
      kind: 'cluster',
      seeds: [{ host: '127.0.0.1', port: 7000 }],
    });
  });
});

describe('own connections on a Cluster and behind Sentinels', () => {
  it('opens a Cluster client from a cluster URL, and refuses one where a single connection is needed', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const client = openOwnClient(cluster.url, { name: 'test' }, { lazyConnect: false });
    cleanups.push(() => closeOwnConnection(client));
    expect((client as Cluster).isCluster).toBe(true);
    await new Promise((resolve) => client.once('ready', resolve));
    await client.set('{orders}:1', 'a');
    expect(await client.get('{orders}:1')).toBe('a');
    expect(() => openOwnConnection(cluster.url, { name: 'test' })).toThrow(/not a Cluster/);
  }, 60_000);

  it('opens a connection that follows the master the Sentinels name', async () => {
    const setup = await startSentinel();
    cleanups.push(() => setup.stop());
    const client = openOwnConnection(setup.url, { name: 'test' });
    cleanups.push(() => closeOwnConnection(client));
    await new Promise((resolve) => client.once('ready', resolve));
    await client.set('dish', 'feijoada');
    expect(await client.get('dish')).toBe('feijoada');
    expect((await setup.master()).port).toBe(setup.servers[0]!.port);
  }, 60_000);
});
