import { faultProxy, freePort } from '@bancada/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { connect, type WebSocketLike } from '../src/client/index.js';
import {
  fetchAs,
  publishNumbers,
  type RecordedClient,
  range,
  record,
  recordClient,
  sharedRedis,
  startHubAt,
} from './helpers/client-hubs.js';
import { afterThisTest, startInstances, type TestUser, waitFor } from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const room = 'restaurant:a';

async function joinedOnce(c: RecordedClient, count = 1): Promise<void> {
  await waitFor(`joined ${count} time(s)`, () => c.joined.length >= count);
}

/** A proxy in front of a hub's WebSocket, closed after the test, and its ws:// URL. */
async function proxied(wsUrl: string) {
  const proxy = await faultProxy(new URL(wsUrl).host);
  afterThisTest(() => proxy.close());
  return { proxy, url: `ws://127.0.0.1:${proxy.port}/ws` };
}

describe('realtime client over WebSocket', () => {
  it('connects, joins a room and receives its events, moving from connecting to open to closed', async () => {
    const [one] = await startInstances(1);
    const c = recordClient(one!.wsUrl, alice);
    expect(c.client.state).toBe('connecting');
    expect(c.client.transport).toBe('websocket');
    c.client.join(room);
    await joinedOnce(c);
    expect(c.joined).toEqual([{ room, resumed: false }]);
    await publishNumbers(one!.hub, room, 0, 3);
    await one!.hub.broadcast({ eventType: 'closing-soon' });
    await waitFor('four events', () => c.events.length === 4);
    expect(c.payloads()).toEqual([0, 1, 2, null]);
    expect(c.events[0]).toMatchObject({ type: 'event', eventType: 'tick', room });
    expect(c.events[3]!.room).toBe('*');

    c.client.close();
    expect(c.client.state).toBe('closed');
    expect(c.states.map((s) => s.state)).toEqual(['open', 'closed']);
    await waitFor(
      'the hub to see the client go',
      () => one!.hub.stats().connections.websocket === 0,
    );
  });

  it('leaves rooms, and forgets a room the hub refuses', async () => {
    const [one] = await startInstances(1);
    const c = recordClient(one!.wsUrl, alice);
    c.client.join(room);
    c.client.join('restaurant:b'); // alice's session says restaurant a
    await waitFor('the refusal', () => c.errors.length === 1);
    expect(c.errors[0]).toMatchObject({ code: 'forbidden', room: 'restaurant:b' });
    expect(c.client.rooms).toEqual([room]);
    await joinedOnce(c);
    c.client.leave(room);
    await waitFor('the hub to let go', () => one!.hub.stats().rooms === 0);
    await publishNumbers(one!.hub, room, 0, 1);
    c.client.join(room);
    await joinedOnce(c, 2);
    await publishNumbers(one!.hub, room, 1, 1);
    await waitFor('the event after the join', () => c.events.length === 1);
    expect(c.payloads()).toEqual([1]);
  });

  it('reconnects after a restart (1012), waiting the retryAfterMs the hub asked for', async () => {
    const shared = await sharedRedis();
    const options = { ...shared, retryAfterMs: [300, 400] as [number, number] };
    const first = await startHubAt(0, options);
    const c = recordClient(first.wsUrl, alice, { backoff: { initialMs: 20, maxMs: 5000 } });
    c.client.join(room);
    await joinedOnce(c);

    await first.stop();
    const second = await startHubAt(first.port, options);
    await joinedOnce(c, 2);
    const lost = c.states.find((s) => s.state === 'reconnecting')!;
    expect(lost).toMatchObject({ previous: 'open', closeCode: 1012, transport: 'websocket' });
    expect(lost.retryInMs).toBeGreaterThanOrEqual(300);
    expect(lost.retryInMs).toBeLessThanOrEqual(400);
    expect(c.client.state).toBe('open');
    await publishNumbers(second.hub, room, 0, 2);
    await waitFor('events from the new hub', () => c.events.length === 2);
  });

  it('resumes after a dropped connection: the events it missed, in order, then live ones, no duplicate', async () => {
    const [near, far] = await startInstances(2, { history: true });
    const { proxy, url } = await proxied(near!.wsUrl);
    const c = recordClient(url, alice);
    c.client.join(room);
    await joinedOnce(c);
    await publishNumbers(far!.hub, room, 0, 5);
    await waitFor('five events', () => c.events.length === 5);

    proxy.cut(); // the Wi-Fi drops, and stays down for a while
    await waitFor('the client to notice', () => c.client.state === 'reconnecting');
    await publishNumbers(far!.hub, room, 5, 5);
    proxy.restore();
    await joinedOnce(c, 2);
    expect(c.joined[1]).toEqual({ room, resumed: true });
    await publishNumbers(far!.hub, room, 10, 5);
    await publishNumbers(far!.hub, room, 15, 1); // in order after any duplicate
    await waitFor('the last event', () => c.payloads().includes(15));
    expect(c.payloads()).toEqual(range(0, 16));
    expect(c.gaps).toEqual([]);
  });

  it('tells gap listeners when what it missed cannot be replayed', async () => {
    const [one] = await startInstances(1); // no history
    const { proxy, url } = await proxied(one!.wsUrl);
    const c = recordClient(url, alice);
    c.client.join(room);
    await joinedOnce(c);
    await publishNumbers(one!.hub, room, 0, 1);
    await waitFor('the first event', () => c.events.length === 1);

    proxy.cut();
    await waitFor('the client to notice', () => c.client.state === 'reconnecting');
    await publishNumbers(one!.hub, room, 1, 1); // lost
    proxy.restore();
    await waitFor('a gap', () => c.gaps.length === 1);
    expect(c.gaps).toEqual([{ room }]);
    await publishNumbers(one!.hub, room, 2, 1);
    await waitFor('live events again', () => c.events.length === 2);
    expect(c.payloads()).toEqual([0, 2]);
  });

  it('notices a link that stopped answering, drops it and reconnects', async () => {
    const [one] = await startInstances(1);
    const { proxy, url } = await proxied(one!.wsUrl);
    const c = recordClient(url, alice, { pingIntervalMs: 100, pingTimeoutMs: 300 });
    c.client.join(room);
    await joinedOnce(c);

    proxy.freeze(); // a hung server, a black-holed network: no error, no close, nothing
    await waitFor('the client to give up on the link', () => c.client.state === 'reconnecting');
    expect(c.states.at(-1)?.previous).toBe('open');
    proxy.restore();
    await waitFor('open again', () => c.client.state === 'open');
    await joinedOnce(c, 2);
    await publishNumbers(one!.hub, room, 0, 1);
    await waitFor('an event on the new link', () => c.events.length === 1);
  });

  it('stops for good when the server refuses who it is (401)', async () => {
    const [one] = await startInstances(1);
    let attempts = 0;
    const c = recordClient(one!.wsUrl, undefined, {
      createWebSocket: (target) => {
        attempts++;
        return new WebSocket(target);
      },
    });
    await waitFor('closed', () => c.client.state === 'closed');
    expect(c.errors.map((e) => [e.code, e.status])).toEqual([['unauthorized', 401]]);
    expect(attempts).toBe(1);
  });
});

