import { describe, expect, it } from 'vitest';
import {
  anonymous,
  anyOf,
  firstOf,
  publicRooms,
  RealtimeArgumentError,
  restaurantRooms,
} from '../src/index.js';
import {
  connectClient,
  headerAuthenticate,
  openSse,
  startHub,
  type TestUser,
  upgradeRefusal,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

/** The answer to each of `rooms`, subscribed in turn: 'joined' or the error code. */
async function answers(client: Awaited<ReturnType<typeof connectClient>>, rooms: string[]) {
  for (const room of rooms) client.send({ type: 'subscribe', room });
  await waitFor('an answer to each room', () => client.messages.length === rooms.length);
  return Object.fromEntries(
    client.messages.map((m) => [m.room, m.type === 'joined' ? 'joined' : m.code]),
  );
}

describe('anonymous clients and public rooms', () => {
  it('lets a client with no login follow a public room, and nothing else', async () => {
    const { wsUrl, httpUrl, hub } = await startHub({
      redis: false,
      authenticate: anonymous(),
      authorize: publicRooms('order:*'),
    });
    const customer = await connectClient(wsUrl); // no header, no cookie, no token
    expect(
      await answers(customer, [
        'order:7f3a',
        'restaurant:a',
        'order:7f3a:notes',
        'order:',
        'orders:7f3a',
      ]),
    ).toEqual({
      'order:7f3a': 'joined',
      'restaurant:a': 'forbidden',
      'order:7f3a:notes': 'forbidden',
      'order:': 'forbidden',
      'orders:7f3a': 'forbidden',
    });
    const sse = await openSse(`${httpUrl}/events?room=order:7f3a`);
    expect(sse.status).toBe(200);
    expect((await openSse(`${httpUrl}/events?restaurantId=a`)).status).toBe(403);

    await hub.publish('order:7f3a', { eventType: 'order-ready' });
    await hub.toRestaurant('a', { eventType: 'order-created', payload: 'for the staff' });
    await customer.next((m) => m.eventType === 'order-ready', 'the order event over WebSocket');
    await waitFor('the order event over SSE', () =>
      sse.events().some((e) => e.event === 'order-ready'),
    );
    expect(customer.events().map((e) => e.eventType)).toEqual(['order-ready']);
  });

  it('keeps logged-in staff as they are and lets everyone else in as anonymous (firstOf, anyOf)', async () => {
    const { wsUrl } = await startHub({
      redis: false,
      authenticate: firstOf(headerAuthenticate, anonymous({ id: 'guest' })),
      authorize: anyOf(restaurantRooms, publicRooms('order:*')),
    });
    const staff = await connectClient(wsUrl, alice);
    const customer = await connectClient(wsUrl);
    expect(await answers(staff, ['restaurant:a', 'order:1', 'restaurant:b'])).toEqual({
      'restaurant:a': 'joined',
      'order:1': 'joined',
      'restaurant:b': 'forbidden',
    });
    expect(await answers(customer, ['restaurant:a', 'order:1'])).toEqual({
      'restaurant:a': 'forbidden',
      'order:1': 'joined',
    });
  });

  it('answers 503 when an authenticator of firstOf fails, rather than letting the client in as the next', async () => {
    const { wsUrl, httpUrl } = await startHub({
      redis: false,
      authenticate: firstOf(async () => {
        throw new Error('the session store is down');
      }, anonymous()),
      authorize: publicRooms('order:*'),
    });
    expect((await upgradeRefusal(wsUrl)).status).toBe(503);
    expect((await openSse(`${httpUrl}/events?room=order:1`)).status).toBe(503);
  });

  it('answers unavailable, not forbidden, when an authorizer of anyOf fails', async () => {
    const { wsUrl } = await startHub({
      redis: false,
      authenticate: anonymous(),
      authorize: anyOf(async () => {
        throw new Error('the permissions service is down');
      }, publicRooms('order:*')),
    });
    const client = await connectClient(wsUrl);
    expect(await answers(client, ['order:1'])).toEqual({ 'order:1': 'unavailable' });
  });

  it('with anonymous() and the default authorize, joins nothing', async () => {
    const { wsUrl } = await startHub({ redis: false, authenticate: anonymous() });
    const client = await connectClient(wsUrl);
    expect(await answers(client, ['restaurant:a'])).toEqual({ 'restaurant:a': 'forbidden' });
  });
});

describe('publicRooms patterns', () => {
  it('match segment by segment, * standing for one or more characters within one', async () => {
    const table: Array<[string, string, boolean]> = [
      ['order:*', 'order:42', true],
      ['order:*', 'order:', false],
      ['order:*', 'order:42:notes', false],
      ['order:*', 'orders:42', false],
      ['order:*', 'xorder:42', false],
      ['menu-*', 'menu-lunch', true],
      ['menu-*', 'menu-', false],
      ['*:public', 'news:public', true],
      ['*:public', 'a:b:public', false],
      ['a*b*c', 'axbyc', true],
      ['a*b*c', 'abc', false],
      ['a*b*c', 'axbc', false],
      ['ab*ba', 'aba', false],
      ['ab*ba', 'abxba', true],
      ['lobby', 'lobby', true],
      ['lobby', 'lobby2', false],
      ['*', 'anything', true],
      ['*', 'two:segments', false],
      ['order.*', 'orderx1', false], // only * is special
      ['*-*-*-*-*', `${'-'.repeat(255)}x`, true],
      ['*-*-*-*-*', '-'.repeat(256), true],
      ['*-*-*-*-x', '-'.repeat(256), false],
    ];
    const results = await Promise.all(
      table.map(async ([pattern, room]) => publicRooms(pattern)({}, room)),
    );
    expect(results).toEqual(table.map(([, , expected]) => expected));
    expect(publicRooms('order:*', 'lobby')({}, 'lobby')).toBe(true);
  });

  it('are refused when they cannot work, as are empty or non-function compositions', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => publicRooms(), /at least one room pattern/],
      [() => publicRooms('order:**'), /\*\* in "order:\*\*"/],
      [() => publicRooms(''), /must be a room name/],
      [() => publicRooms('x'.repeat(257)), /must be a room name/],
      [() => publicRooms(7 as never), /must be a room name/],
      [() => anyOf(), /anyOf\(\) needs at least one authorize function/],
      [
        () => anyOf(restaurantRooms, 'order:*' as never),
        /argument 2 must be an authorize function/,
      ],
      [() => firstOf(), /firstOf\(\) needs at least one authenticate function/],
      [() => firstOf(null as never), /argument 1 must be an authenticate function/],
      [() => anonymous(null as never), /must not be null/],
    ];
    for (const [make, message] of cases) {
      expect(make).toThrow(RealtimeArgumentError);
      expect(make).toThrow(message);
    }
  });
});
