import { Cluster, Redis, type RedisOptions } from 'ioredis';

const SCHEME = /^(rediss?)(-cluster|-sentinel)?:\/\//;

/**
 * A Redis client of the app's own for `REDIS_URL` in any of the forms the Bancada packages
 * read: `redis://` (or `rediss://`) for one node, `redis-cluster://[user:pass@]h:p,h:p` for a
 * Redis Cluster by some of its nodes, `redis-sentinel://[user:pass@]h:p,h:p/<master name>` for
 * the master that those Sentinels name. `loadConfig()` has checked the URL already.
 */
export function openRedisClient(url: string, options: RedisOptions): Redis | Cluster {
  const scheme = SCHEME.exec(url);
  if (!scheme?.[2]) return new Redis(url, options);
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf('@', rest.search(/[/?]|$/));
  const auth = at === -1 ? '' : rest.slice(0, at);
  const afterAuth = rest.slice(at + 1);
  const hostsEnd = afterAuth.search(/[/?]|$/);
  const hosts = afterAuth
    .slice(0, hostsEnd)
    .split(',')
    .filter(Boolean)
    .map((hostPort) => {
      const colon = hostPort.lastIndexOf(':');
      return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
    });
  const credentials: RedisOptions = scheme[1] === 'rediss' ? { tls: {} } : {};
  if (auth) {
    const colon = auth.indexOf(':');
    if (colon === -1) credentials.password = decodeURIComponent(auth);
    else {
      if (colon > 0) credentials.username = decodeURIComponent(auth.slice(0, colon));
      credentials.password = decodeURIComponent(auth.slice(colon + 1));
    }
  }
  if (scheme[2] === '-cluster') {
    return new Cluster(hosts, { redisOptions: { ...credentials, ...options } });
  }
  const name = decodeURIComponent(afterAuth.slice(hostsEnd + 1).split('?')[0] ?? '');
  return new Redis({ ...credentials, ...options, sentinels: hosts, name });
}

/** What the start-up lines call `REDIS_URL`: `redis`, `redis cluster`, `redis sentinel mymaster`. */
export function describeRedisUrl(url: string): string {
  const kind = SCHEME.exec(url)?.[2];
  if (kind === '-cluster') return 'redis cluster';
  if (kind === '-sentinel') {
    const name = url.slice(url.indexOf('/', url.indexOf('//') + 2) + 1).split('?')[0];
    return `redis sentinel ${decodeURIComponent(name ?? '')}`;
  }
  return 'redis';
}
