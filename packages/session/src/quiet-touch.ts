import type { SessionData, Store } from 'express-session';

// Entries live for one request (remembered on get, used on touch); the cap only guards
// against requests that end before touching.
const MAX_REMEMBERED = 10_000;

/**
 * Makes a request that does not change its session cost no write: express-session calls
 * `touch` on every such request, and connect-pg-simple turns each into an UPDATE. Here the
 * touch reaches Postgres only once less than `refreshWhenRemaining` of maxAge is left; it is
 * then a full save, so the stored cookie expiry (what the next decision reads) moves too.
 */
export function quietTouch(
  store: Store,
  maxAge: number,
  refreshWhenRemaining: number,
): { forget(sid: string): void } {
  const storedExpiry = new Map<string, number>();
  const get = store.get.bind(store);
  const set = store.set.bind(store);

  store.get = (sid, callback) =>
    get(sid, (error, session) => {
      const expires = session?.cookie?.expires;
      if (expires !== undefined && expires !== null) {
        if (storedExpiry.size >= MAX_REMEMBERED) storedExpiry.clear();
        storedExpiry.set(sid, new Date(expires).getTime());
      }
      callback(error, session);
    });

  store.set = (sid, session, callback) => {
    storedExpiry.delete(sid);
    set(sid, session, callback);
  };

  store.touch = (sid: string, session: SessionData, callback?: (error?: unknown) => void) => {
    const expiry = storedExpiry.get(sid);
    storedExpiry.delete(sid);
    if (expiry !== undefined && expiry - Date.now() > refreshWhenRemaining * maxAge) {
      callback?.();
      return;
    }
    set(sid, session, callback);
  };
  // A read that will never touch (readSession) must not hold an entry another request needs.
  return { forget: (sid) => storedExpiry.delete(sid) };
}
