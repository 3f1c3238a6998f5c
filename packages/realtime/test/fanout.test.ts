import { describe, expect, it } from 'vitest';
import {
  connectClient,
  joinedClient,
  openSse,
  rawRedis,
  startInstances,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const bob: TestUser = { name: 'bob', restaurantId: 'b' };

/** Lets whatever is on its way arrive, so a test can check that nothing more came. */
async function settle(hub: { publish: (room: string, e: { eventType: string }) => unknown }) {
  await new Promise((resolve) => setTimeout(resolve, 150));
  void hub;
}

describe('fan-out across instances', () => {
  it('delivers an event published on hub 3 to a client on hub 1, exactly once', async () => {
    const [one, two, three] = await startInstances(3);
    const onOne = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const onTwo = await joinedClient(two!.wsUrl, alice, 'restaurant:a');
    const onThree = await joinedClient(three!.wsUrl, alice, 'restaurant:a');

    const sent = await three!.hub.toRestaurant('a', {
      eventType: 'order-created',
      payload: { n: 1 },
    });
    for (const client of [onOne, onTwo, onThree]) {
      await client.next((m) => m.type === 'event' && m.id === sent.id, 'the event');
    }
    await settle(three!.hub);
    for (const client of [onOne, onTwo, onThree]) {
      expect(client.events()).toHaveLength(1);
      expect(client.events()[0]).toEqual({
        type: 'event',
        eventType: 'order-created',
        id: sent.id,
        traceId: sent.traceId,
        payload: { n: 1 },
        ts: sent.ts,
        room: 'restaurant:a',
      });
    }
    expect(one!.hub.stats().delivered).toBe(1);
    expect(three!.hub.stats().delivered).toBe(1); // its own client, once: not again from Redis
  });

  it('keeps the order of one publisher across instances', async () => {
    const [one, two] = await startInstances(2);
    const far = await joinedClient(two!.wsUrl, alice, 'restaurant:a');
    for (let i = 0; i < 200; i++) one!.hub.toRestaurant('a', { eventType: 'tick', payload: i });
    await waitFor('200 events', () => far.events().length === 200);
    expect(far.events().map((e) => e.payload)).toEqual([...Array(200).keys()]);
  });

  it("does not deliver restaurant B's event to restaurant A's clients, on any instance", async () => {
    const [one, two] = await startInstances(2);
    const aliceHere = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const aliceThere = await joinedClient(two!.wsUrl, alice, 'restaurant:a');
    const bobThere = await joinedClient(two!.wsUrl, bob, 'restaurant:b');

    one!.hub.toRestaurant('b', { eventType: 'secret', payload: 'for b' });
    await bobThere.next((m) => m.type === 'event', 'b to get its event');
    one!.hub.toRestaurant('a', { eventType: 'marker' });
    await aliceThere.next((m) => m.eventType === 'marker', 'the marker');
    await aliceHere.next((m) => m.eventType === 'marker', 'the marker');
    for (const client of [aliceHere, aliceThere]) {
      expect(client.events().map((e) => e.eventType)).toEqual(['marker']);
    }
  });

  it("does not deliver restaurant B's event to a client that claims B", async () => {
    const [one, two] = await startInstances(2);
    const mallory = await connectClient(two!.wsUrl, alice);
    mallory.send({ type: 'auth', restaurantId: 'b' }); // the original app's join message
    mallory.send({ type: 'subscribe', room: 'restaurant:b' });
    await waitFor(
      'both refusals',
      () => mallory.messages.filter((m) => m.type === 'error').length === 2,
    );
    expect(mallory.messages).toEqual([
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:b' }),
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:b' }),
    ]);
    const bobThere = await joinedClient(two!.wsUrl, bob, 'restaurant:b');
    one!.hub.toRestaurant('b', { eventType: 'secret' });
    one!.hub.broadcast({ eventType: 'for-everyone' });
    await bobThere.next((m) => m.eventType === 'for-everyone', 'the broadcast');
    await mallory.next((m) => m.eventType === 'for-everyone', 'the broadcast');
    expect(mallory.events().map((e) => e.eventType)).toEqual(['for-everyone']);
  });

  it('lets the original auth message join the restaurant the session allows', async () => {
    const [one, two] = await startInstances(2);
    const kitchen = await connectClient(one!.wsUrl, alice);
    kitchen.send({ type: 'auth', restaurantId: 'a' });
    await kitchen.next((m) => m.type === 'joined' && m.room === 'restaurant:a', 'joined');
    two!.hub.toRestaurant('a', { eventType: 'order-created' });
    await kitchen.next((m) => m.eventType === 'order-created', 'the order');
  });

  it('gives an SSE client and a WebSocket client on other instances the same event', async () => {
    const [one, two, three] = await startInstances(3);
    const ws = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const sse = await openSse(`${two!.httpUrl}/events?restaurantId=a`, alice);
    expect(sse.status).toBe(200);
    await waitFor('the stream to join', () => two!.hub.stats().connections.sse === 1);

    const sent = await three!.hub.toRestaurant('a', {
      eventType: 'order-created',
      payload: { n: 7 },
    });
    const viaWs = await ws.next((m) => m.type === 'event', 'the WebSocket event');
    await waitFor('the SSE event', () => sse.events().length === 1);
    const viaSse = sse.events()[0]!;
    expect(viaSse.id).toBe(sent.id);
    expect(viaSse.event).toBe('order-created');
    expect(JSON.parse(viaSse.data)).toEqual(viaWs);
  });

  it('delivers an envelope that another service PUBLISHes to Redis', async () => {
    const [one] = await startInstances(1);
    const prefix = (one!.hub as unknown as { o: { prefix: string } }).o.prefix;
    const redis = await rawRedis();
    const kitchen = await joinedClient(one!.wsUrl, alice, 'restaurant:a');

    const envelope = { eventType: 'printer-jam', payload: { printer: 2 }, ts: 1, id: 'x1' };
    await redis.publish(
      `${prefix}ws:restaurant`,
      JSON.stringify({ ...envelope, restaurantId: 'a' }),
    );
    await redis.publish(`${prefix}ws:room:restaurant:a`, JSON.stringify({ ...envelope, id: 'x2' }));
    await redis.publish(`${prefix}ws:broadcast`, JSON.stringify({ ...envelope, id: 'x3' }));
    await redis.publish(
      `${prefix}ws:restaurant`,
      JSON.stringify({ ...envelope, id: 'x4', restaurantId: 'b' }),
    );
    await waitFor('three events', () => kitchen.events().length === 3);
    await settle(one!.hub);
    expect(kitchen.events().map((e) => [e.id, e.room])).toEqual([
      ['x1', 'restaurant:a'],
      ['x2', 'restaurant:a'],
      ['x3', '*'],
    ]);
  });

  it('drops, counts and survives messages on its channels that are not envelopes', async () => {
    const [one] = await startInstances(1);
    const prefix = (one!.hub as unknown as { o: { prefix: string } }).o.prefix;
    const redis = await rawRedis();
    const kitchen = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const bad = ['not json', '[1,2]', '"text"', '{"payload":1}', '{"eventType":""}', 'null'];
    for (const text of bad) await redis.publish(`${prefix}ws:room:restaurant:a`, text);
    await redis.publish(`${prefix}ws:restaurant`, '{"eventType":"x"}'); // names no room
    await redis.publish(`${prefix}ws:broadcast`, '{"eventType":"still-alive"}');
    await kitchen.next((m) => m.eventType === 'still-alive', 'the good message');
    expect(one!.hub.stats().deserializeFailures).toBe(bad.length + 1);
    expect(kitchen.events()).toHaveLength(1);
  });

  it('subscribes to a room channel only while the room has a local client', async () => {
    const [one, two] = await startInstances(2);
    const prefix = (one!.hub as unknown as { o: { prefix: string } }).o.prefix;
    const redis = await rawRedis();
    const channel = `${prefix}ws:room:restaurant:a`;
    const subscribers = async () =>
      Number(((await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);
    expect(await subscribers()).toBe(0);

    const first = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const second = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    await waitFor('one subscription for two clients', async () => (await subscribers()) === 1);
    await joinedClient(two!.wsUrl, alice, 'restaurant:a');
    await waitFor('a subscription per instance', async () => (await subscribers()) === 2);

    first.send({ type: 'unsubscribe', room: 'restaurant:a' });
    await first.next((m) => m.type === 'left', 'left');
    second.ws.close();
    await waitFor('hub 1 to let the channel go', async () => (await subscribers()) === 1);
    // Hub 1 has no client in the room: it is not even sent the room's events.
    const before = one!.hub.stats().pubsubReceived;
    two!.hub.toRestaurant('a', { eventType: 'x' });
    await settle(two!.hub);
    expect(one!.hub.stats().pubsubReceived).toBe(before);
  });

  it('rolls fan-out from off to dry-run to on at run time without losing or doubling a local delivery', async () => {
    const [one, two] = await startInstances(2, { fanout: 'off' });
    const local = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const remote = await joinedClient(two!.wsUrl, alice, 'restaurant:a');
    let n = 0;
    const publish = () => one!.hub.toRestaurant('a', { eventType: 'n', payload: n++ });

    publish(); // off: local only
    one!.hub.setFanout('dry-run');
    two!.hub.setFanout('dry-run');
    publish(); // dry-run: published and counted, not delivered remotely
    await waitFor('the dry run to count it', () => two!.hub.stats().dryRunSkipped === 1);
    one!.hub.setFanout('on');
    two!.hub.setFanout('on');
    publish(); // on: everywhere
    await remote.next((m) => m.payload === 2, 'the first remote delivery');
    await settle(one!.hub);
    expect(local.events().map((e) => e.payload)).toEqual([0, 1, 2]);
    expect(remote.events().map((e) => e.payload)).toEqual([2]);

    one!.hub.setFanout('off');
    publish();
    await local.next((m) => m.payload === 3, 'local delivery when off');
    await settle(one!.hub);
    expect(remote.events().map((e) => e.payload)).toEqual([2]);
    expect(() => one!.hub.setFanout('sideways' as 'on')).toThrow(/fanout must be one of/);
  });

  it('reaches every client with broadcast, and only room members with publish', async () => {
    const [one, two] = await startInstances(2, {
      authorize: (_principal, room) => room.startsWith('table:'),
    });
    const inRoom = await joinedClient(one!.wsUrl, alice, 'table:7');
    const elsewhere = await connectClient(two!.wsUrl, bob);
    two!.hub.publish('table:7', { eventType: 'bill' });
    two!.hub.broadcast({ eventType: 'closing-soon' });
    await inRoom.next((m) => m.eventType === 'closing-soon', 'broadcast');
    await elsewhere.next((m) => m.eventType === 'closing-soon', 'broadcast');
    expect(inRoom.events().map((e) => e.eventType)).toEqual(['bill', 'closing-soon']);
    expect(elsewhere.events().map((e) => e.eventType)).toEqual(['closing-soon']);
  });
});
