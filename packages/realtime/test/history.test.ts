import { faultProxy, keyPrefix, startRedis } from '@bancada/testkit';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Hub } from '../src/index.js';
import {
  afterThisTest,
  connectClient,
  joinedClient,
  openSse,
  rawRedis,
  startHub,
  startInstances,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const room = 'restaurant:a';
const bob: TestUser = { name: 'bob', restaurantId: 'b' };
const carol: TestUser = { name: 'carol', restaurantId: 'c' };

/** Publishes `count` events numbered from `from`, a few at a time, as a busy kitchen would. */
async function publishMany(hub: Pick<Hub, 'toRestaurant'>, from: number, count: number) {
  for (let n = from; n < from + count; n++) {
    await hub.toRestaurant('a', { eventType: 'tick', payload: n });
    if (n % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

function numbers(client: { events(): Array<Record<string, unknown>> }): number[] {
  return client.events().map((e) => e.payload as number);
}

/**
 * Two hubs with history on a private Redis, hub 2 through a fault proxy the test can cut,
 * all stopped after the test.
 */
async function hubsWithOneBehindAProxy(name: string) {
  const redis = await startRedis();
  afterThisTest(() => redis.stop());
  const proxy = await faultProxy(redis.url);
  afterThisTest(() => proxy.close());
  const prefix = keyPrefix(`realtime-history-${name}`);
  const one = await startHub({ redis: redis.url, prefix, history: true, instanceId: 'hub-1' });
  const two = await startHub({
    redis: proxy.url(redis.url),
    prefix,
    history: true,
    instanceId: 'hub-2',
  });
  return { redis, proxy, prefix, one, two };
}

describe('history and resume', () => {
  it('gives events ids that are their increasing positions in the room', async () => {
    const [one] = await startInstances(1, { history: true });
    const client = await joinedClient(one!.wsUrl, alice, room);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await one!.hub.toRestaurant('a', { eventType: 'x' }));
    await waitFor('five events', () => client.events().length === 5);
    expect(client.events().map((e) => e.id)).toEqual(sent.map((e) => e.id));
    for (const { id } of sent) expect(id).toMatch(/^\d+-\d+$/);
    const positions = sent.map(({ id }) => id.split('-').map(Number) as [number, number]);
    for (let i = 1; i < positions.length; i++) {
      const [a, b] = [positions[i - 1]!, positions[i]!];
      expect(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1])).toBe(true);
    }
  });

  it('replays what a reconnecting client missed, in order, then goes live with no duplicate and no hole', async () => {
    const [one, two] = await startInstances(2, { history: true });
    const first = await joinedClient(two!.wsUrl, alice, room);
    const total = 400;
    const publishing = publishMany(one!.hub, 0, total); // goes on during all of what follows
    await waitFor('some events', () => first.events().length >= 50);
    first.ws.terminate(); // the Wi-Fi blinks
    const seen = numbers(first);
    const since = first.events().at(-1)!.id as string;

    const second = await connectClient(two!.wsUrl, alice);
    second.send({ type: 'resume', room, since });
    await publishing;
    await waitFor('the rest', () => second.events().length >= total - seen.length, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(second.messages[0]).toEqual({ type: 'joined', room });
    expect(second.messages.filter((m) => m.type === 'gap')).toEqual([]);
    expect([...seen, ...numbers(second)]).toEqual([...Array(total).keys()]);
  });

  it('says gap when the history no longer reaches back, and when there is none', async () => {
    const [one] = await startInstances(1, { history: { maxLen: 10 } });
    const early = await joinedClient(one!.wsUrl, alice, room);
    await one!.hub.toRestaurant('a', { eventType: 'x', payload: -1 });
    await waitFor('the first event', () => early.events().length === 1);
    const since = early.events()[0]!.id as string;
    await publishMany(one!.hub, 0, 300); // Redis trims whole nodes: well past maxLen

    const late = await connectClient(one!.wsUrl, alice);
    late.send({ type: 'resume', room, since });
    await late.next((m) => m.type === 'gap', 'a gap');
    expect(late.messages.slice(0, 2)).toEqual([
      { type: 'joined', room },
      { type: 'gap', room },
    ]);
    // What is still kept follows the gap, newest last.
    await waitFor('the kept events', () => numbers(late).at(-1) === 299);

    for (const bad of ['not-an-id', '0-0-0']) {
      const client = await connectClient(one!.wsUrl, alice);
      client.send({ type: 'resume', room, since: bad });
      await client.next((m) => m.type === 'gap', `a gap for ${bad}`);
    }
  });

  it('says gap to a resume from a position beyond the newest in the room, and then delivers live events', async () => {
    const [one] = await startInstances(1, { history: true });
    await publishMany(one!.hub, 0, 5);
    const newest = (await one!.hub.toRestaurant('a', { eventType: 'tick', payload: 5 })).id;
    const [ms, seq] = newest.split('-').map(Number) as [number, number];
    for (const ahead of [`${ms}-${seq + 1}`, `${ms + 3_600_000}-0`]) {
      const client = await connectClient(one!.wsUrl, alice);
      client.send({ type: 'resume', room, since: ahead });
      await client.next((m) => m.type === 'gap', `a gap for ${ahead}`);
      expect(client.events()).toEqual([]);
      await one!.hub.toRestaurant('a', { eventType: 'tick', payload: 6 });
      await client.next((m) => m.type === 'event' && m.payload === 6, 'the next live event');
    }
    const stream = await openSse(`${one!.httpUrl}/events?restaurantId=a`, alice, {
      'Last-Event-ID': `${ms + 3_600_000}-0`,
    });
    await waitFor('a gap on the stream', () => stream.events().some((e) => e.event === 'gap'));
    expect(stream.events().filter((e) => e.event === 'tick')).toEqual([]);
  });

  it('replays a room to a connection at most once per interval: a client looping resume gets gap', async () => {
    const [one] = await startInstances(1, { history: { minReplayIntervalMs: 60_000 } });
    await publishMany(one!.hub, 0, 50);
    const client = await connectClient(one!.wsUrl, alice);
    for (let i = 0; i < 20; i++) client.send({ type: 'resume', room, since: '0-0' });
    // One gap per resume: the one replay's own (0-0 is older than the history reaches),
    // and 19 for the resumes that came too soon.
    await waitFor('20 gaps', () => client.messages.filter((m) => m.type === 'gap').length === 20);
    await waitFor('one replay', () => client.events().length === 50);
    expect(numbers(client)).toEqual([...Array(50).keys()]);
    expect(one!.hub.stats().replaysRefused).toBe(19);
    // Live events still arrive, once each.
    await one!.hub.toRestaurant('a', { eventType: 'tick', payload: 50 });
    await waitFor('the live event', () => numbers(client).at(-1) === 50);
    expect(numbers(client)).toEqual([...Array(51).keys()]);
    // Another connection (a reconnect) gets its replay.
    const other = await connectClient(one!.wsUrl, alice);
    other.send({ type: 'resume', room, since: '0-0' });
    await waitFor('its replay', () => other.events().length === 51);
  });

  it('says gap to a resuming client when its room keeps no history', async () => {
    const [one] = await startInstances(1);
    const client = await connectClient(one!.wsUrl, alice);
    client.send({ type: 'resume', room, since: '1-0' });
    await client.next((m) => m.type === 'gap', 'a gap');
    client.send({ type: 'resume', room });
    await client.next((m) => m.code === 'invalid_since', 'invalid_since');
  });

  it('replays to an SSE client from its Last-Event-ID', async () => {
    const [one, two] = await startInstances(2, { history: true });
    const ws = await joinedClient(one!.wsUrl, alice, room);
    await publishMany(one!.hub, 0, 10);
    await waitFor('ten events', () => ws.events().length === 10);
    const since = ws.events()[3]!.id as string;
    const stream = await openSse(`${two!.httpUrl}/events?restaurantId=a`, alice, {
      'Last-Event-ID': since,
    });
    await waitFor('six replayed', () => stream.events().length === 6);
    await publishMany(one!.hub, 10, 2);
    await waitFor('two live', () => stream.events().length === 8);
    expect(stream.events().map((e) => JSON.parse(e.data).payload)).toEqual([
      4, 5, 6, 7, 8, 9, 10, 11,
    ]);
    expect(stream.events()[0]!.id).toBe(ws.events()[4]!.id);

    const tooOld = await openSse(`${two!.httpUrl}/events?restaurantId=a`, alice, {
      'Last-Event-ID': 'garbage',
    });
    await waitFor('an SSE gap', () => tooOld.text().includes('event: gap\n'));
  });

  it('after a Redis outage, every client either gets what it missed, in order, or a gap: never silence', async () => {
    const redis = await startRedis();
    afterThisTest(() => redis.stop());
    const prefix = keyPrefix('realtime-history-outage');
    const options = { redis: redis.url, prefix, history: true } as const;
    const one = await startHub({ ...options, instanceId: 'hub-1' });
    const two = await startHub({ ...options, instanceId: 'hub-2' });
    const near = await joinedClient(one.wsUrl, alice, room);
    const far = await joinedClient(two.wsUrl, alice, room);

    let n = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        await one.hub.toRestaurant('a', { eventType: 'tick', payload: n++ });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor('traffic to cross', () => numbers(far).length > 20);
    await redis.kill();
    await waitFor('both degraded', () => one.hub.stats().degraded && two.hub.stats().degraded);
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const lastDuringOutage = n - 1;
    await redis.restart();
    await waitFor('hub 1 to publish through Redis again', () => !one.hub.stats().degraded, 10_000);
    const firstDistributed = n; // from here on nothing may be lost, even while hub 2 resubscribes
    await waitFor(
      'events to cross again',
      () => numbers(far).some((x) => x >= firstDistributed),
      10_000,
    );
    running = false;
    await traffic;
    await waitFor('the last event everywhere', () =>
      [near, far].every((client) => numbers(client).at(-1) === n - 1),
    );

    for (const client of [near, far]) {
      const got = numbers(client);
      // In order, never twice.
      for (let i = 1; i < got.length; i++) expect(got[i]).toBeGreaterThan(got[i - 1]!);
      // Every hole is announced by a gap, where it is: after what came before it.
      const stream = client.messages.filter((m) => m.type === 'gap' || m.type === 'event');
      let expected = 0;
      for (const message of stream) {
        if (message.type === 'gap') {
          expected = -1; // anything may follow a gap, as long as it is in order
          continue;
        }
        const x = message.payload as number;
        if (expected !== -1) expect(x).toBe(expected); // no silent hole
        expected = x + 1;
      }
      // Nothing sent once hub 1 was back on Redis was lost.
      const missing = [...Array(n).keys()].filter((x) => !got.includes(x));
      expect(missing.filter((x) => x >= firstDistributed)).toEqual([]);
    }
    // The other instance missed what was published during the outage, and was told.
    expect(numbers(far).filter((x) => x > 0 && x <= lastDuringOutage).length).toBeLessThan(
      lastDuringOutage,
    );
    expect(far.messages.some((m) => m.type === 'gap')).toBe(true);
  }, 60_000);

  it('fills a hole from the history, not with a gap, when its subscriber is back before the connection that reads the history', async () => {
    const { redis, proxy, prefix, one, two } = await hubsWithOneBehindAProxy('split-return');
    const far = await joinedClient(two.wsUrl, alice, room);
    await one.hub.toRestaurant('a', { eventType: 'tick', payload: 0 });
    await waitFor('the first event', () => numbers(far).length === 1);

    // Hub 2's two connections come back apart, as their jittered backoffs make them do: its
    // publishing connection, which also reads the history, is held back here.
    const commands = (two.hub as unknown as { bus: { commands: Redis } }).bus.commands;
    const raw = await rawRedis(redis.url);
    const listeners = async () => {
      const channel = `${prefix}ws:room:${room}`;
      const [, count] = (await raw.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      return Number(count); // hub 1 has no client in the room: hub 2 is the only one
    };
    commands.disconnect();
    proxy.cut();
    await waitFor('hub 2 to stop listening', async () => (await listeners()) === 0);
    for (const n of [1, 2, 3]) await one.hub.toRestaurant('a', { eventType: 'tick', payload: n });
    proxy.restore();
    await waitFor('hub 2 to listen again', async () => (await listeners()) === 1);
    const heard = two.hub.stats().pubsubReceived;
    await one.hub.toRestaurant('a', { eventType: 'tick', payload: 4 }); // shows hub 2 the hole
    await waitFor('hub 2 to hear event 4', () => two.hub.stats().pubsubReceived > heard);
    await commands.connect();

    await waitFor('event 4', () => numbers(far).includes(4));
    expect(far.messages.filter((m) => m.type === 'gap')).toEqual([]);
    expect(numbers(far)).toEqual([0, 1, 2, 3, 4]);
  });

  it('tells a client gap after its instance lost Redis, even before any event of its room reached it, and clients of quiet rooms nothing', async () => {
    const { redis, proxy, prefix, one, two } = await hubsWithOneBehindAProxy('fresh-room');
    await Promise.all([one.hub.ready(5_000), two.hub.ready(5_000)]);
    // Joined, but no event of the room has reached hub 2 yet: it has no position to catch up from.
    const far = await joinedClient(two.wsUrl, alice, room);
    // Two quiet rooms: one whose last event is an hour old, one that never had any.
    const redisClient = await rawRedis(redis.url);
    await redisClient.xadd(
      `${prefix}ws:history:restaurant:b`,
      `${Date.now() - 3_600_000}-0`,
      'e',
      '{}',
    );
    const quiet = await joinedClient(two.wsUrl, bob, 'restaurant:b');
    const never = await joinedClient(two.wsUrl, carol, 'restaurant:c');

    proxy.cut();
    await waitFor('hub 2 degraded', () => two.hub.stats().degraded, 10_000);
    await one.hub.toRestaurant('a', { eventType: 'tick', payload: 1 }); // hub 2 cannot hear it
    proxy.restore();
    await waitFor('hub 2 back', () => !two.hub.stats().degraded, 10_000);

    await waitFor(
      'the missed event or a gap',
      () => far.messages.some((m) => m.type === 'gap' || m.type === 'event'),
      10_000,
    );
    const told = far.messages.filter((m) => m.type === 'gap' || m.type === 'event');
    expect(told[0]).toMatchObject({ type: 'gap', room });
    // The quiet rooms missed nothing: their next event comes with no gap before it.
    for (const [client, restaurant] of [
      [quiet, 'b'],
      [never, 'c'],
    ] as const) {
      await one.hub.toRestaurant(restaurant, { eventType: 'tick', payload: 2 });
      await client.next((m) => m.type === 'event', `the next event of restaurant ${restaurant}`);
      expect(client.messages.filter((m) => m.type === 'gap' || m.type === 'event')).toMatchObject([
        { type: 'event', payload: 2 },
      ]);
    }
  }, 30_000);

  it('neither holds a resuming client nor a publish for ever when Redis stops answering, and never doubles an event', async () => {
    const redis = await startRedis();
    afterThisTest(() => redis.stop());
    const proxy = await faultProxy(redis.url);
    afterThisTest(() => proxy.close());
    const one = await startHub({
      redis: proxy.url(redis.url),
      prefix: keyPrefix('realtime-history-hang'),
      history: true,
    });
    const live = await joinedClient(one.wsUrl, alice, room);
    await one.hub.toRestaurant('a', { eventType: 'tick', payload: 0 });
    await waitFor('the first event', () => numbers(live).length === 1);
    const since = live.events()[0]!.id as string;

    proxy.freeze(); // connections stay open; nothing answers
    const resuming = await connectClient(one.wsUrl, alice);
    resuming.send({ type: 'resume', room, since });
    await resuming.next((m) => m.type === 'gap', 'a gap instead of a replay that never ends');
    const sent = await one.hub.toRestaurant('a', { eventType: 'tick', payload: 1 });
    expect(sent.id).not.toMatch(/^\d+-\d+$/); // no position: Redis never answered
    await waitFor('both clients to get it', () =>
      [live, resuming].every((client) => numbers(client).includes(1)),
    );

    proxy.restore(); // the append of event 1 may run now, late
    await one.hub.toRestaurant('a', { eventType: 'tick', payload: 2 });
    await waitFor('event 2', () => [live, resuming].every((c) => numbers(c).includes(2)));
    await new Promise((resolve) => setTimeout(resolve, 200)); // let any late echo arrive
    expect(numbers(live)).toEqual([0, 1, 2]);
    expect(numbers(resuming)).toEqual([1, 2]);
  });
});
