/**
 * Every environment variable the app reads, in one place: what it means, its default, and
 * whether production needs it. `loadConfig()` checks them all at start and names every bad
 * one at once; `render.yaml` is tested against this list.
 */

import type { FanoutMode } from '@bancada/realtime';

export interface Config {
  port: number;
  /** Unset: cache, limits and realtime run for this instance only. */
  redisUrl: string | undefined;
  /** Unset: an embedded Postgres (PGlite) in `.data`. */
  databaseUrl: string | undefined;
  /** Unset outside production: a random secret per process, with a warning. */
  sessionSecret: string | undefined;
  /** The session cookie goes over HTTPS only. */
  cookieSecure: boolean;
  /** Express's `trust proxy`: how many proxies (or which) sit in front of the app. */
  trustProxy: boolean | number | string;
  instanceId: string | undefined;
  fanout: FanoutMode;
  /** WebSocket + SSE connections per client IP, across instances with Redis. */
  maxConnectionsPerIp: number;
  /** Unset: no tracing, and the OpenTelemetry SDK is never loaded. */
  otlpEndpoint: string | undefined;
  production: boolean;
}

export interface EnvVariable {
  name: string;
  description: string;
  /** What an unset variable means, in words. */
  default: string;
  /** The app refuses to start in production (`NODE_ENV=production`) without it. */
  requiredInProduction: boolean;
}

type Parser<T> = (raw: string | undefined, production: boolean) => T;

interface Field<K extends keyof Config> extends EnvVariable {
  key: K;
  parse: Parser<Config[K]>;
}

/** Thrown by `loadConfig()`; its message lists every variable that is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const url =
  (protocols: string[]): Parser<string | undefined> =>
  (raw) => {
    if (raw === undefined) return undefined;
    const expected = protocols.map((p) => `${p}//`).join(' or ');
    let protocol: string | undefined;
    try {
      protocol = new URL(raw).protocol;
    } catch {}
    if (protocol === undefined || !protocols.includes(protocol)) {
      throw new Error(`must be a URL starting with ${expected}, got "${redact(raw)}"`);
    }
    return raw;
  };

/**
 * `REDIS_URL` in the forms every Bancada package reads: `redis://` or `rediss://` (one node),
 * `redis-cluster://h:p,h:p` (a Redis Cluster, by some of its nodes) and
 * `redis-sentinel://h:p,h:p/<master name>` (`rediss-` for TLS).
 */
const redisUrl: Parser<string | undefined> = (raw) => {
  if (raw === undefined) return undefined;
  const scheme = /^(rediss?)(-cluster|-sentinel)?:\/\//.exec(raw);
  if (scheme === null) return badRedisUrl(raw);
  if (scheme[2] === undefined) return url(['redis:', 'rediss:'])(raw, false);
  const [authority = '', path = ''] = raw.slice(scheme[0].length).split(/(?=[/?])/, 2);
  const hosts = authority.slice(authority.lastIndexOf('@') + 1).split(',');
  if (!hosts.every((host) => /^[\w.-]+:\d{1,5}$/.test(host))) {
    throw new Error(`must list host:port nodes separated by commas, got "${redact(raw)}"`);
  }
  if (scheme[2] === '-sentinel' && !/^\/[^/?]+/.test(path)) {
    throw new Error(
      `must end with the master's name (redis-sentinel://host:port,…/mymaster), got "${redact(raw)}"`,
    );
  }
  return raw;
};

function badRedisUrl(raw: string): never {
  throw new Error(
    `must be a URL starting with redis://, rediss://, redis-cluster:// or redis-sentinel://, got "${redact(raw)}"`,
  );
}

