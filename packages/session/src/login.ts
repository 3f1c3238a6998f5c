import type { IncomingMessage } from 'node:http';
import type { Session, SessionData } from 'express-session';
import { SESSION_SETTINGS, type SessionSettings } from './create-session.js';
import { LOGGED_IN_AT, USER_KEY } from './user-sessions.js';

declare module 'express-session' {
  interface SessionData {
    /** The logged-in user, as given to `login()`. */
    user?: unknown;
    /** Who the user is, for `maxSessionsPerUser` (from the `userId` option). */
    userKey?: string;
    /** When `login()` made this session (ms since the epoch), for `maxSessionsPerUser`. */
    loggedInAt?: number;
  }
}

type WithSession = IncomingMessage & { session?: Session & Partial<SessionData> };

function need(req: WithSession): Session & Partial<SessionData> {
  if (!req.session) {
    throw new TypeError('login/logout need the session middleware (createSession) to run first');
  }
  return req.session;
}

function settingsOf(req: WithSession): SessionSettings | undefined {
  return (req as unknown as Record<symbol, SessionSettings | undefined>)[SESSION_SETTINGS];
}

/**
 * Logs `user` in (with @bancada/realtime, a `RestaurantPrincipal`: `{ id, name, restaurantId }`,
 * which its default `authorize` reads): a new session id first (so an id planted before login is worthless:
 * no session fixation), then the user is stored and saved before this resolves. Past
 * `maxSessionsPerUser`, the user's oldest sessions are ended.
 */
export async function login(req: WithSession, user: unknown): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    need(req).regenerate((error) => (error ? reject(error) : resolve())),
  );
  const session = need(req);
  session.user = user;
  const settings = settingsOf(req);
  const key = settings?.userKey(user);
  if (key !== undefined) {
    session[USER_KEY] = key;
    session[LOGGED_IN_AT] = Date.now();
  }
  await new Promise<void>((resolve, reject) =>
    session.save((error) => (error ? reject(error) : resolve())),
  );
  if (key !== undefined) await settings?.endOlderSessions(key, session.id);
}

/** Ends the session everywhere (it is deleted from the store) and clears the cookie. */
export async function logout(req: WithSession): Promise<void> {
  const session = need(req);
  await new Promise<void>((resolve, reject) =>
    session.destroy((error) => (error ? reject(error) : resolve())),
  );
  const settings = settingsOf(req);
  const res = (req as { res?: { clearCookie?(name: string, options: object): unknown } }).res;
  if (settings && res?.clearCookie) {
    const { maxAge: _ignored, ...options } = settings.cookie as { maxAge?: number };
    res.clearCookie(settings.name, options);
  }
}
