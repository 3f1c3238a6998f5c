import type { IncomingMessage } from 'node:http';

/**
 * Whether a browser page on the request's Origin may connect (cross-site WebSocket
 * hijacking: a page elsewhere would otherwise ride on the user's cookie). No Origin
 * header: not a browser, allowed. Without a list, only the request's own host is allowed.
 */
export function originAllowed(
  req: IncomingMessage,
  allowed: string[] | ((origin: string) => boolean) | undefined,
): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (typeof allowed === 'function') return allowed(origin);
  if (Array.isArray(allowed)) return allowed.includes(origin);
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  return host === req.headers.host;
}
