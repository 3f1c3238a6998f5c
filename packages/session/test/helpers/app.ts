import express from 'express';
import { login, logout, type SessionMiddleware } from '../../src/index.js';

/** A small app over `sessions`: log in, read the user, change the session, log out. */
export function appWith(sessions: SessionMiddleware) {
  const app = express();
  app.use(express.json());
  app.use(sessions);
  app.post('/login', async (req, res, next) => {
    try {
      await login(req, { name: req.body.name });
      res.json({ sid: req.sessionID });
    } catch (error) {
      next(error);
    }
  });
  app.get('/me', (req, res) => {
    res.json({ user: req.session.user ?? null, sid: req.sessionID });
  });
  app.post('/cart', (req, res) => {
    const session = req.session as typeof req.session & { cart?: number };
    session.cart = (session.cart ?? 0) + 1;
    res.json({ cart: session.cart });
  });
  app.post('/logout', async (req, res, next) => {
    try {
      await logout(req);
      res.sendStatus(204);
    } catch (error) {
      next(error);
    }
  });
  return app;
}

/** The `name=value` part of the session cookie a response set. */
export function sessionCookie(
  response: { headers: Record<string, unknown> },
  name = 'sid',
): string {
  const cookies = (response.headers['set-cookie'] as string[] | undefined) ?? [];
  const found = cookies.find((c) => c.startsWith(`${name}=`));
  if (!found) throw new Error(`no ${name} cookie in ${JSON.stringify(cookies)}`);
  return found.split(';')[0]!;
}
