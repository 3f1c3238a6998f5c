import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './types.js';

type SessionRequest = IncomingMessage & {
  secure?: boolean;
  sessionID?: string;
  session?: { cookie?: { secure?: unknown } } & Record<string, unknown>;
};

/**
 * express-session quietly leaves out a `secure` cookie when the request is not HTTPS as
 * Express sees it (`req.secure`): the session row is written, the response is a 200, and the
 * browser never gets the cookie, so the user is never logged in. This says so, once, naming
 * what to set. It watches only while it has not spoken, and only requests that are not HTTPS.
 */
export function cookieNotSentWarning(cookieName: string, logger: Logger) {
  let told = false;
  return (req: SessionRequest, res: ServerResponse): void => {
    if (told || isHttps(req)) return;
    res.once('finish', () => {
      if (told || !droppedCookie(req, res, cookieName)) return;
      told = true;
      logger.warn(
        `session: BANCADA_SESSION_COOKIE_NOT_SENT: a session was saved but its cookie was not sent: it is \`secure\` and this request is not HTTPS as Express sees it (req.secure is false), so the browser never gets it and nobody stays logged in. Behind a balancer or proxy that ends TLS: app.set('trust proxy', 1) (or the number of proxies in front), and make it send X-Forwarded-Proto: https. Over plain HTTP on purpose (development, a local Docker): secure: false, or SESSION_COOKIE_SECURE=false. Logged once.`,
      );
    });
  };
}

/** What express-session counts as HTTPS when it is given no `proxy` setting. */
function isHttps(req: SessionRequest): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true || req.secure === true;
}

/**
 * The response left out the cookie of a session with something in it, whose id the browser
 * does not have (it sent no cookie for it): a login that will not stick. A request that came
 * with this session's cookie already has it, whatever its response carries.
 */
function droppedCookie(req: SessionRequest, res: ServerResponse, name: string): boolean {
  const { session, sessionID } = req;
  if (session === undefined || typeof sessionID !== 'string') return false;
  if (session.cookie?.secure !== true) return false;
  if (!Object.keys(session).some((key) => key !== 'cookie')) return false; // nothing to keep
  if (sentCookie(req, name)?.startsWith(`s:${sessionID}.`)) return false;
  const set = res.getHeader('set-cookie');
  const lines = Array.isArray(set) ? set : set === undefined ? [] : [String(set)];
  return !lines.some((line) => line.startsWith(`${name}=`));
}

/** The value of the request's cookie `name`, decoded; undefined when it has none. */
function sentCookie(req: IncomingMessage, name: string): string | undefined {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at === -1 || pair.slice(0, at).trim() !== name) continue;
    try {
      return decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}
