import { cleanupPrefix, keyPrefix, recordingLogger, redisUrl } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import type { ClientEvent, Encode, HubNotice } from '../src/index.js';
import { recordClient } from './helpers/client-hubs.js';
import {
  afterThisTest,
  connectClient,
  openSse,
  type TestClient,
  upgradeRefusal,
  waitFor,
} from './helpers/hubs.js';
import { legacyEncode, servePaths, vendor7, vendorOfUrl } from './helpers/wire-paths.js';

const order = { id: 1, item: 'pastel de queijo', status: 'new' };
/** The dashboard's path: its rooms from the URL, its format, none of the hub's notices. */
const legacy = { path: '/ws', rooms: vendorOfUrl, encode: legacyEncode, notices: 'none' } as const;

/** Publishes a marker broadcast after what came before, and waits for the client to get it. */
async function settle(hub: { broadcast: (e: { eventType: string }) => unknown }, c: TestClient) {
  await hub.broadcast({ eventType: 'MARKER' });
  await c.next((m) => m.type === 'MARKER', 'the marker');
}

describe('an encoder per path', () => {
  it("sends the app's own { type, order } on its path, and nothing else", async () => {
    const { hub, ws } = await servePaths({}, [legacy]);
    const dashboard = await connectClient(ws('/ws?vendorId=7'), vendor7);
    await waitFor('the room', () => hub.stats().rooms === 1);
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    await hub.publish('vendor:7', {
      eventType: 'ORDER_UPDATE',
      payload: { ...order, status: 'ready' },
    });
    await settle(hub, dashboard);
    expect(dashboard.messages).toEqual([
      { type: 'NEW_ORDER', order },
      { type: 'ORDER_UPDATE', order: { ...order, status: 'ready' } },
      { type: 'MARKER', order: null },
    ]);
  });

  it('encodes an event once per encoder however many clients share it, and skips it where the encoder says so', async () => {
    const seen: ClientEvent[] = [];
    const counting: Encode = (e) => {
      seen.push(e);
      return e.eventType === 'INTERNAL' ? undefined : legacyEncode(e);
    };
    const { hub, ws } = await servePaths({}, [
      { ...legacy, encode: counting },
      { ...legacy, path: '/ws-too', encode: counting }, // shares the encoder
      { path: '/v2/ws', rooms: vendorOfUrl },
    ]);
    const clients = [];
    for (const path of ['/ws', '/ws', '/ws', '/ws-too', '/ws-too']) {
      clients.push(await connectClient(ws(`${path}?vendorId=7`), vendor7));
    }
    const modern = await connectClient(ws('/v2/ws?vendorId=7'), vendor7);
    await waitFor('six members', () => hub.stats().connections.websocket === 6);
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    await hub.publish('vendor:7', { eventType: 'INTERNAL', payload: 'not for dashboards' });
    await hub.broadcast({ eventType: 'MARKER' });
    for (const client of clients) await client.next((m) => m.type === 'MARKER', 'the marker');
    expect(seen.map((e) => e.eventType)).toEqual(['NEW_ORDER', 'INTERNAL', 'MARKER']);
    expect(Object.isFrozen(seen[0])).toBe(true);
    expect(seen[0]).toEqual({
      eventType: 'NEW_ORDER',
      id: expect.any(String),
      traceId: expect.any(String),
      payload: order,
      ts: expect.any(Number),
      room: 'vendor:7',
    });
    for (const client of clients) {
      expect(client.messages.map((m) => m.type)).toEqual(['NEW_ORDER', 'MARKER']);
    }
    await modern.next((m) => m.eventType === 'MARKER', 'the marker');
    expect(modern.events().map((e) => e.eventType)).toEqual(['NEW_ORDER', 'INTERNAL', 'MARKER']);
    // Written: 5 + 1 orders, 1 internal, 6 markers.
    expect(hub.stats().delivered).toBe(13);
  });

  it('skips an event whose encoder throws, logs it once, and keeps the connection', async () => {
    const logger = recordingLogger();
    const { hub, ws } = await servePaths({ logger }, [
      {
        ...legacy,
        encode: (e) => {
          if (e.eventType === 'BROKEN') throw new Error('no order in it');
          return legacyEncode(e);
        },
      },
    ]);
    const dashboard = await connectClient(ws('/ws?vendorId=7'), vendor7);
    await waitFor('the room', () => hub.stats().rooms === 1);
    await hub.publish('vendor:7', { eventType: 'BROKEN' });
    await hub.publish('vendor:7', { eventType: 'BROKEN' });
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    await dashboard.next((m) => m.type === 'NEW_ORDER', 'the order');
    expect(dashboard.messages).toEqual([{ type: 'NEW_ORDER', order }]);
    expect(logger.lines.filter((l) => l.includes('encode() threw'))).toEqual([
      'warn realtime: encode() threw, event not sent: no order in it',
    ]);
  });

  it("sends SSE events as the app's data, with id: for Last-Event-ID and no event: line", async () => {
    const redis = await redisUrl();
    const prefix = keyPrefix('wire-format');
    afterThisTest(() => cleanupPrefix(redis, prefix));
    const { hub, httpUrl } = await servePaths({ redis, prefix, history: true }, [], {
      '/events': { rooms: vendorOfUrl, encode: legacyEncode },
    });
    const stream = await openSse(`${httpUrl}/events?vendorId=7`, vendor7);
    await waitFor('the room', () => hub.stats().rooms === 1);
    const sent = [];
    for (const id of [1, 2, 3]) {
      sent.push(await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: { id } }));
    }
    await waitFor('three events', () => stream.events().length === 3);
    expect(stream.text()).not.toMatch(/^event:/m);
    expect(stream.events()).toEqual(
      sent.map((e) => ({
        id: e.id,
        data: JSON.stringify({ type: 'NEW_ORDER', order: e.payload }),
      })),
    );
    // The browser comes back with the first id: it gets the other two, in its format.
    const resumed = await openSse(`${httpUrl}/events?vendorId=7`, vendor7, {
      'Last-Event-ID': sent[0]!.id,
    });
    await waitFor('the two it missed', () => resumed.events().length === 2);
    expect(resumed.events().map((e) => JSON.parse(e.data))).toEqual([
      { type: 'NEW_ORDER', order: { id: 2 } },
      { type: 'NEW_ORDER', order: { id: 3 } },
    ]);
  });
});

