import { createHash } from 'node:crypto';
import { type AttemptLimit, ipKey } from '@bancada/limits';
import { login, logout } from '@bancada/session';
import { type Request, Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { HttpError } from '../http-error.js';
import type { PasswordGate } from '../password-gate.js';
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

/** What bounds the logins: their count per address and per account, and their hashes. */
export interface LoginGuards {
  /** Failed logins per client address. Only failures count. */
  failures: AttemptLimit;
  /** Password checks per account, successful ones included. */
  perAccount: AttemptLimit;
  /** Password hashes at once on this instance. */
  hashes: PasswordGate;
}

/** The per-account key: the email, hashed, so that no address sits in Redis as a key. */
const accountKey = (email: string) =>
  createHash('sha256').update(email).digest('base64url').slice(0, 22);

/**
 * POST /api/login, POST /api/logout, GET /api/me. `guards` bound what logins cost;
 * `secureCookies` as the session cookie's.
 */
export function authRoutes(pool: pg.Pool, guards: LoginGuards, secureCookies: boolean): Router {
  const router = Router();
  const cookieOptions = {
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookies,
    path: '/',
  } as const;

  /** A 429 if the address or the account has used its allowance. */
  const refuseIfLimited = async (req: Request, account: string) => {
    const checks: Array<[AttemptLimit, string]> = [
      [guards.failures, ipKey(req.ip ?? '', 56)],
      [guards.perAccount, account],
    ];
    for (const [limit, key] of checks) {
      const verdict = await limit.check(key);
      if (!verdict.allowed) {
        throw new HttpError(
          429,
          'too_many_logins',
          `too many login attempts; try again in ${verdict.retryAfterSeconds} s`,
          { 'Retry-After': String(verdict.retryAfterSeconds) },
        );
      }
    }
  };

  router.post('/login', async (req, res) => {
    const { email, password } = parseBody(Credentials, req);
    const account = accountKey(email);
    await refuseIfLimited(req, account); // before any queue or query
    // In the queue before the query too: a burst that is turned away costs no database work.
    const { row, ok } = await guards.hashes.run(async () => {
      // Again: attempts let in while this one waited may have used the allowance. Checks
      // count nothing, so this bounds the attempts in flight to the hashes running.
      await refuseIfLimited(req, account);
      await guards.perAccount.record(account);
      const found = await pool.query<UserRow>(
        `SELECT u.id, u.email, u.name, u.password_hash, u.restaurant_id, r.name AS restaurant_name
         FROM users u JOIN restaurants r ON r.id = u.restaurant_id WHERE u.email = $1`,
        [email],
      );
      const row = found.rows[0];
      // An unknown email costs the same scrypt as a wrong password: no way to probe for accounts.
      return {
        row,
        ok: await verifyPassword(password, row?.password_hash ?? (await decoyHash())),
      };
    });
    if (!row || !ok) {
      await guards.failures.record(ipKey(req.ip ?? '', 56));
      throw new HttpError(401, 'invalid_credentials', 'wrong email or password');
    }
    const user: SessionUser = {
      id: row.id,
      name: row.name,
      email: row.email,
      restaurantId: row.restaurant_id,
      restaurantName: row.restaurant_name,
    };
    await login(req, user); // ends the user's oldest sessions past the app's sessionsPerUser
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
