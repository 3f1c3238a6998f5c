import { login, logout } from '@bancada/session';
import { type RequestHandler, Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { HttpError } from '../http-error.js';
import { decoyHash, verifyPassword } from '../passwords.js';
import { currentUser, requireUser, type SessionUser } from '../session-user.js';
import { parseBody, text } from '../validate.js';

const Credentials = z.object({
  email: text().trim().toLowerCase().email().max(200),
  password: text().min(1).max(200),
});

interface UserRow {
  id: number;
  email: string;
  name: string;
  password_hash: string;
  restaurant_id: string;
  restaurant_name: string;
}

const publicView = (user: SessionUser) => ({
  user: { id: user.id, name: user.name, email: user.email },
  restaurant: { id: user.restaurantId, name: user.restaurantName },
});

/**
 * A cookie for the load balancer only: nginx can hash on it to put every screen of a
 * restaurant on one instance (deploy/nginx.cluster.conf.template). The app never reads it:
 * whoever edits it changes which instance serves them, never which restaurant they see.
 */
export const RESTAURANT_COOKIE = 'pdv_restaurant';

/**
 * POST /api/login, POST /api/logout, GET /api/me. `loginLimit` counts failed logins;
 * `secureCookies` as the session cookie's.
 */
export function authRoutes(
  pool: pg.Pool,
  loginLimit: RequestHandler,
  secureCookies: boolean,
): Router {
  const router = Router();
  const cookieOptions = {
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookies,
    path: '/',
  } as const;

  router.post('/login', loginLimit, async (req, res) => {
    const { email, password } = parseBody(Credentials, req);
    const found = await pool.query<UserRow>(
      `SELECT u.id, u.email, u.name, u.password_hash, u.restaurant_id, r.name AS restaurant_name
       FROM users u JOIN restaurants r ON r.id = u.restaurant_id WHERE u.email = $1`,
      [email],
    );
    const row = found.rows[0];
    // An unknown email costs the same scrypt as a wrong password: no way to probe for accounts.
    const ok = await verifyPassword(password, row?.password_hash ?? (await decoyHash()));
    if (!row || !ok) {
      throw new HttpError(401, 'invalid_credentials', 'wrong email or password');
    }
    const user: SessionUser = {
      id: row.id,
      name: row.name,
      email: row.email,
      restaurantId: row.restaurant_id,
      restaurantName: row.restaurant_name,
    };
    await login(req, user);
    res.cookie(RESTAURANT_COOKIE, user.restaurantId, cookieOptions);
    res.json(publicView(user));
  });

  router.post('/logout', async (req, res) => {
    if (currentUser(req)) await logout(req);
    res.clearCookie(RESTAURANT_COOKIE, cookieOptions);
    res.sendStatus(204);
  });

  router.get('/me', requireUser, (req, res) => {
    res.json(publicView(currentUser(req) as SessionUser));
  });

  return router;
}