describe('notices', () => {
  it("sends the hub's notices as JSON by default, none with 'none', and the app's text with a function", async () => {
    const told: HubNotice[] = [];
    const { hub, ws } = await servePaths({}, [
      { path: '/hub', rooms: vendorOfUrl, encode: legacyEncode },
      { path: '/none', rooms: vendorOfUrl, encode: legacyEncode, notices: 'none' },
      {
        path: '/own',
        rooms: vendorOfUrl,
        encode: legacyEncode,
        notices: (n) => {
          told.push(n);
          return n.type === 'pong' ? JSON.stringify({ type: 'PONG' }) : undefined;
        },
      },
    ]);
    const clients = [];
    for (const path of ['/hub', '/none', '/own']) {
      const client = await connectClient(ws(`${path}?vendorId=7`), vendor7);
      client.send({ type: 'ping' });
      client.send({ type: 'dance' });
      clients.push(client);
    }
    const [asHub, asNone, asOwn] = clients as [TestClient, TestClient, TestClient];
    await asOwn.next((m) => m.type === 'PONG', 'the pong');
    await waitFor('every notice', () => told.length === 3);
    await hub.broadcast({ eventType: 'MARKER' });
    for (const client of clients) await client.next((m) => m.type === 'MARKER', 'the marker');
    expect(asHub.messages.map((m) => m.type)).toEqual(['joined', 'pong', 'error', 'MARKER']);
    expect(asNone.messages.map((m) => m.type)).toEqual(['MARKER']);
    expect(asOwn.messages.map((m) => m.type)).toEqual(['PONG', 'MARKER']);
    expect(told).toEqual([
      { type: 'joined', room: 'vendor:7' },
      { type: 'pong', ts: expect.any(Number) },
      expect.objectContaining({ type: 'error', code: 'unknown_type' }),
    ]);
  });

  it('tells an SSE stream of a gap in its own format, or not at all', async () => {
    const { httpUrl } = await servePaths({}, [], {
      '/hub': { rooms: vendorOfUrl },
      '/none': { rooms: vendorOfUrl, notices: 'none' },
      '/own': {
        rooms: vendorOfUrl,
        notices: (n) => JSON.stringify({ type: 'RELOAD', of: n.type }),
      },
    });
    // No history: a stream that resumes is told of a gap.
    const resume = { 'Last-Event-ID': '1-0' };
    const asHub = await openSse(`${httpUrl}/hub?vendorId=7`, vendor7, resume);
    const asNone = await openSse(`${httpUrl}/none?vendorId=7`, vendor7, resume);
    const asOwn = await openSse(`${httpUrl}/own?vendorId=7`, vendor7, resume);
    await waitFor('the gaps', () => asHub.events().length === 1 && asOwn.events().length === 1);
    expect(asHub.events()).toEqual([{ event: 'gap', data: '{"type":"gap","room":"vendor:7"}' }]);
    expect(asOwn.events()).toEqual([{ data: '{"type":"RELOAD","of":"gap"}' }]);
    expect(asNone.events()).toEqual([]);
  });
});