describe('realtime client whose session ends while connected', () => {
  it('stops for good at close 4401, without the HTTP status a browser never sees', async () => {
    let loggedIn = true;
    const [one] = await startInstances(1, {
      authenticate: async () => (loggedIn ? alice : null),
      reauthenticateMs: 1000,
    });
    let attempts = 0;
    const c = recordClient(one!.wsUrl, undefined, {
      createWebSocket: (target) => {
        attempts++;
        return new WebSocket(target);
      },
    });
    c.client.join(room);
    await joinedOnce(c);
    loggedIn = false; // a logout, seen by the hub at its next check
    await waitFor('closed', () => c.client.state === 'closed', 10_000);
    expect(c.errors.map((e) => [e.code, e.status])).toEqual([['unauthorized', 401]]);
    expect(attempts).toBe(1);
  });
});

describe('realtime client over Server-Sent Events', () => {
  it('falls back to SSE when WebSocket keeps failing, and resumes the stream after a restart', async () => {
    const shared = await sharedRedis();
    const options = { ...shared, history: true, retryAfterMs: [50, 100] as [number, number] };
    const publisher = await startHubAt(0, options); // another instance of the app
    const page = await startHubAt(0, options);
    const nothing = await freePort(); // a proxy that swallows upgrades, as far as the client sees
    const c = recordClient(`ws://127.0.0.1:${nothing}/ws`, alice, {
      sse: { url: `${page.httpUrl}/events`, fetch: fetchAs(alice), fallbackAfter: 2 },
    });
    c.client.join(room);
    await joinedOnce(c);
    expect(c.client.transport).toBe('sse');
    expect(c.client.state).toBe('open');
    await publishNumbers(publisher.hub, room, 0, 5);
    await waitFor('five events', () => c.events.length === 5);

    await page.stop();
    await waitFor('the client to notice', () => c.client.state === 'reconnecting');
    await publishNumbers(publisher.hub, room, 5, 5);
    await startHubAt(page.port, options);
    await joinedOnce(c, 2);
    expect(c.joined[1]).toEqual({ room, resumed: true });
    await publishNumbers(publisher.hub, room, 10, 6);
    await waitFor('the last event', () => c.payloads().includes(15));
    expect(c.payloads()).toEqual(range(0, 16));
    expect(c.gaps).toEqual([]);
  });

  it('reopens the stream for joins and leaves, resuming it, without a duplicate', async () => {
    const [one] = await startInstances(1, { history: true });
    const both = { name: 'bob', restaurantIds: ['a', 'b'] } as TestUser;
    const c = recordClient(one!.wsUrl, both, {
      createWebSocket: () => {
        throw new Error('blocked');
      },
      sse: { url: `${one!.httpUrl}/events`, fetch: fetchAs(both), fallbackAfter: 1 },
    });
    c.client.join(room);
    await joinedOnce(c);
    await publishNumbers(one!.hub, room, 0, 3);
    await waitFor('three events', () => c.events.length === 3);

    c.client.join('restaurant:b');
    await waitFor('both rooms in the new stream', () =>
      c.joined.some((j) => j.room === 'restaurant:b'),
    );
    await publishNumbers(one!.hub, 'restaurant:b', 100, 1);
    await publishNumbers(one!.hub, room, 3, 1);
    await waitFor('events of both rooms', () => c.events.length === 5);
    c.client.leave(room);
    await waitFor('a stream without the room', () => one!.hub.stats().connections.sse === 1);
    await waitFor('the new stream', () => c.joined.length === 4);
    await publishNumbers(one!.hub, room, 4, 1);
    await publishNumbers(one!.hub, 'restaurant:b', 101, 1);
    await waitFor('the event of the room still joined', () => c.payloads().includes(101));
    expect(c.payloads()).toEqual([0, 1, 2, 100, 3, 101]);
    expect(c.client.rooms).toEqual(['restaurant:b']);
  });

  it('waits as long as the Retry-After of a 503 says, and tells error listeners', async () => {
    const [one] = await startInstances(1, { retryAfterMs: [1000, 1000] });
    // A client whose network hangs keeps the hub draining (close() waits for it) for a while.
    const { proxy, url } = await proxied(one!.wsUrl);
    const stuck = recordClient(url, alice);
    await waitFor('the stuck client', () => stuck.client.state === 'open');
    proxy.freeze();
    const closing = one!.hub.close();

    const c = recordClient(one!.wsUrl, alice, {
      createWebSocket: () => {
        throw new Error('blocked'); // straight to SSE, whatever the platform has
      },
      sse: { url: `${one!.httpUrl}/events`, fetch: fetchAs(alice), fallbackAfter: 1 },
      backoff: { initialMs: 20, maxMs: 5000 },
    });
    c.client.join(room);
    await waitFor('a refusal', () => c.errors.length === 1);
    expect(c.client.transport).toBe('sse');
    expect(c.errors[0]).toMatchObject({ code: 'refused', status: 503 });
    expect(c.client.state).toBe('reconnecting');
    expect(c.states.at(-1)!.retryInMs).toBeGreaterThanOrEqual(1000);
    c.client.close();
    stuck.client.close();
    await closing;
  });
});

