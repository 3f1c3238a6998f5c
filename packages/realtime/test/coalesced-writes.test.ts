import { describe, expect, it } from 'vitest';
import {
  afterThisTest,
  joinedClient,
  openSse,
  startHub,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';
import { stuckClient } from './helpers/stuck-client.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

/** Payloads of many sizes, some past what a batch holds back, each naming its place. */
function burst(count: number): Array<{ n: number; text: string }> {
  return Array.from({ length: count }, (_, n) => ({
    n,
    text: String.fromCharCode(97 + (n % 26)).repeat(n % 7 === 0 ? 40_000 : 1 + ((n * 37) % 500)),
  }));
}

/**
 * The code of the close frame that ends what a server sent (read from the middle of its
 * stream, so found from the end): `0x88`, its length, the code, the reason.
 */
function closeCodeAtEnd(bytes: Buffer): number | undefined {
  for (let at = bytes.length - 4; at >= Math.max(0, bytes.length - 127); at--) {
    if (bytes[at] === 0x88 && bytes[at + 1] === bytes.length - at - 2) {
      return bytes.readUInt16BE(at + 2);
    }
  }
  return undefined;
}

describe.each([
  ['the same turn', 0],
  ['a write delay', 25],
])('coalesced writes (%s)', (_name, writeDelayMs) => {
  it('delivers a burst in order and intact, each event its own WebSocket message', async () => {
    const { hub, wsUrl } = await startHub({ redis: false, writeDelayMs });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    const sent = burst(300);
    for (const { n, text } of sent) hub.toRestaurant('a', { eventType: 'n', payload: { n, text } });
    await waitFor('every event', () => client.events().length === sent.length);
    expect(client.events().map((e) => e.payload)).toEqual(sent);
    // Events published one at a time, apart, arrive too.
    for (let n = 0; n < 3; n++) {
      hub.toRestaurant('a', { eventType: 'late', payload: { n } });
      await waitFor('the late event', () => client.events().length === sent.length + n + 1);
    }
  });

  it('delivers a burst in order and intact, each event its own SSE event', async () => {
    const { hub, httpUrl } = await startHub({ redis: false, writeDelayMs });
    const stream = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    await waitFor('the stream to join', () => hub.stats().rooms === 1);
    const sent = burst(300);
    for (const { n, text } of sent) hub.toRestaurant('a', { eventType: 'n', payload: { n, text } });
    await waitFor('every event', () => stream.events().length === sent.length);
    const received = stream.events();
    expect(received.map((e) => e.event)).toEqual(sent.map(() => 'n'));
    expect(received.map((e) => (JSON.parse(e.data) as { payload: unknown }).payload)).toEqual(sent);
  });

  it('writes what was held back before it sends a client away', async () => {
    const { hub, wsUrl, httpUrl } = await startHub({ redis: false, writeDelayMs });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    const stream = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    await waitFor('both in the room', () => hub.stats().connections.sse === 1);
    for (let n = 0; n < 5; n++) hub.toRestaurant('a', { eventType: 'n', payload: { n } });
    await hub.drain(); // in the same turn as the publishes
    expect((await client.closed).code).toBe(1012);
    expect(client.events().map((e) => e.payload)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
    await stream.ended;
    expect(stream.events().map((e) => JSON.parse(e.data).payload)).toEqual(
      [0, 1, 2, 3, 4].map((n) => ({ n })),
    );
    expect(stream.text()).toMatch(/retry: \d+\n\n$/);
  });

  it('loses nothing for the others and throws nothing when a client goes with writes held back', async () => {
    const { hub, wsUrl, httpUrl } = await startHub({ redis: false, writeDelayMs });
    const staying = await joinedClient(wsUrl, alice, 'restaurant:a');
    const leaving = await joinedClient(wsUrl, alice, 'restaurant:a');
    const leavingStream = await openSse(`${httpUrl}/events?restaurantId=a`, alice);
    await waitFor('all three in the room', () => hub.stats().connections.sse === 1);
    for (let n = 0; n < 50; n++) {
      hub.toRestaurant('a', { eventType: 'n', payload: { n } });
      if (n === 10) {
        leaving.ws.terminate();
        leavingStream.close();
      }
    }
    await waitFor('the staying client', () => staying.events().length === 50);
    await waitFor('the others gone', () => hub.stats().connections.websocket === 1);
    await waitFor('the stream gone', () => hub.stats().connections.sse === 0);
    expect(staying.events().map((e) => (e.payload as { n: number }).n)).toEqual(
      Array.from({ length: 50 }, (_, n) => n),
    );
    for (let n = 50; n < 60; n++) hub.toRestaurant('a', { eventType: 'n', payload: { n } });
    await waitFor('later events', () => staying.events().length === 60);
  });

  it('still closes a client that does not read with 1013, and keeps serving the others', async () => {
    const { server, hub, wsUrl } = await startHub({
      redis: false,
      writeDelayMs,
      maxBufferedBytes: 256 * 1024,
    });
    const port = (server.address() as { port: number }).port;
    const fast = await joinedClient(wsUrl, alice, 'restaurant:a');
    const stuck = await stuckClient(port, alice, 'restaurant:a');
    await waitFor('both in the room', () => hub.stats().connections.websocket === 2);
    // Once closed as slow, the stuck client reads again (before the hub's grace for the close
    // handshake runs out): it finds the close frame after what was written before it.
    const chunks: Buffer[] = [];
    stuck.on('data', (chunk: Buffer) => chunks.push(chunk));
    const reader = setInterval(() => {
      if (hub.stats().slowConsumerCloses > 0) stuck.resume();
    }, 5);
    afterThisTest(() => clearInterval(reader));
    const payload = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 160; i += 10) {
      for (let j = 0; j < 10; j++) hub.toRestaurant('a', { eventType: 'big', payload });
      await waitFor('the fast client', () => fast.events().length === i + 10);
    }
    expect(hub.stats().slowConsumerCloses).toBe(1);
    await waitFor('the close frame', () => closeCodeAtEnd(Buffer.concat(chunks)) !== undefined);
    expect(closeCodeAtEnd(Buffer.concat(chunks))).toBe(1013);
    expect(hub.stats().connections.websocket).toBe(1);
  });
});
