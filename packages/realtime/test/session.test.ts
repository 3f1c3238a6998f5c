import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSession, login, sessionAuthenticator } from '@bancada/session';
import { createDatabase, recordingLogger } from '@bancada/testkit';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createHub, type Logger } from '../src/index.js';
import { afterThisTest, upgradeRefusal, waitFor } from './helpers/hubs.js';

/**
 * An app with sessions on a database of its own and a hub that reads them; `/login` logs in
 * `user`. Resolves the WebSocket URL and the cookie of a login.
 */
async function sessionApp(user: object, logger: Logger | false = false) {
  const db = await createDatabase('realtime_session');
  afterThisTest(() => db.drop());
  const sessions = createSession({
    connectionString: db.url,
    secret: 'a test secret that is long enough',
    logger: false,
  });
  afterThisTest(() => sessions.close());
  const hub = createHub({ authenticate: sessionAuthenticator(sessions), logger, redis: false });
  afterThisTest(() => hub.close());

  const app = express();
  app.use(sessions);
  app.post('/login', async (req, res) => {
    await login(req, user);
    res.sendStatus(204);
  });
  const server = createServer(app);
  hub.attach(server, { path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;

  const response = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST' });
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  return { wsUrl: `ws://127.0.0.1:${port}/ws`, cookie };
}

/** Opens a WebSocket with the cookie, sends each message, and resolves one answer per message. */
async function answersTo(wsUrl: string, cookie: string, messages: object[]) {
  const ws = new WebSocket(wsUrl, { headers: { cookie } });
  afterThisTest(() => ws.terminate());
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  for (const message of messages) ws.send(JSON.stringify(message));
  await waitFor('an answer to each', () => frames.length === messages.length);
  return frames;
}

describe('with @bancada/session', () => {
  it('admits the session user, joins only its restaurant, and refuses a forged cookie', async () => {
    const { wsUrl, cookie } = await sessionApp({ id: 1, name: 'alice', restaurantId: 'a' });
    const frames = await answersTo(wsUrl, cookie, [
      { type: 'auth', restaurantId: 'b' }, // someone else's restaurant
      { type: 'auth', restaurantId: 'a' },
    ]);
    expect(frames).toEqual([
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:b' }),
      { type: 'joined', room: 'restaurant:a' },
    ]);

    const forged = `${cookie.split('=')[0]}=s%3Aforged.signature`;
    expect((await upgradeRefusal(wsUrl, { cookie: forged })).status).toBe(401);
    expect((await upgradeRefusal(wsUrl)).status).toBe(401);
  });

  it('says once why it refuses a user stored without a restaurant, instead of a silent forbidden', async () => {
    const logger = recordingLogger();
    // What the session README used to store: the hub's default authorize has nothing to read.
    const { wsUrl, cookie } = await sessionApp({ id: 1, name: 'ana' }, logger);
    const frames = await answersTo(wsUrl, cookie, [
      { type: 'auth', restaurantId: 'a' },
      { type: 'subscribe', room: 'restaurant:b' },
    ]);
    expect(frames.map((f) => f.code)).toEqual(['forbidden', 'forbidden']);
    const warnings = logger.lines.filter((line) => line.includes('BANCADA_REALTIME_NO_RESTAURANT'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^warn realtime: .*restaurantId or restaurantIds.*login\(req, \{ id, name, restaurantId \}\)/,
    );
  });
});