/** A URL with its password hidden, for error messages that end up in logs. */
function redact(raw: string): string {
  return raw.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

const field = <K extends keyof Config>(f: Field<K>) => f;

/** The schema: one entry per variable, in the order the README lists them. */
export const ENV_SCHEMA = [
  field({
    key: 'production',
    name: 'NODE_ENV',
    description:
      'production requires a shared Redis, Postgres and session secret, and sends the cookie over HTTPS only',
    default: 'development: embedded defaults, a random secret',
    requiredInProduction: false,
    parse: (raw) => {
      // A typo must not quietly start an instance of a cluster on its own embedded database.
      if (raw === undefined || raw === 'development' || raw === 'test') return false;
      if (raw === 'production') return true;
      throw new Error(`must be production, development or test, got "${raw}"`);
    },
  }),
  field({
    key: 'port',
    name: 'PORT',
    description: 'HTTP port to listen on',
    default: '3000',
    requiredInProduction: false,
    parse: (raw) => {
      if (raw === undefined) return 3000;
      const port = Number(raw);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`must be a whole number from 0 to 65535, got "${raw}"`);
      }
      return port;
    },
  }),
  field({
    key: 'redisUrl',
    name: 'REDIS_URL',
    description:
      'Redis shared by every instance: cache, rate limits, connection counts, fan-out; redis://host:port, redis-cluster://host:port,host:port (a Redis Cluster) or redis-sentinel://host:port,host:port/<master name>',
    default: 'none: this instance only (memory cache, local realtime)',
    requiredInProduction: true,
    parse: redisUrl,
  }),
  field({
    key: 'databaseUrl',
    name: 'DATABASE_URL',
    description: 'Postgres shared by every instance: orders, users, sessions',
    default: 'none: an embedded Postgres (PGlite) in .data, single instance only',
    requiredInProduction: true,
    parse: url(['postgres:', 'postgresql:']),
  }),
  field({
    key: 'sessionSecret',
    name: 'SESSION_SECRET',
    description: 'signs the session cookie; the same on every instance; comma-separated to rotate',
    default: 'a random secret per process (development only)',
    requiredInProduction: true,
    parse: (raw) => {
      if (raw === undefined) return undefined;
      if (raw.split(',').some((secret) => secret.length < 32)) {
        throw new Error('each secret must be at least 32 characters (openssl rand -hex 32)');
      }
      return raw;
    },
  }),
  field({
    key: 'cookieSecure',
    name: 'SESSION_COOKIE_SECURE',
    description:
      'true: the session cookie goes over HTTPS only (browsers then drop it on plain http://, so logins fail there)',
    default: 'true in production, false otherwise',
    requiredInProduction: false,
    parse: (raw, production) => {
      if (raw === undefined) return production;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      throw new Error(`must be true or false, got "${raw}"`);
    },
  }),
  field({
    key: 'trustProxy',
    name: 'TRUST_PROXY',
    description:
      "Express's trust proxy: hops in front of the app (1 behind one balancer), or a list of addresses",
    default: 'false: the client IP is the socket address',
    requiredInProduction: false,
    parse: (raw) => {
      if (raw === undefined || raw === 'false') return false;
      if (raw === 'true') return true;
      if (/^\d+$/.test(raw)) return Number(raw);
      if (/^[\w.:/, -]+$/.test(raw)) return raw;
      throw new Error(`must be true, false, a hop count or addresses, got "${raw}"`);
    },
  }),
  field({
    key: 'instanceId',
    name: 'INSTANCE_ID',
    description: 'names this instance in /health, logs and event envelopes',
    default: 'host-pid-random',
    requiredInProduction: false,
    parse: (raw) => {
      if (raw !== undefined && !/^[\w.-]{1,64}$/.test(raw)) {
        throw new Error('must be 1 to 64 letters, digits, ".", "_" or "-"');
      }
      return raw;
    },
  }),
  field({
    key: 'fanout',
    name: 'BANCADA_FANOUT',
    description: 'realtime fan-out through Redis: on, dry-run (publish, do not deliver) or off',
    default: 'on',
    requiredInProduction: false,
    parse: (raw) => {
      if (raw === undefined) return 'on';
      if (raw === 'on' || raw === 'off' || raw === 'dry-run') return raw;
      throw new Error(`must be on, dry-run or off, got "${raw}"`);
    },
  }),
  field({
    key: 'maxConnectionsPerIp',
    name: 'PDV_MAX_CONNECTIONS_PER_IP',
    description:
      'WebSocket and SSE connections one client IP may hold (a restaurant behind one NAT has several screens)',
    default: '50',
    requiredInProduction: false,
    parse: (raw) => {
      if (raw === undefined) return 50;
      const max = Number(raw);
      if (!Number.isInteger(max) || max < 1 || max > 1_000_000) {
        throw new Error(`must be a whole number from 1 to 1000000, got "${raw}"`);
      }
      return max;
    },
  }),
  field({
    key: 'otlpEndpoint',
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    description:
      'an OpenTelemetry collector (OTLP over HTTP): traces of requests and of their events on every instance go there',
    default: 'none: no tracing',
    requiredInProduction: false,
    parse: url(['http:', 'https:']),
  }),
] as const;

/**
 * Reads and checks the environment. Empty strings count as unset. In production
 * (`NODE_ENV=production`) a shared Redis, a shared Postgres and a session secret are required:
 * without them several instances would each keep their own logins and orders.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const problems: string[] = [];
  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const f of ENV_SCHEMA) {
    const raw = env[f.name] === '' ? undefined : env[f.name];
    if (raw === undefined && production && f.requiredInProduction) {
      problems.push(`${f.name} is required when NODE_ENV=production (${f.description})`);
      continue;
    }
    try {
      config[f.key] = (f.parse as Parser<unknown>)(raw, production);
    } catch (error) {
      problems.push(`${f.name} ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}
