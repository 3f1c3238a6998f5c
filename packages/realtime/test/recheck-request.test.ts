import { createServer, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSession, login, logout, sessionAuthenticator } from '@bancada/session';
import { createDatabase } from '@bancada/testkit';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createHub } from '../src/index.js';
import { afterThisTest, openSse, waitFor } from './helpers/hubs.js';

/**
 * An Express app with real sessions, a hub that checks them again every second, WebSocket on
 * /ws and SSE on /events; every request `authenticate` is given is recorded.
 */
async function checkedApp() {
  const db = await createDatabase('realtime_recheck');
  afterThisTest(() => db.drop());
  const sessions = createSession({
    connectionString: db.url,
    secret: 'a test secret that is long enough',
    logger: false,
  });
  afterThisTest(() => sessions.close());
  const readSession = sessionAuthenticator(sessions);
  const seen: IncomingMessage[] = [];
  const hub = createHub({
    authenticate: (req) => {
      seen.push(req);
      return readSession(req);
    },
    reauthenticateMs: 1000,
    logger: false,
    redis: false,
  });
  afterThisTest(() => hub.close());

  const app = express();
  app.use(sessions);
  app.post('/login', async (req, res) => {
    await login(req, { id: 1, name: 'alice', restaurantId: 'a' });
    res.sendStatus(204);
  });
  app.post('/logout', async (req, res) => {
    await logout(req);
    res.sendStatus(204);
  });
  app.get('/events', hub.sse());
  const server = createServer(app);
  hub.attach(server, { path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise((resolve) => server.close(resolve)));
  const base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const response = await fetch(`http://${base}/login`, { method: 'POST' });
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  return { hub, base, cookie, seen };
}

describe('the session re-check', () => {
  it('reads a real session again from what each connection kept, and ends both transports on logout', async () => {
    const { hub, base, cookie, seen } = await checkedApp();
    const ws = new WebSocket(`ws://${base}/ws?v=1`, {
      headers: { cookie, 'user-agent': 'a browser that says a lot about itself' },
    });
    afterThisTest(() => ws.terminate());
    const wsClosed = new Promise<number>((resolve) => ws.once('close', resolve));
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'subscribe', room: 'restaurant:a' }));
    const stream = await openSse(`http://${base}/events?restaurantId=a`, undefined, { cookie });
    expect(stream.status).toBe(200);
    await waitFor('both in the room', () => hub.stats().connections.sse === 1 && frames.length > 0);

    // A re-check is given what the connection kept, never a request: the requests seen are
    // the two that opened the connections.
    const isRequest = (req: object): boolean => req instanceof IncomingMessage;
    const kept = () => seen.filter((req) => !isRequest(req));
    // Two rounds of checks for both connections: each still the session's user.
    await waitFor('the checks', () => kept().length >= 4, 10_000);
    expect(seen.filter(isRequest)).toHaveLength(2);
    hub.toRestaurant('a', { eventType: 'still-here' });
    await waitFor(
      'the event on both',
      () => frames.some((f) => f.eventType === 'still-here') && stream.events().length === 1,
    );
    expect(hub.stats().sessionEndCloses).toBe(0);

    // What it kept: the cookie, the URL and the addresses, without what the handshake and
    // the browser say of themselves.
    const ofWs = kept().find((req) => req.url === '/ws?v=1')!;
    expect(ofWs.headers.cookie).toBe(cookie);
    expect(ofWs.headers['user-agent']).toBeUndefined();
    expect(ofWs.headers['sec-websocket-key']).toBeUndefined();
    expect(ofWs.socket.remoteAddress).toBe('127.0.0.1');
    expect(kept().find((req) => req.url?.startsWith('/events'))?.headers.cookie).toBe(cookie);

    await fetch(`http://${base}/logout`, { method: 'POST', headers: { cookie } });
    expect(await wsClosed).toBe(4401);
    await stream.ended;
    expect(hub.stats().sessionEndCloses).toBe(2);
  });
});
