import { randomBytes } from 'node:crypto';
import { resolveLogger } from '@bancada/internal';
import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import { SessionOptionError } from './errors.js';
import type { Logger } from './types.js';

/** Options of `createSession()`. */
export interface SessionOptions {
  /**
   * Signs the cookie. Required with NODE_ENV=production. An array rotates secrets: the first
   * signs, all are accepted, so add a new one in front and drop the old one later.
   * @default a random secret in development, with a warning
   */
  secret?: string | string[];
  /** A `pg` Pool to keep sessions in (never closed by the session). */
  pool?: Pool;
  /**
   * A Postgres connection string.
   * @default process.env.DATABASE_URL, else the embedded Postgres
   */
  connectionString?: string;
  /**
   * Where the embedded Postgres keeps its files when there is no database configured;
   * `'memory://'` keeps nothing (tests).
   * @default '.data'
   */
  dataDir?: string;
  /**
   * How long a session lives after its last activity, in milliseconds.
   * @default 86_400_000 (one day)
   */
  maxAge?: number;
  /**
   * A request that changes nothing writes to Postgres only once less than this fraction of
   * maxAge is left, instead of on every request.
   * @default 0.5
   */
  refreshWhenRemaining?: number;
  /**
   * How often expired sessions are deleted, in seconds; `false` when a cron job does it.
   * @default 900
   */
  pruneIntervalSeconds?: number | false;
  /** @default 'session' */
  tableName?: string;
  /**
   * The cookie's name; the default does not reveal the stack (unlike `connect.sid`).
   * @default 'sid'
   */
  cookieName?: string;
  /**
   * `'lax'` lets a link from another site log the user in; `'strict'` does not.
   * @default 'lax'
   */
  sameSite?: 'lax' | 'strict' | 'none';
  /**
   * Send the cookie over HTTPS only. Behind a TLS-terminating balancer this needs Express's
   * `trust proxy`, or the cookie is never set (a warning says so once, when it happens).
   * @default process.env.SESSION_COOKIE_SECURE (`true` or `false`), else true when NODE_ENV=production
   */
  secure?: boolean;
  /**
   * How long a store call may take before the request gets a 503.
   * @default 1000
   */
  timeoutMs?: number;
  /**
   * Sessions one user may hold: `login()` ends the user's oldest (least recently active)
   * sessions beyond this. `false`: no limit.
   * @default 10
   */
  maxSessionsPerUser?: number | false;
  /**
   * Who the user given to `login()` is, for `maxSessionsPerUser`; `undefined` for a user it
   * cannot tell (never limited).
   * @default the user's `id`, when it is a string or a number
   */
  userId?: (user: unknown) => string | number | undefined;
  /** A prom-client registry for `bancada_session_*` metrics. */
  registry?: Registry;
  /** @default console; false silences it */
  logger?: Logger | false;
}

export function resolveSessionOptions(options: SessionOptions = {}, env = process.env) {
  if (typeof options !== 'object' || options === null) {
    throw new SessionOptionError(`options must be an object, got ${typeof options}`);
  }
  const logger = resolveLogger(options.logger, (message) => new SessionOptionError(message));
  const production = env.NODE_ENV === 'production';
  let secret = options.secret;
  if (secret === undefined || (Array.isArray(secret) && secret.length === 0)) {
    if (production) {
      throw new SessionOptionError(
        'createSession: a secret is required when NODE_ENV=production (pass `secret`, e.g. ' +
          'from SESSION_SECRET); without one every restart would log every user out.',
      );
    }
    secret = randomBytes(32).toString('hex');
    logger.warn(
      'session: BANCADA_SESSION_RANDOM_SECRET: no secret given, using a random one; sessions ' +
        'will not survive a restart and instances will not share them. Set a secret.',
    );
  }
  const secrets = Array.isArray(secret) ? secret : [secret];
  if (secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new SessionOptionError('secret must be a non-empty string or an array of them');
  }
  if (production && secrets[0]!.length < 32) {
    logger.warn('session: BANCADA_SESSION_SHORT_SECRET: the secret has fewer than 32 characters.');
  }
  const o = {
    secret: secrets,
    pool: options.pool,
    // An empty DATABASE_URL counts as unset.
    connectionString: options.connectionString ?? (env.DATABASE_URL || undefined),
    dataDir: options.dataDir ?? '.data',
    maxAge: options.maxAge ?? 86_400_000,
    refreshWhenRemaining: options.refreshWhenRemaining ?? 0.5,
    pruneIntervalSeconds: options.pruneIntervalSeconds ?? 900,
    tableName: options.tableName ?? 'session',
    cookieName: options.cookieName ?? 'sid',
    sameSite: options.sameSite ?? 'lax',
    secure: options.secure ?? secureFromEnv(env) ?? production,
    timeoutMs: options.timeoutMs ?? 1000,
    maxSessionsPerUser: options.maxSessionsPerUser ?? 10,
    userId: options.userId ?? idOf,
    registry: options.registry,
    logger,
    production,
  };
  if (o.pool !== undefined && options.connectionString !== undefined) {
    throw new SessionOptionError('pass either pool or connectionString, not both');
  }
  if (!Number.isInteger(o.maxAge) || o.maxAge < 1000) {
    throw new SessionOptionError(
      `maxAge must be a whole number of milliseconds (at least 1000), got ${o.maxAge}`,
    );
  }
  if (!(o.refreshWhenRemaining > 0 && o.refreshWhenRemaining <= 1)) {
    throw new SessionOptionError(
      `refreshWhenRemaining must be a fraction above 0, up to 1, got ${o.refreshWhenRemaining}`,
    );
  }
  if (
    o.pruneIntervalSeconds !== false &&
    !(Number.isFinite(o.pruneIntervalSeconds) && o.pruneIntervalSeconds > 0)
  ) {
    throw new SessionOptionError(
      `pruneIntervalSeconds must be a positive number or false, got ${o.pruneIntervalSeconds}`,
    );
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.tableName)) {
    throw new SessionOptionError(`tableName must be a plain SQL identifier, got "${o.tableName}"`);
  }
  if (!['lax', 'strict', 'none'].includes(o.sameSite)) {
    throw new SessionOptionError(`sameSite must be 'lax', 'strict' or 'none', got "${o.sameSite}"`);
  }
  if (o.sameSite === 'none' && !o.secure) {
    throw new SessionOptionError(
      "sameSite: 'none' needs secure: true (browsers refuse it otherwise)",
    );
  }
  if (!(Number.isFinite(o.timeoutMs) && o.timeoutMs >= 100)) {
    throw new SessionOptionError(`timeoutMs must be at least 100, got ${o.timeoutMs}`);
  }
  if (
    o.maxSessionsPerUser !== false &&
    !(Number.isInteger(o.maxSessionsPerUser) && o.maxSessionsPerUser >= 1)
  ) {
    throw new SessionOptionError(
      `maxSessionsPerUser must be a whole number of at least 1, or false, got ${o.maxSessionsPerUser}`,
    );
  }
  if (typeof o.userId !== 'function') {
    throw new SessionOptionError('userId must be a function (user) => string | number | undefined');
  }
  return o;
}

/** `SESSION_COOKIE_SECURE`: `true` or `false`; unset or empty is no say. */
function secureFromEnv(env: NodeJS.ProcessEnv): boolean | undefined {
  const value = env.SESSION_COOKIE_SECURE;
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new SessionOptionError(`SESSION_COOKIE_SECURE must be true or false, got "${value}"`);
}

function idOf(user: unknown): string | number | undefined {
  const id = (user as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

export type ResolvedSessionOptions = ReturnType<typeof resolveSessionOptions>;
