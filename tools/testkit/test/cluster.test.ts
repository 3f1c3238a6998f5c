import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, startSentinel, waitFor } from '../src/index.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('startCluster', () => {
  it('forms a cluster of 3 masters and 3 replicas that serves every slot, and fails a master over', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    expect(cluster.nodes).toHaveLength(6);
    expect(await cluster.masters()).toHaveLength(3);
    expect(cluster.url).toMatch(/^redis-cluster:\/\/127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){5}$/);
    const client = new Cluster(cluster.seeds, { redisOptions: { maxRetriesPerRequest: 1 } });
    client.on('error', () => {});
    cleanups.push(() => client.disconnect());
    for (let i = 0; i < 30; i++) await client.set(`k${i}`, String(i));
    expect(await client.get('k7')).toBe('7');
    await client.call('WAIT', '1', '2000'); // replication is asynchronous: let it reach the replica

    const owner = await cluster.masterOf('k7');
    const promoted = await cluster.failover(owner);
    expect(promoted.port).not.toBe(owner.port);
    expect((await cluster.masterOf('k7')).port).toBe(promoted.port);
    await waitFor(
      'the client to read through the new master',
      async () =>
        client.get('k7').then(
          (value) => value === '7',
          () => false,
        ),
      20_000,
    );
    // The old master comes back as a replica of the new one.
    await owner.server.restart();
    await waitFor('the old master to rejoin', async () =>
      (await cluster.masters()).every((m) => m.port !== owner.port),
    );
  }, 60_000);
});

describe('startSentinel', () => {
  it('watches a master with Sentinels, and promotes a replica when it dies', async () => {
    const setup = await startSentinel();
    cleanups.push(() => setup.stop());
    expect(setup.url).toMatch(/^redis-sentinel:\/\/(127\.0\.0\.1:\d+,?){3}\/mymaster$/);
    const client = new Redis({
      sentinels: setup.sentinelList,
      name: setup.masterName,
      maxRetriesPerRequest: 1,
    });
    client.on('error', () => {});
    cleanups.push(() => client.disconnect());
    await client.set('dish', 'feijoada');
    await client.call('WAIT', '2', '2000'); // replication is asynchronous: let it reach the replicas
    const first = await setup.master();
    const promoted = await setup.failover();
    expect(promoted.port).not.toBe(first.port);
    await waitFor(
      'the client to follow the new master',
      async () =>
        client.get('dish').then(
          (value) => value === 'feijoada',
          () => false,
        ),
      20_000,
    );
  }, 60_000);
});
