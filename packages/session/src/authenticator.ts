import type { IncomingMessage } from 'node:http';
import type { SessionData } from 'express-session';
import type { SessionMiddleware } from './create-session.js';

/** Who the hub is talking to; whatever `toPrincipal` makes of the session. */
export type Principal = NonNullable<unknown>;

/** The `Authenticate` interface of @bancada/realtime. */
export type Authenticate = (req: IncomingMessage) => Promise<Principal | null>;

/**
 * Reads the session of a raw request (a WebSocket upgrade, an SSE request) with the same
 * cookie and secret rules as the middleware, and turns it into a principal: by default the
 * session's `user`, as `login(req, user)` stored it. Store a `RestaurantPrincipal`
 * (`{ id, name, restaurantId }`) there, and the hub's default `authorize` lets the user join
 * their restaurant's room. A missing, unsigned, forged or expired cookie gives null. A store that
 * is down rejects, so the caller can answer 503 rather than 401.
 */
export function sessionAuthenticator(
  middleware: SessionMiddleware,
  toPrincipal: (session: SessionData) => Principal | null | undefined = (session) =>
    session.user ?? null,
): Authenticate {
  return async (req) => {
    const session = await middleware.readSession(req);
    if (session === undefined) return null;
    return toPrincipal(session) ?? null;
  };
}