describe('attach and sse options', () => {
  it.each([
    [{ encode: 'json' }, /attach\(\) encode must be a function/],
    [{ decode: {} }, /attach\(\) decode must be a function/],
    [{ notices: 'legacy' }, /attach\(\) notices must be 'hub', 'none' or a function/],
    [{ rooms: 'vendor:7' }, /attach\(\) rooms must be a function/],
  ])('refuses attach(%j) with a RealtimeOptionError', async (options, message) => {
    const { hub } = await servePaths({}, []);
    const { createServer } = await import('node:http');
    expect(() => hub.attach(createServer(), options as never)).toThrow(message);
    expect(() => hub.attach(createServer(), options as never)).toThrow(
      expect.objectContaining({ code: 'BANCADA_REALTIME_INVALID_OPTION' }),
    );
  });

  it('refuses bad sse() options', async () => {
    const { hub } = await servePaths({}, []);
    expect(() => hub.sse({ encode: 1 as never })).toThrow(/sse\(\) encode must be a function/);
    expect(() => hub.sse({ notices: 'all' as never })).toThrow(/sse\(\) notices must be/);
    expect(() => hub.sse({ rooms: [] as never })).toThrow(/sse\(\) rooms must be a function/);
  });
});

describe('two formats side by side, for a rolling deploy', () => {
  it('delivers one event to an old dashboard on /ws and to the SDK on /v2/ws, each in its own format', async () => {
    const { hub, ws } = await servePaths({}, [legacy, { path: '/v2/ws' }]);
    // Any other path is still answered, not left hanging.
    expect((await upgradeRefusal(ws('/ws2'), {})).status).toBe(404);
    const dashboard = await connectClient(ws('/ws?vendorId=7'), vendor7);
    const sdk = recordClient(ws('/v2/ws'), vendor7);
    sdk.client.join('vendor:7');
    await waitFor('the SDK to join', () => sdk.joined.length === 1);
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    await dashboard.next((m) => m.type === 'NEW_ORDER', 'the order on the old dashboard');
    await waitFor('the order on the SDK', () => sdk.events.length === 1);
    expect(dashboard.messages).toEqual([{ type: 'NEW_ORDER', order }]);
    expect(sdk.events).toEqual([
      expect.objectContaining({ eventType: 'NEW_ORDER', payload: order }),
    ]);
    expect(sdk.errors).toEqual([]);
  });
});
