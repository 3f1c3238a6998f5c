import { faultProxy, keyPrefix, redisUrl } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import {
  afterThisTest,
  connectClient,
  openSse,
  type SseStream,
  startHub,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

/**
 * Two instances of one app: `direct` on the test Redis, `slow` through a proxy the test can
 * freeze, so that its subscription to a room hangs until the test lets it through.
 */
async function oneInstanceBehindAProxy(name: string) {
  const url = await redisUrl();
  const proxy = await faultProxy(url);
  afterThisTest(() => proxy.close());
  const prefix = keyPrefix(`realtime-join-order-${name}`);
  const direct = await startHub({ redis: url, prefix, instanceId: 'direct' });
  const slow = await startHub({ redis: proxy.url(url), prefix, instanceId: 'slow' });
  return { proxy, direct, slow };
}

const moment = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('a join is answered once the room reaches this instance', () => {
  it('tells a WebSocket client `joined` only once its room is subscribed, and what another instance publishes then reaches it', async () => {
    const { proxy, direct, slow } = await oneInstanceBehindAProxy('ws');
    const client = await connectClient(slow.wsUrl, alice);
    proxy.freeze();
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await moment();
    expect(client.messages.filter((m) => m.type === 'joined')).toEqual([]);

    proxy.restore();
    await client.next((m) => m.type === 'joined', 'joined');
    await direct.hub.toRestaurant('a', { eventType: 'order.created', payload: { n: 1 } });
    await waitFor('the event', () => client.events().length === 1);
    expect(client.events()[0]).toMatchObject({ type: 'event', payload: { n: 1 } });
  });

  it('sends no event of the room before `joined`: one published meanwhile follows it', async () => {
    const { proxy, slow } = await oneInstanceBehindAProxy('order');
    const client = await connectClient(slow.wsUrl, alice);
    proxy.freeze();
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await moment();
    // A local publish reaches this instance's members at once, Redis or not.
    await slow.hub.toRestaurant('a', { eventType: 'order.created', payload: { n: 4 } });
    await moment();
    expect(client.messages).toEqual([]);

    proxy.restore();
    await waitFor('the event', () => client.events().length === 1);
    expect(client.messages.map((m) => m.type)).toEqual(['joined', 'event']);
  });

  it('answers requests in the order they came, though a join waits for Redis', async () => {
    const { proxy, slow } = await oneInstanceBehindAProxy('answers');
    const client = await connectClient(slow.wsUrl, alice);
    proxy.freeze();
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    client.send({ type: 'subscribe', room: 'restaurant:b' }); // not alice's: refused
    client.send({ type: 'ping' });
    await moment();
    expect(client.messages).toEqual([]);

    proxy.restore();
    await waitFor('three answers', () => client.messages.length === 3);
    expect(client.messages.map((m) => [m.type, m.room ?? m.code])).toEqual([
      ['joined', 'restaurant:a'],
      ['error', 'restaurant:b'],
      ['pong', undefined],
    ]);
  });

  it('keeps at most 100 requests waiting behind a join, and refuses the rest at once', async () => {
    const { proxy, slow } = await oneInstanceBehindAProxy('flood');
    const client = await connectClient(slow.wsUrl, alice);
    proxy.freeze();
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    for (let i = 0; i < 150; i++) client.send({ type: 'ping' });
    await waitFor('the refusals', () => client.messages.length === 51);
    expect(new Set(client.messages.map((m) => `${m.type} ${m.code}: ${m.message}`))).toEqual(
      new Set(['error rate_limited: too many requests unanswered']),
    );

    proxy.restore();
    await waitFor('the answers', () => client.messages.length === 51 + 100);
    const answers = client.messages.slice(51).map((m) => m.type);
    expect(answers).toEqual(['joined', ...Array(99).fill('pong')]);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });

  it('answers a join within a few seconds even while Redis hangs, and delivers local events', async () => {
    const { proxy, slow } = await oneInstanceBehindAProxy('hang');
    const client = await connectClient(slow.wsUrl, alice);
    proxy.freeze();
    afterThisTest(() => proxy.restore());
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await waitFor('joined', () => client.messages.some((m) => m.type === 'joined'), 8000);
    await slow.hub.toRestaurant('a', { eventType: 'order.created', payload: { n: 2 } });
    await waitFor('the local event', () => client.events().length === 1);
  }, 15_000);

  it('sends an SSE stream its head only once its room is subscribed', async () => {
    const { proxy, direct, slow } = await oneInstanceBehindAProxy('sse');
    proxy.freeze();
    let stream: SseStream | undefined;
    const opening = openSse(`${slow.httpUrl}/events?room=restaurant:a`, alice).then((s) => {
      stream = s;
      return s;
    });
    await moment();
    expect(stream).toBeUndefined();

    proxy.restore();
    const opened = await opening;
    expect(opened.status).toBe(200);
    expect(opened.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await direct.hub.toRestaurant('a', { eventType: 'order.created', payload: { n: 3 } });
    await waitFor('the event', () => opened.events().some((e) => e.data.includes('"n":3')));
  });
});
