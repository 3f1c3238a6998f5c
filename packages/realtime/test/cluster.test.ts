import {
  keyPrefix,
  type PrivateCluster,
  recordingLogger,
  serveHub,
  startCluster,
} from '@bancada/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type HubOptions } from '../src/index.js';
import {
  afterThisTest,
  headerAuthenticate,
  joinedClient,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

let cluster: PrivateCluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Three hubs of one app on the test's cluster, under a fresh prefix. */
async function threeInstances(
  options: Partial<HubOptions> = {},
  loggers: Array<ReturnType<typeof recordingLogger>> = [],
) {
  const prefix = keyPrefix('realtime-cluster');
  const hubs = [];
  for (let i = 1; i <= 3; i++) {
    hubs.push(
      await serveHub(
        createHub({
          authenticate: headerAuthenticate,
          logger: loggers[i - 1] ?? false,
          redis: cluster.url,
          prefix,
          instanceId: `hub-${i}`,
          ...options,
        }),
      ),
    );
  }
  return { hubs, prefix };
}

/** A plain connection to one node of the cluster, closed after the test. */
function nodeClient(port: number): Redis {
  const client = new Redis(port, '127.0.0.1');
  afterThisTest(() => client.disconnect());
  return client;
}

/** Moves the slot of `key`, with its keys, to another master, as a resharding does. */
async function moveSlotOf(key: string): Promise<void> {
  const from = await cluster.masterOf(key);
  const to = (await cluster.masters()).find((m) => m.port !== from.port)!;
  const source = nodeClient(from.port);
  const target = nodeClient(to.port);
  const slot = Number(await source.call('CLUSTER', 'KEYSLOT', key));
  const sourceId = String(await source.call('CLUSTER', 'MYID'));
  const targetId = String(await target.call('CLUSTER', 'MYID'));
  await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
  await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
  const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)) as string[];
  if (keys.length > 0) {
    await source.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'KEYS', ...keys);
  }
  for (const master of await cluster.masters()) {
    await nodeClient(master.port).call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  }
  await waitFor(
    'the move seen by every node',
    async () => (await cluster.masterOf(key)).port === to.port,
  );
}

