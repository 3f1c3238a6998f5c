import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionOptionError } from './errors.js';

/** Decides whether a page on `origin` (`https://pos.example.com`) may change state here. */
export type OriginPolicy = (origin: string, req: IncomingMessage) => boolean;

/** Options of `sameOriginOnly()`. */
export interface SameOriginOptions {
  /**
   * The origins whose pages may send state-changing requests (`scheme://host[:port]`), or a
   * function that decides. Given, it replaces the default; a request that a browser marks
   * `Sec-Fetch-Site: same-origin` is always accepted.
   * @default the request's own origin: its protocol and Host as Express sees them (with
   * `trust proxy`, X-Forwarded-Proto and X-Forwarded-Host)
   */
  allowedOrigins?: readonly string[] | OriginPolicy;
}

/** The `error` of a refusal's JSON body. */
export const CROSS_ORIGIN_REFUSED = 'cross-origin-refused';

// The methods that must not change state; everything else is checked.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type Next = (error?: unknown) => void;
type ExpressLike = IncomingMessage & { protocol?: string; host?: string };

/**
 * Refuses state-changing requests (any method but GET, HEAD and OPTIONS) that a browser
 * sends on behalf of another site (CSRF): a form or `fetch()` on evil.example posting to
 * this app with the user's cookie. `SameSite=Lax` cookies already stop most of them; this
 * does not depend on the browser's cookie rules, and covers a sister subdomain too.
 *
 * - `Sec-Fetch-Site: same-origin` or `none` (typed in the address bar): accepted.
 * - an `Origin` header: accepted if allowed (`null`, an opaque origin, never is).
 * - no Origin, but `Sec-Fetch-Site` says `same-site` or `cross-site`: refused.
 * - neither header: not a browser (curl, a server, a test), so no cookie was lent: accepted.
 *
 * A refusal is a 403 with `{"error":"cross-origin-refused","message":"..."}`.
 *
 * @example
 * app.use(sameOriginOnly()); // before the routes that change state
 */
export function sameOriginOnly(
  options: SameOriginOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const allowed = resolvePolicy(options);
  return (req, res, next) => {
    if (SAFE_METHODS.has(req.method ?? 'GET')) return next();
    const site = header(req, 'sec-fetch-site');
    if (site === 'same-origin' || site === 'none') return next();
    const origin = header(req, 'origin');
    if (origin !== undefined) {
      if (origin !== 'null' && allowed(origin, req)) return next();
      return refuse(res);
    }
    if (site !== undefined) return refuse(res);
    next();
  };
}

function resolvePolicy(options: SameOriginOptions): OriginPolicy {
  if (typeof options !== 'object' || options === null) {
    throw new SessionOptionError(`sameOriginOnly: options must be an object, got ${options}`);
  }
  const given = options.allowedOrigins;
  if (given === undefined) {
    return (origin, req) => {
      const own = ownOrigin(req as ExpressLike);
      return own !== undefined && normalize(origin) === own;
    };
  }
  if (typeof given === 'function') return given;
  if (!Array.isArray(given)) {
    throw new SessionOptionError(
      'sameOriginOnly: allowedOrigins must be a list of origins or a function',
    );
  }
  const list = new Set(
    given.map((entry: unknown) => {
      const origin = typeof entry === 'string' ? originOf(entry) : undefined;
      if (origin === undefined) {
        throw new SessionOptionError(
          `sameOriginOnly: allowedOrigins entries are origins (scheme://host[:port], no path), got ${JSON.stringify(entry)}`,
        );
      }
      return origin;
    }),
  );
  return (origin) => list.has(normalize(origin) ?? '');
}

/** `scheme://host[:port]` as a browser writes it (lowercase, no default port), or undefined. */
function normalize(origin: string): string | undefined {
  try {
    const parsed = new URL(origin).origin;
    return parsed === 'null' ? undefined : parsed;
  } catch {
    return undefined;
  }
}

/**
 * The origin this request was sent to. Express's `req.protocol` and `req.host` follow its
 * `trust proxy` setting; without Express, the socket and the Host header.
 */
function ownOrigin(req: ExpressLike): string | undefined {
  const protocol =
    req.protocol ?? ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
  const host = req.host ?? req.headers.host;
  if (!host) return undefined;
  return normalize(`${protocol}://${host}`);
}

/** The origin an allowedOrigins entry names, if it names nothing more (no path, no query). */
function originOf(entry: string): string | undefined {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return undefined;
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    return undefined;
  }
  return normalize(entry);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function refuse(res: ServerResponse): void {
  const body = JSON.stringify({
    error: CROSS_ORIGIN_REFUSED,
    message: 'This request came from a page of another site, and was refused.',
  });
  res.statusCode = 403;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
