import { RealtimeArgumentError } from '../errors.js';
import type { Authenticate, Principal } from '../types.js';

const ANONYMOUS: Principal = Object.freeze({ anonymous: true });

/**
 * An `authenticate` that lets everyone in as `principal`: for clients that have no login on
 * purpose (an order-status page, a chat widget). What they may join is still up to
 * `authorize`: with the default, no room; with `publicRooms(...)`, those. Alone, or last in
 * `firstOf(...)` so that logged-in users keep who they are.
 * @param principal @default { anonymous: true }
 */
export function anonymous(principal: Principal = ANONYMOUS): Authenticate {
  if (principal === null || principal === undefined) {
    throw new RealtimeArgumentError('anonymous(): the principal must not be null');
  }
  return async () => principal;
}

/**
 * An `authenticate` that asks each of `authenticators` in order and answers the first that
 * knows the request (a non-null principal); null when none does. One that fails (a session
 * store that is down) fails the whole (a 503), rather than letting a logged-in user in as the
 * next one's principal.
 */
export function firstOf(...authenticators: Authenticate[]): Authenticate {
  checkFunctions('firstOf', authenticators, 'authenticate function (req) => principal');
  return async (req) => {
    for (const authenticate of authenticators) {
      const principal = await authenticate(req);
      if (principal !== null && principal !== undefined) return principal;
    }
    return null;
  };
}

/** Throws unless `list` is one or more functions. */
export function checkFunctions(call: string, list: unknown[], what: string): void {
  if (list.length === 0) throw new RealtimeArgumentError(`${call}() needs at least one ${what}`);
  const bad = list.findIndex((f) => typeof f !== 'function');
  if (bad !== -1) {
    throw new RealtimeArgumentError(
      `${call}(): argument ${bad + 1} must be an ${what}, got ${typeof list[bad]}`,
    );
  }
}
