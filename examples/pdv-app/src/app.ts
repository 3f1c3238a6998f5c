import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { type Cache, createCache } from '@bancada/cache';
import type { PgBridge } from '@bancada/pg-bridge';
import type { Hub } from '@bancada/realtime';
import { createSession, type SessionMiddleware, sameOriginOnly } from '@bancada/session';
import express from 'express';
import type { Config } from './config.js';
import { type Database, openDatabase } from './database.js';
import { errorHandler } from './error-handler.js';
import { HttpError } from './http-error.js';
import type { Logger } from './logger.js';
import { createLoginGuards } from './login-guards.js';
import { createRegistry, orderEventsCounter } from './metrics.js';
import { migrate } from './migrations.js';
import { createRealtime } from './realtime.js';
import { requestSpans } from './request-spans.js';
import { authRoutes } from './routes/auth.js';
import { type Health, healthRoutes, readHealth } from './routes/health.js';
import { orderRoutes } from './routes/orders.js';
import { pageRoutes } from './routes/pages.js';
import { subscriptionRoutes } from './routes/subscription.js';
import { seed } from './seed.js';

export interface PdvAppOptions {
  config: Config;
  logger: Logger;
  /** The embedded Postgres's folder when there is no DATABASE_URL; `memory://` keeps nothing. */
  dataDir?: string;
  /** Before every Redis key and channel; instances of one app share it. */
  prefix?: string;
  /**
   * Failed logins allowed per client IP in 15 minutes (successful ones never count).
   * @default 10
   */
  loginAttempts?: number;
  /**
   * Logins allowed per account in 15 minutes, successful and failed alike: a script logging
   * in again and again, or guessing one account's password from many addresses, stops here.
   * @default 20
   */
  accountLoginAttempts?: number;
  /**
   * Password hashes (scrypt: 32 MiB, tens of ms of a core each) at once on this instance.
   * @default the number of cores, at most 4 (libuv's thread pool)
   */
  maxConcurrentHashes?: number;
  /**
   * Logins waiting for a hash; past these, a login gets a 503 with Retry-After at once. The
   * last one waits about (maxQueuedHashes / maxConcurrentHashes + 1) hashes' time.
   * @default 8 per hash slot
   */
  maxQueuedHashes?: number;
  /**
   * Sessions a user may hold; a login past it ends the user's oldest.
   * @default 10
   */
  sessionsPerUser?: number;
  /** How long `close()` waits for in-flight requests before cutting them. */
  drainTimeoutMs?: number;
  /** How often each screen's session is read again (a logged-out screen is closed). */
  sessionCheckMs?: number;
  /**
   * The most any Postgres step of a request may take (connecting, a query, a transaction
   * left idle), for the app's own queries and the session store alike: past it the request
   * gets a 503, and the server stops the statement too.
   * @default 1000
   */
  databaseTimeoutMs?: number;
}

export interface PdvApp {
  app: express.Express;
  server: Server;
  hub: Hub;
  instanceId: string;
  /** Listens; resolves with the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  health(): Promise<Health>;
  /**
   * Drains: `/health` turns 503, no new connection is accepted, realtime clients are told
   * when to come back, in-flight requests finish; then every connection is closed.
   */
  close(): Promise<void>;
}

