import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** A host and port of a seed node or a Sentinel. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Where a package finds Redis, however it runs: a URL (below), a caller's ioredis client
 * (`Redis`, a Sentinel-backed `Redis`, or a `Cluster`: only a template, never used or
 * closed), ioredis options (with `sentinels` and `name` for Sentinel), or `{ cluster: seeds }`.
 *
 * URLs, also what `REDIS_URL` may hold:
 * - `redis://[user:pass@]host:port[/db]` (`rediss://` for TLS): one node;
 * - `redis-cluster://[user:pass@]host:port,host:port,…` (`rediss-cluster://`): a Redis Cluster,
 *   by any of its nodes (the seed list; the others are found from them);
 * - `redis-sentinel://[user:pass@]host:port,host:port,…/<master name>` (`rediss-sentinel://`):
 *   the master that these Sentinels name, followed through failovers. The user and password
 *   are the data nodes'; a Sentinel's own password goes in `?sentinelPassword=`.
 */
export type RedisSource =
  | string
  | Redis
  | Cluster
  | RedisOptions
  | { cluster: Array<HostPort | string>; options?: ClusterOptions };

/** What a source stands for, resolved once. */
export type RedisTopology =
  | { kind: 'single'; url?: string; options: RedisOptions }
  | { kind: 'cluster'; seeds: HostPort[]; options: ClusterOptions }
  | { kind: 'sentinel'; name: string; options: RedisOptions };

/** Thrown for a source that can never work; each package turns it into its own option error. */
export class RedisSourceError extends TypeError {}

const SCHEMES = /^(rediss?)(-cluster|-sentinel)?:\/\//;

/** True for an ioredis client of either kind (duck-typed: a caller's copy of ioredis works too). */
export function isRedisClient(value: unknown): value is Redis | Cluster {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Redis).duplicate === 'function' &&
    typeof (value as Redis).sendCommand === 'function'
  );
}

function isCluster(value: unknown): value is Cluster {
  return isRedisClient(value) && (value as Cluster).isCluster === true;
}

/** The topology of `source`; throws a RedisSourceError for one that can never work. */
export function topologyOf(source: RedisSource): RedisTopology {
  if (typeof source === 'string') return parseRedisUrl(source);
  if (isCluster(source)) {
    const seeds = (source as unknown as { startupNodes: ClusterNode[] }).startupNodes ?? [];
    return { kind: 'cluster', seeds: seeds.map(hostPort), options: { ...source.options } };
  }
  if (isRedisClient(source)) {
    const options = { ...(source as Redis).options };
    return options.sentinels ? sentinelOf(options) : { kind: 'single', options };
  }
  if (typeof source !== 'object' || source === null) {
    throw new RedisSourceError('redis must be a URL, an ioredis client or ioredis options');
  }
  if ('cluster' in source) {
    if (!Array.isArray(source.cluster) || source.cluster.length === 0) {
      throw new RedisSourceError('redis.cluster must list at least one node (host:port)');
    }
    return { kind: 'cluster', seeds: source.cluster.map(hostPort), options: { ...source.options } };
  }
  const options = { ...(source as RedisOptions) };
  return options.sentinels ? sentinelOf(options) : { kind: 'single', options };
}

function sentinelOf(options: RedisOptions): RedisTopology {
  if (typeof options.name !== 'string' || options.name.length === 0) {
    throw new RedisSourceError('Sentinel options need `name`: the name of the master to follow');
  }
  return { kind: 'sentinel', name: options.name, options };
}

/** Reads one of the kit's Redis URLs (see RedisSource). */
export function parseRedisUrl(url: string): RedisTopology {
  const scheme = SCHEMES.exec(url);
  if (!scheme) {
    throw new RedisSourceError(
      `redis URL must start with redis://, rediss://, redis-cluster:// or redis-sentinel://, got "${redact(url)}"`,
    );
  }
  const tls = scheme[1] === 'rediss';
  const kind = scheme[2];
  if (kind === undefined) return { kind: 'single', url, options: {} };
  // Several hosts do not make a URL that `new URL()` reads: take the authority apart here.
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf('@', rest.search(/[/?]|$/));
  const auth = at === -1 ? '' : rest.slice(0, at);
  const afterAuth = at === -1 ? rest : rest.slice(at + 1);
  const hostsEnd = afterAuth.search(/[/?]|$/);
  const hosts = afterAuth.slice(0, hostsEnd).split(',').filter(Boolean).map(hostPort);
  const path = afterAuth.slice(hostsEnd);
  const query = new URLSearchParams(path.includes('?') ? path.slice(path.indexOf('?') + 1) : '');
  if (hosts.length === 0) {
    throw new RedisSourceError(`"${redact(url)}" names no host:port`);
  }
  const credentials: RedisOptions = {};
  if (auth) {
    const colon = auth.indexOf(':');
    const user = decodeURIComponent(colon === -1 ? auth : auth.slice(0, colon));
    const password = colon === -1 ? undefined : decodeURIComponent(auth.slice(colon + 1));
    if (password === undefined) credentials.password = user;
    else {
      if (user) credentials.username = user;
      credentials.password = password;
    }
  }
  if (tls) credentials.tls = {};
  if (kind === '-cluster') {
    return { kind: 'cluster', seeds: hosts, options: { redisOptions: credentials } };
  }
  const name = decodeURIComponent(path.split('?')[0]!.replace(/^\//, ''));
  if (!name) {
    throw new RedisSourceError(
      `a Sentinel URL ends with the master's name (redis-sentinel://host:port,…/mymaster), got "${redact(url)}"`,
    );
  }
  const sentinelPassword = query.get('sentinelPassword') ?? undefined;
  return {
    kind: 'sentinel',
    name,
    options: {
      ...credentials,
      sentinels: hosts,
      name,
      ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
      ...(tls ? { sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    },
  };
}

/** How a package says at start which Redis it uses: `redis`, `redis cluster`, `redis sentinel mymaster`. */
export function describeTopology(topology: RedisTopology): string {
  if (topology.kind === 'cluster') return 'redis cluster';
  if (topology.kind === 'sentinel') return `redis sentinel ${topology.name}`;
  return 'redis';
}

/** Opens a client for `topology` with `options` over its own; the package's own settings win. */
export function openTopology(
  topology: RedisTopology,
  options: RedisOptions,
  clusterOptions: ClusterOptions = {},
): Redis | Cluster {
  if (topology.kind === 'cluster') {
    return new Cluster(topology.seeds, {
      ...topology.options,
      ...clusterOptions,
      redisOptions: { ...topology.options.redisOptions, ...options },
    });
  }
  if (topology.kind === 'single' && topology.url !== undefined) {
    return new Redis(topology.url, { ...topology.options, ...options });
  }
  return new Redis({ ...topology.options, ...options });
}

function hostPort(node: HostPort | ClusterNode | string): HostPort {
  if (typeof node === 'string') {
    const colon = node.lastIndexOf(':');
    const port = Number(colon === -1 ? 6379 : node.slice(colon + 1));
    const host = colon === -1 ? node : node.slice(0, colon);
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RedisSourceError(`"${node}" is not a host:port`);
    }
    return { host, port };
  }
  if (typeof node === 'number') return { host: '127.0.0.1', port: node };
  const { host = '127.0.0.1', port = 6379 } = node as { host?: string; port?: number };
  return { host, port };
}

/** A URL with its password hidden, for messages that end up in logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
