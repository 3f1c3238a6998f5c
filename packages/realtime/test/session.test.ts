import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSession, login, sessionAuthenticator } from '@bancada/session';
import { createDatabase } from '@bancada/testkit';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createHub } from '../src/index.js';
import { afterThisTest, upgradeRefusal, waitFor } from './helpers/hubs.js';

describe('with @bancada/session', () => {
  it('admits the session user, joins only its restaurant, and refuses a forged cookie', async () => {
    const db = await createDatabase('realtime_session');
    afterThisTest(() => db.drop());
    const sessions = createSession({
      connectionString: db.url,
      secret: 'a test secret that is long enough',
      logger: false,
    });
    afterThisTest(() => sessions.close());
    const hub = createHub({
      authenticate: sessionAuthenticator(sessions),
      logger: false,
      redis: false,
    });
    afterThisTest(() => hub.close());

    const app = express();
    app.use(sessions);
    app.post('/login', async (req, res) => {
      await login(req, { name: 'alice', restaurantId: 'a' });
      res.sendStatus(204);
    });
    const server = createServer(app);
    hub.attach(server, { path: '/ws' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    afterThisTest(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;

    const response = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST' });
    const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
    const wsUrl = `ws://127.0.0.1:${port}/ws`;

    const { WebSocket } = await import('ws');
    const ws = new WebSocket(wsUrl, { headers: { cookie } });
    afterThisTest(() => ws.terminate());
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'auth', restaurantId: 'b' })); // someone else's restaurant
    ws.send(JSON.stringify({ type: 'auth', restaurantId: 'a' }));
    await waitFor('both answers', () => frames.length === 2);
    expect(frames).toEqual([
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:b' }),
      { type: 'joined', room: 'restaurant:a' },
    ]);

    const forged = `${cookie.split('=')[0]}=s%3Aforged.signature`;
    expect((await upgradeRefusal(wsUrl, { cookie: forged })).status).toBe(401);
    expect((await upgradeRefusal(wsUrl)).status).toBe(401);
  });
});
