import { connect } from 'node:net';
import { connectionLimit } from '@bancada/limits';
import { describe, expect, it } from 'vitest';
import { HubClosedError } from '../src/index.js';
import {
  afterThisTest,
  connectClient,
  joinedClient,
  openSse,
  startHub,
  startInstances,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';
import { stuckClient } from './helpers/stuck-client.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

describe('heartbeats', () => {
  it('terminates a client that stops answering pings, and releases its room and slot', async () => {
    const gate = connectionLimit({ maxPerIp: 10, redis: false, logger: false });
    afterThisTest(() => gate.close());
    const { wsUrl, hub } = await startHub({ redis: false, heartbeatMs: 100, connectionGate: gate });
    const healthy = await joinedClient(wsUrl, alice, 'restaurant:a');
    const dead = await connectClient(wsUrl, alice, { autoPong: false });
    dead.send({ type: 'subscribe', room: 'restaurant:a' });
    await dead.next((m) => m.type === 'joined', 'joined');

    const { code } = await dead.closed;
    expect(code).toBe(1006); // terminated: no close handshake with a dead peer
    await waitFor('its slot to come back', () => gate.stats().active === 1);
    expect(hub.stats().connections.websocket).toBe(1);
    // The client that answers stays, heartbeat after heartbeat.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(healthy.ws.readyState).toBe(1);
  });

  it('sends SSE streams a comment line every heartbeat', async () => {
    const { httpUrl } = await startHub({ redis: false, heartbeatMs: 50 });
    const stream = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    await waitFor('two heartbeats', () => stream.text().split(': ping\n\n').length > 2);
  });
});

describe('SSE streams', () => {
  it('gives back the room and the slot when the client goes away', async () => {
    const gate = connectionLimit({ maxPerIp: 10, redis: false, logger: false });
    afterThisTest(() => gate.close());
    const { hub, httpUrl } = await startHub({ redis: false, connectionGate: gate });
    const stream = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    await waitFor('the stream to join', () => hub.stats().rooms === 1);
    expect(gate.stats().active).toBe(1);
    stream.close();
    await waitFor('the room to empty', () => hub.stats().rooms === 0);
    expect(hub.stats().connections.sse).toBe(0);
    expect(gate.stats().active).toBe(0);
    hub.toRestaurant('a', { eventType: 'nobody-listens' }); // nothing to write to, no error
  });
});

describe('slow consumers', () => {
  it('closes a client that does not read, keeps memory bounded, and keeps serving the others', async () => {
    const maxBufferedBytes = 256 * 1024;
    const { server, hub, wsUrl } = await startHub({ redis: false, maxBufferedBytes });
    const port = (server.address() as { port: number }).port;
    const fast = await joinedClient(wsUrl, alice, 'restaurant:a');
    await stuckClient(port, alice, 'restaurant:a');
    await waitFor('both in the room', () => hub.stats().connections.websocket === 2);

    globalThis.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const payload = 'x'.repeat(64 * 1024);
    const events = 480; // 30 MiB in all
    for (let i = 0; i < events; i += 10) {
      for (let j = 0; j < 10; j++) hub.toRestaurant('a', { eventType: 'big', payload });
      // The fast client keeps up; the stuck one would hold everything without the bound.
      await waitFor('the fast client', () => fast.events().length === i + 10);
      globalThis.gc?.(); // count what is held, not garbage waiting for collection
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    expect(hub.stats().slowConsumerCloses).toBe(1);
    await waitFor('the stuck client to be gone', () => hub.stats().connections.websocket === 1);
    expect(fast.events()).toHaveLength(events);
    // Unbounded, the stuck socket would hold the whole 30 MiB (about 26 MiB measured);
    // bounded, under 3 MiB.
    expect(peak - before).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('slow SSE streams', () => {
  it('ends a stream that does not read, and keeps serving the others', async () => {
    const { server, hub, httpUrl } = await startHub({ redis: false, maxBufferedBytes: 256 * 1024 });
    const port = (server.address() as { port: number }).port;
    const reading = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    const stuck = connect(port, '127.0.0.1');
    afterThisTest(() => stuck.destroy());
    stuck.on('error', () => {});
    await new Promise<void>((resolve) => stuck.once('connect', () => resolve()));
    stuck.write(
      `GET /events?restaurantId=a HTTP/1.1\r\nHost: 127.0.0.1\r\nx-test-user: ${JSON.stringify(alice)}\r\n\r\n`,
    );
    await waitFor('both streams', () => hub.stats().connections.sse === 2);
    stuck.pause(); // never reads again

    // Bursts larger than maxBufferedBytes within one tick: a stream that reads must not be
    // taken for a slow one.
    const payload = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 480; i += 10) {
      for (let j = 0; j < 10; j++) void hub.toRestaurant('a', { eventType: 'big', payload });
      // The text's length, not a parse of all of it on every poll: the reader keeps up.
      await waitFor('the reading stream', () => reading.text().length > (i + 10) * payload.length);
    }
    expect(reading.events()).toHaveLength(480);
    expect(hub.stats().slowConsumerCloses).toBe(1);
    expect(hub.stats().connections.sse).toBe(1);
  });

  it('lets go of a stream that stopped reading once no events flow, and gives its slot back', async () => {
    const gate = connectionLimit({ maxPerIp: 10, redis: false, logger: false });
    afterThisTest(() => gate.close());
    // A bound far above what this test writes: only the heartbeat can notice this peer.
    const { server, hub, httpUrl } = await startHub({
      redis: false,
      // Long enough for the reading stream, in this same busy process, to take some of the
      // burst between two heartbeats: it must never be taken for a stuck one.
      heartbeatMs: 500,
      maxBufferedBytes: 256 * 1024 * 1024,
      connectionGate: gate,
    });
    const port = (server.address() as { port: number }).port;
    const reading = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    const stuck = connect(port, '127.0.0.1');
    afterThisTest(() => stuck.destroy());
    stuck.on('error', () => {});
    await new Promise<void>((resolve) => stuck.once('connect', () => resolve()));
    stuck.write(
      `GET /events?restaurantId=a HTTP/1.1\r\nHost: 127.0.0.1\r\nx-test-user: ${JSON.stringify(alice)}\r\n\r\n`,
    );
    await waitFor('both streams', () => hub.stats().connections.sse === 2);
    stuck.pause(); // never reads again
    // More than the kernel's buffers take, so that some of it waits in the server; then quiet.
    const payload = 'x'.repeat(256 * 1024);
    for (let i = 0; i < 96; i++) void hub.toRestaurant('a', { eventType: 'big', payload });
    await waitFor('the stuck stream to be let go', () => hub.stats().connections.sse === 1, 10_000);
    expect(hub.stats().slowConsumerCloses).toBe(1);
    expect(gate.stats().active).toBe(1);
    // The stream that reads stays, heartbeat after heartbeat.
    await waitFor('every event', () => reading.text().length > 96 * payload.length, 10_000);
    const beats = reading.text().split(': ping').length;
    await waitFor('more heartbeats', () => reading.text().split(': ping').length > beats + 3);
    expect(hub.stats().connections.sse).toBe(1);
  });
});

describe('graceful shutdown', () => {
  it('closes WebSockets with 1012 and a jittered retryAfterMs, ends SSE with retry:, and refuses new work', async () => {
    const { hub, wsUrl, httpUrl } = await startHub({ redis: false, retryAfterMs: [1000, 9000] });
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(wsUrl, alice)));
    const stream = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    await waitFor('the stream', () => hub.stats().connections.sse === 1);

    await hub.close();
    const closes = await Promise.all(clients.map((c) => c.closed));
    const delays = closes.map(({ code, reason }) => {
      expect(code).toBe(1012);
      const { retryAfterMs } = JSON.parse(reason) as { retryAfterMs: number };
      expect(retryAfterMs).toBeGreaterThanOrEqual(1000);
      expect(retryAfterMs).toBeLessThanOrEqual(9000);
      return retryAfterMs;
    });
    expect(new Set(delays).size).toBeGreaterThan(1); // not all in the same second
    await stream.ended;
    expect(stream.text()).toMatch(/retry: \d+\n\n$/);
    expect(() => hub.broadcast({ eventType: 'late' })).toThrow(HubClosedError);
    expect((await openSse(`${httpUrl}/events?restaurantId=a`, alice)).status).toBe(503);
    expect(hub.stats().connections).toEqual({ websocket: 0, sse: 0 });
  });

  it('drain() sends its clients away but still publishes to the other instances until close()', async () => {
    const [one, two] = await startInstances(2);
    const near = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const far = await joinedClient(two!.wsUrl, alice, 'restaurant:a');

    await one!.hub.drain();
    expect((await near.closed).code).toBe(1012);
    expect((await openSse(`${one!.httpUrl}/events?restaurantId=a`, alice)).status).toBe(503);
    // A request that was in flight when the drain began still reaches the other instance.
    await one!.hub.toRestaurant('a', { eventType: 'order-created', payload: 1 });
    const event = await far.next((m) => m.eventType === 'order-created', 'the late event');
    expect(event.payload).toBe(1);

    await one!.hub.close();
    expect(() => one!.hub.toRestaurant('a', { eventType: 'order-created', payload: 2 })).toThrow(
      HubClosedError,
    );
  });
});