/** Builds the whole PDV app: database (migrated, seeded), sessions, cache, limits, hub. */
export async function createPdvApp(options: PdvAppOptions): Promise<PdvApp> {
  const { config, logger } = options;
  const prefix = options.prefix ?? 'pdv:';
  const instanceId = config.instanceId ?? defaultInstanceId();
  const registry = createRegistry();

  const databaseTimeoutMs = wholeNumber('databaseTimeoutMs', options.databaseTimeoutMs, 1000, 100);
  const loginLimits = {
    perIp: wholeNumber('loginAttempts', options.loginAttempts, 10, 1),
    perAccount: wholeNumber('accountLoginAttempts', options.accountLoginAttempts, 20, 1),
    hashes: wholeNumber(
      'maxConcurrentHashes',
      options.maxConcurrentHashes,
      Math.min(4, availableParallelism()),
      1,
    ),
    queued: 0,
    sessions: wholeNumber('sessionsPerUser', options.sessionsPerUser, 10, 1),
  };
  loginLimits.queued = wholeNumber(
    'maxQueuedHashes',
    options.maxQueuedHashes,
    8 * loginLimits.hashes,
    0,
  );
  const database = await openDatabase(
    config.databaseUrl,
    options.dataDir ?? '.data',
    logger,
    databaseTimeoutMs,
  );
  const applied = await migrate(database.connectionString).catch(async (error: Error) => {
    await database.close();
    throw new Error(`postgres: could not prepare the database: ${error.message}`);
  });
  await seed(database.pool);
  logger.info(
    `database: ${database.mode === 'embedded' ? `embedded postgres at ${options.dataDir ?? '.data'} (single instance only)` : 'postgres (shared)'}; ${applied.length} migration(s) applied`,
  );

  const sessions: SessionMiddleware = createSession({
    connectionString: database.connectionString,
    ...(config.sessionSecret ? { secret: config.sessionSecret.split(',') } : {}),
    secure: config.cookieSecure,
    timeoutMs: databaseTimeoutMs,
    maxSessionsPerUser: loginLimits.sessions,
    registry,
    logger,
  });
  if (config.production && !config.cookieSecure) {
    logger.warn(
      'session: SESSION_COOKIE_SECURE=false in production: the session cookie travels over plain HTTP; serve the app over HTTPS and drop it',
    );
  }
  const cache: Cache = createCache({
    redis: config.redisUrl ?? false,
    prefix: `${prefix}cache:`,
    registry,
    logger,
  });
  const login = createLoginGuards({
    redisUrl: config.redisUrl,
    prefix,
    perIp: loginLimits.perIp,
    perAccount: loginLimits.perAccount,
    hashes: loginLimits.hashes,
    queued: loginLimits.queued,
    registry,
    logger,
  });
  const loginGuards = login.guards;
  const realtime = createRealtime({
    config: { ...config, instanceId },
    sessions,
    // LISTEN needs a real server: PGlite does not deliver notifications to socket clients.
    bridgeDatabaseUrl: database.mode === 'postgres' ? database.connectionString : undefined,
    prefix,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    sessionCheckMs: options.sessionCheckMs ?? 15_000,
    registry,
    logger,
  });
  const { hub, bridge } = realtime;
  if (!bridge) logger.info('notify bridge: off (embedded postgres has no LISTEN)');

  const countOrderEvent = orderEventsCounter(registry);

  let draining = false;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.use((_req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
      'Content-Security-Policy':
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    });
    if (draining)
      res.set('Connection', 'close'); // the next request goes to another instance
    // A request that began before the drain leaves its keep-alive connection idle once it is
    // answered: close it then, so the drain ends now rather than at the keep-alive timeout.
    else res.once('finish', () => draining && setImmediate(() => server.closeIdleConnections()));
    next();
  });
  const healthSources = {
    instanceId,
    database,
    sessions,
    cache,
    hub,
    bridge,
    redisConfigured: config.redisUrl !== undefined,
    registry,
    isDraining: () => draining,
  };
  if (config.otlpEndpoint !== undefined) app.use(await requestSpans(instanceId));
  app.use(healthRoutes(healthSources)); // before sessions: probes must not touch the store
  // A POST, PATCH or DELETE from a page of another site is refused before anything reads it
  // (CSRF): this site's own pages, and clients that are not browsers, pass.
  app.use(sameOriginOnly());
  app.use(sessions);
  app.use(express.json({ limit: '16kb' }));
  app.get('/events', hub.sse()); // rooms: ?room=restaurant:<id>, authorized from the session
  app.use('/api', authRoutes(database.pool, loginGuards, config.cookieSecure));
  app.use('/api', subscriptionRoutes(database.pool, cache, instanceId));
  app.use(
    '/api',
    orderRoutes(database.pool, realtime.publishOrder, countOrderEvent, {
      timeoutMs: databaseTimeoutMs,
      canEndSessions: database.mode === 'postgres',
    }),
  );
  app.use('/api', (_req, _res, next) => next(new HttpError(404, 'not_found', 'no such route')));
  app.use(pageRoutes());
  app.use(errorHandler(logger));

  const server = createServer(app);
  hub.attach(server, { path: '/ws' });

  let closing: Promise<void> | undefined;
  const close = async () => {
    draining = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    await hub.drain(); // 1012 with a jittered retry hint; SSE gets `retry:`
    server.closeIdleConnections();
    const timeout = setTimeout(
      () => server.closeAllConnections(),
      options.drainTimeoutMs ?? 10_000,
    );
    await stopped;
    clearTimeout(timeout);
    // Only now: requests in flight until here still published their order changes.
    await hub.close();
    await Promise.allSettled([
      bridge?.close(),
      cache.close(),
      realtime.limiter.close(),
      login.close(),
    ]);
    await sessions.close();
    await database.close();
  };

  return {
    app,
    server,
    hub,
    instanceId,
    listen(port = 0, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const shown = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
          resolve(`http://${shown}:${address.port}`);
        });
      });
    },
    health: () => readHealth(healthSources),
    close() {
      closing ??= close();
      return closing;
    },
  };
}

/** An option that must be a whole number of at least `min`: its value, or `fallback`. */
function wholeNumber(name: string, value: number | undefined, fallback: number, min: number) {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min) {
    throw new TypeError(`${name} must be a whole number of at least ${min}, got ${resolved}`);
  }
  return resolved;
}

/** `pdv-<pid>-<random>`: unique enough to tell instances apart in logs and /health. */
export function defaultInstanceId(): string {
  return `pdv-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export type { Database, PgBridge };
