import { recordingLogger } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import type { Decode, HubRequest } from '../src/index.js';
import { connectClient, waitFor } from './helpers/hubs.js';
import { legacyEncode, servePaths, vendor7 } from './helpers/wire-paths.js';

/**
 * An app's own messages: `{ type: 'WATCH', vendorId }`, `{ type: 'UNWATCH', vendorId }`,
 * `{ type: 'PING' }`, and `{ type: 'HELLO' }`, which its old server never answered.
 */
const decodeLegacy: Decode = (text) => {
  const m = JSON.parse(text) as { type?: string; vendorId?: unknown };
  switch (m.type) {
    case 'WATCH':
      return { type: 'join', room: `vendor:${m.vendorId}` };
    case 'UNWATCH':
      return { type: 'leave', room: `vendor:${m.vendorId}` };
    case 'PING':
      return { type: 'ping' };
    case 'HELLO':
      return null;
    default:
      throw new Error(`unknown message ${m.type}`);
  }
};

const order = { id: 1, item: 'caldo de cana', status: 'new' };

describe('a decoder per path', () => {
  it("serves the app's own join, leave and ping, and ignores on purpose what it returns null for", async () => {
    const { hub, ws } = await servePaths({}, [
      {
        path: '/ws',
        decode: decodeLegacy,
        encode: legacyEncode,
        notices: (n) => (n.type === 'pong' ? '{"type":"PONG"}' : undefined),
      },
    ]);
    const dashboard = await connectClient(ws('/ws'), vendor7);
    dashboard.send({ type: 'HELLO' });
    dashboard.send({ type: 'WATCH', vendorId: 7 });
    dashboard.send({ type: 'PING' });
    await dashboard.next((m) => m.type === 'PONG', 'the pong');
    await waitFor('the join', () => hub.stats().rooms === 1);
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    await dashboard.next((m) => m.type === 'NEW_ORDER', 'the order');
    dashboard.send({ type: 'UNWATCH', vendorId: 7 });
    await waitFor('the leave', () => hub.stats().rooms === 0);
    expect(dashboard.messages).toEqual([{ type: 'PONG' }, { type: 'NEW_ORDER', order }]);
    expect(hub.stats().messagesIgnored).toBe(1);
  });

  it('serves every request of a message that decodes to several, and authorizes each join', async () => {
    const { hub, ws } = await servePaths({}, [
      {
        path: '/ws',
        decode: (text) =>
          (JSON.parse(text) as string[]).map((room): HubRequest => ({ type: 'join', room })),
      },
    ]);
    const client = await connectClient(ws('/ws'), vendor7);
    client.send(['vendor:7', 'vendor:8']);
    await client.next((m) => m.type === 'error', 'the refusal');
    expect(client.messages).toEqual([
      { type: 'joined', room: 'vendor:7' },
      { type: 'error', code: 'forbidden', message: 'not allowed in this room', room: 'vendor:8' },
    ]);
    expect(hub.stats().rooms).toBe(1);
  });

  it('answers an unknown legacy message (the decoder throws) as a bad message: error, then 1008 past maxBadMessages', async () => {
    const logger = recordingLogger();
    const { ws } = await servePaths({ maxBadMessages: 2, logger }, [
      { path: '/ws', decode: decodeLegacy },
      { path: '/quiet', decode: decodeLegacy, notices: 'none' },
    ]);
    const client = await connectClient(ws('/ws'), vendor7);
    client.send({ type: 'DANCE' });
    client.send({ type: 'WATCH' }); // a room of "vendor:undefined": joins nothing it may not
    client.send({ type: 'PING' });
    await waitFor('three answers', () => client.messages.length === 3);
    // A join waits for authorize, so the pong may come first.
    expect(client.messages).toEqual(
      expect.arrayContaining([
        { type: 'error', code: 'undecodable', message: 'this message means nothing here' },
        expect.objectContaining({ type: 'error', code: 'forbidden' }),
        expect.objectContaining({ type: 'pong' }),
      ]),
    );
    expect(logger.lines).toContainEqual('warn realtime: decode() threw: unknown message DANCE');
    client.send({ type: 'DANCE' });
    expect(await client.closed).toEqual({ code: 1008, reason: 'too many bad messages' });

    // Told nothing, but closed all the same.
    const quiet = await connectClient(ws('/quiet'), vendor7);
    for (let i = 0; i < 3; i++) quiet.send({ type: 'DANCE' });
    expect(await quiet.closed).toEqual({ code: 1008, reason: 'too many bad messages' });
    expect(quiet.messages).toEqual([]);
  });

  it('takes a decoded request with a bad room, a bad since, or of no known type as a bad message', async () => {
    const answers: unknown[] = [
      { type: 'join', room: 42 },
      { type: 'resume', room: 'vendor:7', since: '' },
      { type: 'subscribe', room: 'vendor:7' }, // the hub's wire name, not a request type
      'join',
      [{ type: 'ping' }, { type: 'join' }], // all or nothing: no pong either
      undefined,
    ];
    const { hub, ws } = await servePaths({}, [
      { path: '/ws', decode: () => answers.shift() as ReturnType<Decode> },
    ]);
    const client = await connectClient(ws('/ws'), vendor7);
    for (let i = 0; i < 6; i++) client.send('{}');
    await waitFor('six answers', () => client.messages.length === 6);
    expect(client.messages.map((m) => m.code)).toEqual([
      'invalid_room',
      'invalid_since',
      'undecodable',
      'undecodable',
      'invalid_room',
      'undecodable',
    ]);
    expect(hub.stats().messagesIgnored).toBe(0);
  });
});
