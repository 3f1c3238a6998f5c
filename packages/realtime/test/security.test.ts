import { connectionLimit, messageQuota } from '@bancada/limits';
import { describe, expect, it } from 'vitest';
import {
  afterThisTest,
  connectClient,
  joinedClient,
  openSse,
  startHub,
  type TestUser,
  upgradeRefusal,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const asAlice = { 'x-test-user': JSON.stringify(alice) };

describe('who may connect', () => {
  it('answers an upgrade without a session with 401 and no WebSocket', async () => {
    const { wsUrl, hub } = await startHub({ redis: false });
    const refusal = await upgradeRefusal(wsUrl);
    expect(refusal.status).toBe(401);
    expect(JSON.parse(refusal.body)).toMatchObject({ error: 'unauthenticated' });
    expect(hub.stats().connections.websocket).toBe(0);
  });

  it('answers a page from another origin with 403 (cross-site WebSocket hijacking)', async () => {
    const { wsUrl, httpUrl } = await startHub({ redis: false });
    const refusal = await upgradeRefusal(wsUrl, { ...asAlice, Origin: 'https://evil.example' });
    expect(refusal.status).toBe(403);
    // Its own origin, and clients that send none (not browsers), are fine.
    await connectClient(wsUrl, alice, { origin: httpUrl });
    await connectClient(wsUrl, alice);
  });

  it('admits exactly the listed origins when given a list', async () => {
    const { wsUrl } = await startHub({
      redis: false,
      allowedOrigins: ['https://pdv.example.com'],
    });
    await connectClient(wsUrl, alice, { origin: 'https://pdv.example.com' });
    const refusal = await upgradeRefusal(wsUrl, {
      ...asAlice,
      Origin: 'https://pdv.example.com.evil.io',
    });
    expect(refusal.status).toBe(403);
  });

  it('answers 503 with Retry-After when the session store is down, never a crash', async () => {
    const { wsUrl, httpUrl } = await startHub({
      redis: false,
      authenticate: async () => {
        throw new Error('connection refused');
      },
    });
    const refusal = await upgradeRefusal(wsUrl, asAlice);
    expect(refusal.status).toBe(503);
    expect(refusal.headers['retry-after']).toBe('2');
    const sse = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    expect(sse.status).toBe(503);
  });

  it('applies the connection gate before the upgrade, and gives slots back on close', async () => {
    const gate = connectionLimit({ maxPerIp: 2, redis: false, logger: false });
    afterThisTest(() => gate.close());
    const { wsUrl, httpUrl } = await startHub({ redis: false, connectionGate: gate });
    const first = await connectClient(wsUrl, alice);
    await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    const refusal = await upgradeRefusal(wsUrl, asAlice);
    expect(refusal.status).toBe(429);
    expect(Number(refusal.headers['retry-after'])).toBeGreaterThan(0);
    expect((await openSse(`${httpUrl}/events?restaurantId=a`, alice)).status).toBe(429);

    first.ws.close();
    await waitFor('the slot to come back', () => gate.stats().active === 1);
    await connectClient(wsUrl, alice);
    // A refused login (401) does not keep the slot it was given for a moment.
    await upgradeRefusal(wsUrl);
    expect(gate.stats().active).toBe(2);
  });

  it('authorizes SSE rooms like WebSocket joins', async () => {
    const { httpUrl } = await startHub({ redis: false });
    expect((await openSse(`${httpUrl}/events?restaurantId=b`, alice)).status).toBe(403);
    expect((await openSse(`${httpUrl}/events?restaurantId=a`)).status).toBe(401);
    expect((await openSse(`${httpUrl}/events`, alice)).status).toBe(400);
    expect(
      (await openSse(`${httpUrl}/events?restaurantId=a`, alice, { Origin: 'https://evil.example' }))
        .status,
    ).toBe(403);
    const ok = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(ok.headers['cache-control']).toMatch(/no-cache/);
    expect(ok.headers['x-accel-buffering']).toBe('no');
    await waitFor('retry: first', () => /^retry: \d+\n\n/.test(ok.text()));
  });
});

describe('bad input on an open WebSocket', () => {
  it('answers invalid JSON, unknown types, bad rooms and binary frames with an error, and keeps serving', async () => {
    const { wsUrl, hub } = await startHub({ redis: false });
    const client = await connectClient(wsUrl, alice);
    client.send('{not json');
    client.send({ type: 'dance' });
    client.send({ type: 'subscribe', room: 42 });
    client.send({ type: 'subscribe', room: 'x'.repeat(300) });
    client.send(['an', 'array']);
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await waitFor('six errors', () => client.messages.length === 6);
    expect(client.messages.map((m) => m.code)).toEqual([
      'invalid_json',
      'unknown_type',
      'invalid_room',
      'invalid_room',
      'invalid_json',
      'binary_not_supported',
    ]);
    client.send({ type: 'ping' });
    await client.next((m) => m.type === 'pong', 'pong');
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await client.next((m) => m.type === 'joined', 'joined');
    hub.toRestaurant('a', { eventType: 'still-works' });
    await client.next((m) => m.eventType === 'still-works', 'an event');
  });

  it('closes a client that keeps sending garbage with 1008', async () => {
    const { wsUrl } = await startHub({ redis: false, maxBadMessages: 3 });
    const client = await connectClient(wsUrl, alice);
    for (let i = 0; i < 10; i++) client.send('garbage');
    expect((await client.closed).code).toBe(1008);
  });

  it('closes a client that sends a frame over maxPayloadBytes with 1009', async () => {
    const { wsUrl, hub } = await startHub({ redis: false, maxPayloadBytes: 1024 });
    const client = await connectClient(wsUrl, alice);
    client.send({ type: 'ping', pad: 'x'.repeat(2000) });
    expect((await client.closed).code).toBe(1009);
    await waitFor('the hub to forget it', () => hub.stats().connections.websocket === 0);
  });

  it('answers messages over the quota with rate_limited, then closes with 1008', async () => {
    const { wsUrl } = await startHub({
      redis: false,
      messageQuota: messageQuota({ points: 5, perMs: 60_000, strikes: 2 }),
    });
    const client = await connectClient(wsUrl, alice);
    for (let i = 0; i < 10; i++) client.send({ type: 'ping' });
    expect((await client.closed).code).toBe(1008);
    expect(client.messages.filter((m) => m.type === 'pong')).toHaveLength(5);
    expect(client.messages.filter((m) => m.code === 'rate_limited')).toHaveLength(2);
  });

  it('refuses a join past maxRoomsPerConnection', async () => {
    const { wsUrl } = await startHub({
      redis: false,
      maxRoomsPerConnection: 2,
      authorize: () => true,
    });
    const client = await joinedClient(wsUrl, alice, 'r1');
    client.send({ type: 'subscribe', room: 'r2' });
    client.send({ type: 'subscribe', room: 'r3' });
    await client.next((m) => m.code === 'too_many_rooms', 'the refusal');
    expect(client.messages.filter((m) => m.type === 'joined').map((m) => m.room)).toEqual([
      'r1',
      'r2',
    ]);
  });

  it('answers unavailable when authorize throws, and does not count it as garbage', async () => {
    const { wsUrl } = await startHub({
      redis: false,
      maxBadMessages: 0,
      authorize: () => {
        throw new Error('database down');
      },
    });
    const client = await connectClient(wsUrl, alice);
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await client.next((m) => m.code === 'unavailable', 'unavailable');
    expect(client.ws.readyState).toBe(1);
  });
});