describe('the hub on a Redis Cluster', () => {
  it('says it runs on a cluster and how many masters it found', async () => {
    const logger = recordingLogger();
    const hub = createHub({ authenticate: headerAuthenticate, logger, redis: cluster.url });
    afterThisTest(() => hub.close());
    expect(await hub.ready(5000)).toBe(true);
    expect(logger.lines).toContain('info realtime: redis cluster (distributed, fan-out on)');
    await waitFor('the masters logged', () =>
      logger.lines.includes('info realtime: redis cluster, 3 masters'),
    );
    expect(logger.lines.filter((l) => !l.startsWith('info'))).toEqual([]);
  });

  it('warns of a prefix with a hash tag, which would put every room on one master', async () => {
    const logger = recordingLogger();
    const hub = createHub({
      authenticate: headerAuthenticate,
      logger,
      redis: cluster.url,
      prefix: '{app}:',
    });
    afterThisTest(() => hub.close());
    expect(
      logger.lines.some((l) => l.startsWith('warn realtime: prefix "{app}:" holds a hash tag')),
    ).toBe(true);
  });

  it('delivers a room event with history to clients on every instance, once, in order', async () => {
    const { hubs } = await threeInstances({ history: true });
    const clients = await Promise.all(
      hubs.map((h) => joinedClient(h.wsUrl, alice, 'restaurant:a')),
    );
    const sent = [];
    for (let n = 0; n < 20; n++) {
      sent.push(await hubs[n % 3]!.hub.toRestaurant('a', { eventType: 'tick', payload: n }));
    }
    for (const client of clients) {
      await waitFor('every event', () => client.events().length === 20);
      expect(client.events().map((e) => e.payload)).toEqual([...Array(20).keys()]);
      expect(client.events().map((e) => e.id)).toEqual(sent.map((e) => e.id));
    }
  });

  it("keeps a room's channel and history on the master of the room's slot, over sharded pub/sub", async () => {
    const { hubs, prefix } = await threeInstances({ history: true });
    await joinedClient(hubs[0]!.wsUrl, alice, 'restaurant:a');
    const sent = await hubs[1]!.hub.toRestaurant('a', { eventType: 'tick', payload: 1 });

    const stream = `${prefix}ws:history:{restaurant:a}`;
    const channel = `${prefix}ws:room:{restaurant:a}`;
    const owner = await cluster.masterOf(stream);
    expect((await cluster.masterOf(channel)).port).toBe(owner.port);
    const node = nodeClient(owner.port);
    const entries = await node.xrange(stream, '-', '+');
    expect(entries.map(([id]) => id)).toEqual([sent.id]);
    // A shard channel, subscribed on its master only: not a plain channel anywhere.
    expect(await node.call('PUBSUB', 'SHARDCHANNELS', `${prefix}ws:room:*`)).toEqual([channel]);
    expect(await node.call('PUBSUB', 'CHANNELS', `${prefix}ws:room:*`)).toEqual([]);
  });

  it('spreads rooms over the masters', async () => {
    const { hubs, prefix } = await threeInstances({ history: true });
    for (let r = 0; r < 30; r++) {
      await hubs[0]!.hub.publish(`room-${r}`, { eventType: 'tick' });
    }
    const owners = new Map<number, number>();
    for (let r = 0; r < 30; r++) {
      const { port } = await cluster.masterOf(`${prefix}ws:history:{room-${r}}`);
      owners.set(port, (owners.get(port) ?? 0) + 1);
    }
    expect(owners.size).toBe(3);
  });

  it('takes what outside services publish: PUBLISH ws:broadcast and ws:restaurant, SPUBLISH a room', async () => {
    const { hubs, prefix } = await threeInstances();
    const client = await joinedClient(hubs[2]!.wsUrl, alice, 'restaurant:a');
    const masters = await cluster.masters();
    // What is published before the hubs' subscriptions reach Redis reaches nobody, as on one
    // node: wait for them (the plain ones on some node, the room's on its master).
    // One connection per node for the whole wait, not one per node and poll.
    const nodes = cluster.nodes.map((node) => nodeClient(node.port));
    const subscribers = async (ask: (node: Redis) => Promise<unknown>) => {
      let sum = 0;
      for (const node of nodes) {
        const reply = (await ask(node)) as [string, number];
        sum += Number(reply[1]);
      }
      return sum;
    };
    const channel = `${prefix}ws:room:{restaurant:a}`;
    await waitFor('the hubs subscribed', async () => {
      const plain = await subscribers((n) => n.call('PUBSUB', 'NUMSUB', `${prefix}ws:restaurant`));
      const shard = await subscribers((n) => n.call('PUBSUB', 'SHARDNUMSUB', channel));
      // Each hub's plain subscriber on some node (ioredis may be moving one meanwhile).
      return plain >= 3 && shard >= 1;
    });
    // A plain PUBLISH goes to every node of the cluster: any node will do.
    const any = nodeClient(masters[0]!.port);
    await any.publish(`${prefix}ws:broadcast`, JSON.stringify({ eventType: 'to-all' }));
    await any.publish(
      `${prefix}ws:restaurant`,
      JSON.stringify({ eventType: 'menu-changed', restaurantId: 'a' }),
    );
    // A shard channel is published on the master of its slot (ioredis's Cluster finds it).
    const outside = new Cluster(cluster.seeds);
    afterThisTest(() => outside.disconnect());
    await outside.spublish(
      `${prefix}ws:room:{restaurant:a}`,
      JSON.stringify({ eventType: 'order-ready' }),
    );
    await waitFor('three events', () => client.events().length === 3);
    // Three channels: no order between them.
    expect(client.events().map((e) => e.eventType)).toEqual(
      expect.arrayContaining(['to-all', 'menu-changed', 'order-ready']),
    );
    await new Promise((resolve) => setTimeout(resolve, 150)); // anything twice would be here now
    expect(client.events()).toHaveLength(3);
  });

  it('follows a room whose slot moves to another master: every client gets every event, once, in order', async () => {
    const loggers = [0, 1, 2].map(() => recordingLogger());
    const { hubs, prefix } = await threeInstances({ history: true }, loggers);
    const clients = await Promise.all(
      hubs.map((h) => joinedClient(h.wsUrl, alice, 'restaurant:a')),
    );
    const stream = `${prefix}ws:history:{restaurant:a}`;
    const publish = async (n: number) => {
      await hubs[n % 3]!.hub.toRestaurant('a', { eventType: 'tick', payload: n });
    };
    for (let n = 0; n < 10; n++) await publish(n);

    await moveSlotOf(stream);
    // Published right after the move, from every instance: each reaches every client.
    for (let n = 10; n < 40; n++) await publish(n);
    for (const client of clients) {
      await waitFor('every event', () => client.events().length === 40, 15_000).catch((error) => {
        const got = clients.map((c) =>
          c
            .events()
            .map((e) => e.payload)
            .join(','),
        );
        const logs = loggers.map((l) => l.lines.join(' | '));
        throw new Error(`${error.message}\n${got.join('\n')}\n${logs.join('\n')}`);
      });
      expect(client.events().map((e) => e.payload)).toEqual([...Array(40).keys()]);
    }
    expect(clients.flatMap((c) => c.messages.filter((m) => m.type === 'gap'))).toEqual([]);
  });

  it('takes the seed list as { cluster } and an ioredis Cluster as a template it never closes', async () => {
    const template = new Cluster(cluster.seeds, { lazyConnect: true });
    const prefix = keyPrefix('realtime-cluster');
    const one = await serveHub(
      createHub({
        authenticate: headerAuthenticate,
        logger: false,
        redis: { cluster: cluster.seeds.map((s) => `${s.host}:${s.port}`) },
        prefix,
      }),
    );
    const two = await serveHub(
      createHub({ authenticate: headerAuthenticate, logger: false, redis: template, prefix }),
    );
    const client = await joinedClient(two.wsUrl, alice, 'restaurant:a');
    await one.hub.toRestaurant('a', { eventType: 'hello' });
    await client.next((m) => m.type === 'event' && m.eventType === 'hello', 'the event');
    await two.hub.close();
    expect(template.status).toBe('wait'); // untouched: still the caller's, never connected
  });
});
