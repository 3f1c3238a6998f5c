import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Authenticate } from '../src/index.js';
import { joinedClient, openSse, startInstances, type TestUser, waitFor } from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const bob: TestUser = { name: 'bob', restaurantId: 'a' };

/**
 * Stands for a session store: the header names the session, and `sessions` says who it
 * belongs to now. Deleting one is a logout; changing one moves the user; `down` makes the
 * store unreachable.
 */
function sessionStore() {
  const sessions = new Map<string, TestUser>();
  const store = { sessions, down: false, failedReads: 0 };
  const authenticate: Authenticate = async (req: IncomingMessage) => {
    if (store.down) {
      store.failedReads++;
      throw new Error('connection refused');
    }
    const header = req.headers['x-test-user'];
    if (typeof header !== 'string') return null;
    return sessions.get((JSON.parse(header) as TestUser).name) ?? null;
  };
  return { store, authenticate };
}

describe('a session that ends while its connections are open', () => {
  it('closes its WebSocket and SSE connections on every instance, and leaves the others alone', async () => {
    const { store, authenticate } = sessionStore();
    store.sessions.set('alice', alice).set('bob', bob);
    const [one, two] = await startInstances(2, { authenticate, reauthenticateMs: 1000 });
    const ws = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    const sse = await openSse(`${two!.httpUrl}/events?restaurantId=a`, alice);
    const other = await joinedClient(two!.wsUrl, bob, 'restaurant:a');
    expect(sse.status).toBe(200);

    store.sessions.delete('alice'); // alice logs out, on some other instance
    expect(await ws.closed).toEqual({ code: 4401, reason: 'session ended' });
    await sse.ended;
    expect(one!.hub.stats().sessionEndCloses + two!.hub.stats().sessionEndCloses).toBe(2);

    // Bob's session is fine: still connected, still served.
    await one!.hub.toRestaurant('a', { eventType: 'order-created', payload: 1 });
    await other.next((m) => m.type === 'event' && m.payload === 1, 'bob to get the event');
    expect(two!.hub.stats().connections).toEqual({ websocket: 1, sse: 0 });
  });

  it('closes a connection whose user may no longer be in its room', async () => {
    const { store, authenticate } = sessionStore();
    store.sessions.set('alice', alice);
    const [one] = await startInstances(1, { authenticate, reauthenticateMs: 1000 });
    const ws = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    store.sessions.set('alice', { name: 'alice', restaurantId: 'b' }); // moved to restaurant b
    expect(await ws.closed).toEqual({ code: 4403, reason: 'no longer allowed' });
  });

  it('reaches every connection in time when the store is slower than one slice of the interval', async () => {
    const { store, authenticate } = sessionStore();
    store.sessions.set('alice', alice).set('bob', bob);
    let delayMs = 0;
    const slow: Authenticate = async (req) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return authenticate(req);
    };
    const [one] = await startInstances(1, { authenticate: slow, reauthenticateMs: 1000 });
    // In each tenth of the interval: one of bob's connections, which stay (so every slice
    // always has a slow check to run), and one of alice's.
    for (let i = 0; i < 10; i++) await joinedClient(one!.wsUrl, bob, 'restaurant:a');
    const clients = [];
    for (let i = 0; i < 10; i++) {
      clients.push(await joinedClient(one!.wsUrl, alice, 'restaurant:a'));
    }
    delayMs = 150; // each check outlasts the 100 ms between slices
    store.sessions.delete('alice');
    const closed = await Promise.all(clients.map((client) => client.closed));
    expect(closed.map((c) => c.code)).toEqual(clients.map(() => 4401));
    await waitFor("only bob's ten left", () => one!.hub.stats().connections.websocket === 10);
  }, 20_000);

  it('waits, when closing, for a check in flight, so that it never reads a store closed after it', async () => {
    const { store, authenticate } = sessionStore();
    store.sessions.set('alice', alice);
    let checking = 0;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let connected = false;
    const gated: Authenticate = async (req) => {
      if (connected) {
        checking++;
        await held; // the store answers only when the test says so
      }
      return authenticate(req);
    };
    const [one] = await startInstances(1, { authenticate: gated, reauthenticateMs: 1000 });
    await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    connected = true;
    await waitFor('a check in flight', () => checking === 1);
    let closed = false;
    const closing = one!.hub.close().then(() => {
      closed = true;
    });
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    release();
    await closing;
    expect(checking).toBe(1); // and no check after it
  });

  it('keeps connections open while the session store cannot be reached, and checks again after', async () => {
    const { store, authenticate } = sessionStore();
    store.sessions.set('alice', alice);
    const [one] = await startInstances(1, { authenticate, reauthenticateMs: 1000 });
    const ws = await joinedClient(one!.wsUrl, alice, 'restaurant:a');
    store.down = true;
    let closed = false;
    void ws.closed.then(() => {
      closed = true;
    });
    // Two rounds of checks failed against the store (the first one is over): nobody closed.
    await waitFor(
      'two checks against the store that is down',
      () => store.failedReads >= 2,
      10_000,
    );
    expect(closed).toBe(false);
    store.down = false;
    store.sessions.delete('alice');
    expect((await ws.closed).code).toBe(4401);
  });
});