/** A WebSocket the test drives by hand. */
class FakeSocket implements WebSocketLike {
  static made: FakeSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onerror: WebSocketLike['onerror'] = null;
  onclose: WebSocketLike['onclose'] = null;

  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(message: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(): void {
    if (this.readyState < 2) queueMicrotask(() => this.drop(1000));
    this.readyState = 2;
  }
}

describe('realtime client, against a WebSocket driven by hand', () => {
  afterEach(() => {
    FakeSocket.made = [];
    vi.useRealTimers();
  });

  const tick = (id: string, payload: number) => ({
    type: 'event',
    eventType: 'tick',
    id,
    traceId: id,
    payload,
    ts: 0,
    room,
  });

  it('emits each event once: drops one at or before the last position seen in its room', async () => {
    const c = record(connect('ws://hub/ws', { WebSocket: FakeSocket, backoff: { initialMs: 1 } }));
    afterThisTest(() => c.client.close());
    c.client.join(room);
    await waitFor('a socket', () => FakeSocket.made.length === 1);
    const first = FakeSocket.made[0]!;
    first.open();
    expect(first.sent).toEqual([{ type: 'subscribe', room }]);
    first.receive({ type: 'joined', room });
    for (const [id, n] of [
      ['5-0', 1],
      ['5-1', 2],
      ['5-1', 2],
      ['4-9', 0],
      ['10-0', 3],
    ] as const) {
      first.receive(tick(id, n));
    }
    expect(c.payloads()).toEqual([1, 2, 3]);

    first.drop();
    await waitFor('a second socket', () => FakeSocket.made.length === 2);
    const second = FakeSocket.made[1]!;
    second.open();
    expect(second.sent).toEqual([{ type: 'resume', room, since: '10-0' }]);
    second.receive({ type: 'joined', room });
    second.receive(tick('10-0', 3)); // a replay that overlaps
    second.receive(tick('10-1', 4));
    expect(c.payloads()).toEqual([1, 2, 3, 4]);
    expect(c.joined).toEqual([
      { room, resumed: false },
      { room, resumed: true },
    ]);
  });

  it('says gap for a room it rejoins without a resume, since events may have passed meanwhile', async () => {
    const c = record(connect('ws://hub/ws', { WebSocket: FakeSocket, backoff: { initialMs: 1 } }));
    afterThisTest(() => c.client.close());
    c.client.join(room);
    await waitFor('a socket', () => FakeSocket.made.length === 1);
    FakeSocket.made[0]!.open();
    FakeSocket.made[0]!.receive({ type: 'joined', room });
    FakeSocket.made[0]!.drop();
    await waitFor('a second socket', () => FakeSocket.made.length === 2);
    FakeSocket.made[1]!.open();
    expect(FakeSocket.made[1]!.sent).toEqual([{ type: 'subscribe', room }]);
    expect(c.gaps).toEqual([]);
    FakeSocket.made[1]!.receive({ type: 'joined', room });
    expect(c.gaps).toEqual([{ room }]);
  });

  it('close() leaves no timer behind and makes no further attempt, even in the middle of a backoff', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const c = record(connect('ws://hub/ws', { WebSocket: FakeSocket, pingIntervalMs: 1000 }));
    await Promise.resolve(); // the first attempt starts in a microtask
    FakeSocket.made[0]!.open();
    expect(vi.getTimerCount()).toBe(1); // the pings
    FakeSocket.made[0]!.drop(1012, JSON.stringify({ retryAfterMs: 2000 }));
    expect(c.client.state).toBe('reconnecting');
    expect(c.states.at(-1)).toMatchObject({ closeCode: 1012 });
    expect(c.states.at(-1)!.retryInMs).toBeGreaterThanOrEqual(2000);
    expect(vi.getTimerCount()).toBe(1); // the reconnect
    await vi.advanceTimersByTimeAsync(c.states.at(-1)!.retryInMs!);
    expect(FakeSocket.made).toHaveLength(2);
    FakeSocket.made[1]!.drop(); // failed: waits again
    expect(vi.getTimerCount()).toBe(1);

    c.client.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.runAllTimersAsync();
    expect(FakeSocket.made).toHaveLength(2);
    expect(c.states.map((s) => s.state)).toEqual([
      'open',
      'reconnecting',
      'reconnecting',
      'closed',
    ]);
  });

  it('stays closed when an error listener closes it while a link ends (no reconnect scheduled)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const c = record(connect('ws://hub/ws', { WebSocket: FakeSocket, pingIntervalMs: 0 }));
    c.client.on('error', () => c.client.close());
    await Promise.resolve();
    FakeSocket.made[0]!.open();
    FakeSocket.made[0]!.drop(1008, 'too many bad messages'); // closed_by_server, then close()
    expect(c.errors.map((e) => e.code)).toEqual(['closed_by_server']);
    expect(c.client.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
    await vi.runAllTimersAsync();
    expect(FakeSocket.made).toHaveLength(1);
  });

  it('refuses options that cannot work', () => {
    expect(() =>
      connect('ws://hub/ws', { WebSocket: FakeSocket, createWebSocket: (u) => new FakeSocket(u) }),
    ).toThrow(TypeError);
    expect(() =>
      connect('ws://hub/ws', { WebSocket: FakeSocket, backoff: { initialMs: 0 } }),
    ).toThrow(/initialMs/);
    expect(() =>
      connect('ws://hub/ws', { WebSocket: FakeSocket, backoff: { initialMs: 100, maxMs: 50 } }),
    ).toThrow(/maxMs/);
    expect(() => connect('ws://hub/ws', { WebSocket: FakeSocket, pingTimeoutMs: 0 })).toThrow(
      /pingTimeoutMs/,
    );
    if (!('WebSocket' in globalThis)) expect(() => connect('ws://hub/ws')).toThrow(/Node 20/);
    const client = connect('ws://hub/ws', { WebSocket: FakeSocket });
    expect(() => client.join('')).toThrow(TypeError);
    client.close();
  });
});
