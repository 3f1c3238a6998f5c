import { connectionLimit } from '@bancada/limits';
import { describe, expect, it } from 'vitest';
import { afterThisTest, connectClient, openSse, upgradeRefusal, waitFor } from './helpers/hubs.js';
import { servePaths, vendor7, vendorOfUrl } from './helpers/wire-paths.js';

const asVendor7 = { 'x-test-user': JSON.stringify(vendor7) };
const order = { id: 1, item: 'pastel de queijo', status: 'new' };

describe('rooms named by the upgrade request', () => {
  it('joins /ws?vendorId=7 to vendor:7 as it connects: the old dashboard gets its orders without sending anything', async () => {
    const { hub, ws } = await servePaths({}, [{ path: '/ws', rooms: vendorOfUrl }]);
    const dashboard = await connectClient(ws('/ws?vendorId=7'), vendor7);
    await dashboard.next((m) => m.type === 'joined' && m.room === 'vendor:7', 'joined vendor:7');
    expect(hub.stats().rooms).toBe(1);
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    const event = await dashboard.next((m) => m.type === 'event', 'the order');
    expect(event).toMatchObject({ eventType: 'NEW_ORDER', payload: order, room: 'vendor:7' });
  });

  it('without `rooms` the same dashboard joins nothing and gets nothing (what the issue saw)', async () => {
    const { hub, ws } = await servePaths({}, [{ path: '/ws' }]);
    const dashboard = await connectClient(ws('/ws?vendorId=7'), vendor7);
    await hub.publish('vendor:7', { eventType: 'NEW_ORDER', payload: order });
    await hub.broadcast({ eventType: 'marker' }); // everyone gets it: the order would be before
    await dashboard.next((m) => m.eventType === 'marker', 'the broadcast');
    expect(dashboard.messages.map((m) => m.eventType)).toEqual(['marker']);
    expect(hub.stats().rooms).toBe(0);
  });

  it('refuses a room the principal may not have with 403 before the upgrade, and gives the slot back', async () => {
    const gate = connectionLimit({ maxPerIp: 10, redis: false, logger: false });
    afterThisTest(() => gate.close());
    const { hub, ws } = await servePaths({ connectionGate: gate }, [
      { path: '/ws', rooms: vendorOfUrl },
    ]);
    const refusal = await upgradeRefusal(ws('/ws?vendorId=8'), asVendor7);
    expect(refusal.status).toBe(403);
    expect(JSON.parse(refusal.body)).toMatchObject({ error: 'forbidden' });
    expect(hub.stats().connections.websocket).toBe(0);
    await waitFor('the slot to come back', () => gate.stats().active === 0);
    // No room named: a connection like any other, which may join by message.
    await connectClient(ws('/ws'), vendor7);
    expect(hub.stats().connections.websocket).toBe(1);
  });

  it('answers an invalid room or too many with 400, a failing authorize with 503, a throwing rooms() with 500', async () => {
    const { ws } = await servePaths({ maxRoomsPerConnection: 2 }, [
      { path: '/long', rooms: () => 'x'.repeat(300) },
      { path: '/many', rooms: () => ['vendor:7', 'vendor:7b', 'vendor:7c'] },
      { path: '/number', rooms: () => [42 as unknown as string] },
      { path: '/broken', rooms: () => JSON.parse('{') },
    ]);
    for (const [path, status, error] of [
      ['/long', 400, 'invalid_room'],
      ['/many', 400, 'too_many_rooms'],
      ['/number', 400, 'invalid_room'],
      ['/broken', 500, 'internal'],
    ] as const) {
      const refusal = await upgradeRefusal(ws(path), asVendor7);
      expect({ path, status: refusal.status, error: JSON.parse(refusal.body).error }).toEqual({
        path,
        status,
        error,
      });
    }
    const down = await servePaths(
      {
        authorize: () => {
          throw new Error('the database is down');
        },
      },
      [{ path: '/ws', rooms: vendorOfUrl }],
    );
    const refusal = await upgradeRefusal(down.ws('/ws?vendorId=7'), asVendor7);
    expect(refusal.status).toBe(503);
    expect(refusal.headers['retry-after']).toBe('2');
  });

  it('refuses SSE rooms with the same rule and the same answers', async () => {
    const { httpUrl } = await servePaths({ maxRoomsPerConnection: 1 }, [], {
      '/events': { rooms: vendorOfUrl },
      '/two': { rooms: () => ['vendor:7', 'vendor:8'] },
    });
    expect((await openSse(`${httpUrl}/events?vendorId=8`, vendor7)).status).toBe(403);
    expect((await openSse(`${httpUrl}/events`, vendor7)).status).toBe(400);
    expect((await openSse(`${httpUrl}/two`, vendor7)).status).toBe(400);
    expect((await openSse(`${httpUrl}/events?vendorId=7`, vendor7)).status).toBe(200);
  });
});
