import type { ServerResponse } from 'node:http';

/** Seconds a client should wait before trying again while the database is away. */
export const RETRY_AFTER_SECONDS = 2;

/** A short JSON 503 for a request whose session could not be read: no stack, no hang. */
export function sendUnavailable(res: ServerResponse): void {
  const body = JSON.stringify({
    error: 'session-store-unavailable',
    message: 'Sessions are unavailable right now; try again shortly.',
    retryAfter: RETRY_AFTER_SECONDS,
  });
  res.statusCode = 503;
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
