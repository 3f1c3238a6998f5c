import type { IncomingMessage, ServerResponse } from 'node:http';
import { ThrottledLog } from '@bancada/internal';
import connectPgSimple from 'connect-pg-simple';
import session from 'express-session';
import type { Pool } from 'pg';
import { cookieNotSentWarning } from './cookie-not-sent.js';
import { openPool } from './database.js';
import {
  type EmbeddedPostgres,
  embeddedDataDir,
  startEmbeddedPostgres,
} from './embedded-postgres.js';
import { resolveSessionOptions, type SessionOptions } from './options.js';
import { quietTouch } from './quiet-touch.js';
import { ensureTableBeforeUse } from './session-table.js';
import { type StoreHealth, sessionMetrics, watchStore } from './store-metrics.js';
import { sendUnavailable } from './unavailable.js';
import { endOlderSessions } from './user-sessions.js';

type Next = (error?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** Where the middleware's settings live on a request, for `login()` and `logout()`. */
export const SESSION_SETTINGS = Symbol.for('bancada.session.settings');

/** What `login()` and `logout()` need of the middleware that ran on a request. */
export interface SessionSettings {
  name: string;
  cookie: object;
  /** Who a user is, for the sessions-per-user limit; undefined: no limit for them. */
  userKey(user: unknown): string | undefined;
  /** Ends the user's sessions beyond the limit, keeping `sid`; never rejects (it logs). */
  endOlderSessions(userKey: string, sid: string): Promise<void>;
}

/** What `createSession()` returns: express-session middleware, plus its lifecycle. */
export interface SessionMiddleware extends Handler {
  /** `'postgres'` (shared by every instance) or `'embedded'` (this process only). */
  readonly mode: 'postgres' | 'embedded';
  readonly cookieName: string;
  /** Resolves once the store is ready (the embedded Postgres takes a few seconds at start). */
  readonly ready: Promise<void>;
  /**
   * For health checks: `degraded` is true while the store fails (and before the embedded
   * database is up), false once a call succeeds again.
   */
  health(): { mode: 'postgres' | 'embedded'; degraded: boolean };
  /** Loads the session of a raw request (a WebSocket upgrade); rejects if the store fails. */
  readSession(req: IncomingMessage): Promise<session.SessionData | undefined>;
  /** Stops pruning and closes the pool and the embedded database it opened. */
  close(): Promise<void>;
}

/**
 * express-session backed by Postgres through connect-pg-simple, for apps that run as many
 * instances: `pool`, `connectionString` or `DATABASE_URL`, else an embedded Postgres in
 * `dataDir`. Safe cookie defaults; a request that changes nothing costs no write; a database
 * that is down gives a 503 with Retry-After, never a hang or a stack trace.
 *
 * @example
 * const sessions = createSession({ secret: process.env.SESSION_SECRET });
 * app.use(sessions);
 * app.post('/login', async (req, res) => { await login(req, { id: 1 }); res.sendStatus(204); });
 */
export function createSession(options?: SessionOptions): SessionMiddleware {
  const o = resolveSessionOptions(options);
  const sharedEmbedded = embeddedDataDir(o.connectionString);
  const mode =
    sharedEmbedded !== undefined || !(o.pool || o.connectionString) ? 'embedded' : 'postgres';
  const PgStore = connectPgSimple(session);
  let inner: Handler | undefined;
  let store: InstanceType<typeof PgStore> | undefined;
  let touches: ReturnType<typeof quietTouch> | undefined;
  // Requests readSession has answered: the first answer may reuse what the middleware loaded.
  const readBefore = new WeakSet<IncomingMessage>();
  let ownedPool: Pool | undefined;
  let storePool: Pool | undefined;
  let embedded: EmbeddedPostgres | undefined;
  let warnedTrustProxy = false;
  let closing: Promise<void> | undefined;
  // Degraded until the store is up (the embedded Postgres takes a few seconds at start).
  const health: StoreHealth = { degraded: true };
  const metrics = o.registry ? sessionMetrics(o.registry, health) : undefined;
  const cookie = {
    httpOnly: true,
    sameSite: o.sameSite,
    secure: o.secure,
    maxAge: o.maxAge,
    path: '/',
  };

  // An outage fails every request: one line per kind of failure per 10 s says it.
  const log = new ThrottledLog(o.logger);
  const watchCookie = o.secure ? cookieNotSentWarning(o.cookieName, o.logger) : undefined;
  const logError = (what: string, error: unknown) =>
    log.error(what, `session: ${what}: ${(error as Error)?.message ?? error}`);

  const ready = (async () => {
    let pool = o.pool;
    if (pool === undefined) {
      let url = o.connectionString;
      if (url === undefined) {
        embedded = await startEmbeddedPostgres(o.dataDir);
        url = embedded.connectionString;
      }
      ownedPool = openPool(url, o.timeoutMs, o.logger);
      pool = ownedPool;
    }
    storePool = pool;
    store = new PgStore({
      pool,
      tableName: o.tableName,
      createTableIfMissing: false, // see session-table.ts
      pruneSessionInterval: o.pruneIntervalSeconds,
      errorLog: (...args: unknown[]) => logError('store error', args.join(' ')),
    });
    ensureTableBeforeUse(store, pool, o.tableName);
    touches = quietTouch(store, o.maxAge, o.refreshWhenRemaining);
    health.degraded = false;
    watchStore(store, health, metrics);
    inner = session({
      store,
      secret: o.secret,
      name: o.cookieName,
      resave: false,
      saveUninitialized: false,
      // The browser's cookie is refreshed on every response (no database write needed for
      // that); the stored expiry is refreshed by quietTouch.
      rolling: true,
      cookie,
    }) as unknown as Handler;
  })();
  ready.then(
    () =>
      o.logger.info(
        mode === 'embedded'
          ? `session: embedded postgres at ${sharedEmbedded ?? o.dataDir} (single instance only)`
          : 'session: postgres (shared)',
      ),
    (error) => logError('could not start the session store', error),
  );

  const settings: SessionSettings = {
    name: o.cookieName,
    cookie,
    userKey(user) {
      if (o.maxSessionsPerUser === false) return undefined;
      const id = o.userId(user);
      return id === undefined ? undefined : String(id);
    },
    async endOlderSessions(userKey, sid) {
      if (o.maxSessionsPerUser === false || storePool === undefined) return;
      // The login stands if this fails: the next one of the user ends them.
      await endOlderSessions(storePool, o.tableName, userKey, sid, o.maxSessionsPerUser).catch(
        (error) => logError('could not end older sessions of a user', error),
      );
    },
  };

  const middleware = ((req, res, next) => {
    if (inner === undefined) {
      ready.then(
        () => middleware(req, res, next),
        () => sendUnavailable(res),
      );
      return;
    }
    (req as unknown as Record<symbol, unknown>)[SESSION_SETTINGS] = settings;
    if (o.secure && !warnedTrustProxy) {
      warnedTrustProxy = true;
      const app = (req as { app?: { get(name: string): unknown } }).app;
      if (app && !app.get('trust proxy')) {
        o.logger.warn(
          'session: BANCADA_SESSION_NO_TRUST_PROXY: secure cookies are on but Express has no ' +
            "`trust proxy`: behind a TLS-terminating balancer the cookie is never set. Use app.set('trust proxy', 1).",
        );
      }
    }
    watchCookie?.(req, res);
    inner(req, res, (error) => {
      if (error === undefined) return next();
      logError('store unavailable', error);
      // A failed save at the end of a request comes after the response has started.
      if (!res.headersSent) sendUnavailable(res);
    });
  }) as SessionMiddleware;

  return Object.assign(middleware, {
    mode,
    cookieName: o.cookieName,
    ready,
    health: () => ({ mode, degraded: health.degraded }),
    async readSession(req: IncomingMessage) {
      await ready;
      type Loaded = { session?: session.SessionData; sessionID?: string };
      // An Express request that went through this middleware has its session already: the
      // first read takes it as it is. Any later read (a long-lived connection checked again)
      // asks the store: after a logout there is none.
      const loaded = (req as Loaded).session;
      const first = !readBefore.has(req);
      readBefore.add(req);
      if (loaded !== undefined && first) return loaded;
      // On a stand-in of the request, so that the live one (and its session, which its own
      // response may still save) is never touched.
      const probe = Object.create(req) as IncomingMessage & Loaded;
      probe.session = undefined;
      probe.sessionID = undefined;
      const { ServerResponse } = await import('node:http');
      const res = new ServerResponse(probe);
      await new Promise<void>((resolve, reject) =>
        inner!(probe, res, (error) => (error ? reject(error) : resolve())),
      );
      if (probe.sessionID !== undefined) touches?.forget(probe.sessionID);
      // For a missing or ended session this is a new, empty one (no user): never saved, as
      // its response never ends.
      return probe.session;
    },
    close() {
      closing ??= (async () => {
        await ready.catch(() => {});
        store?.close();
        metrics?.unregister();
        await ownedPool?.end();
        await embedded?.close();
      })();
      return closing;
    },
  }) as SessionMiddleware;
}
