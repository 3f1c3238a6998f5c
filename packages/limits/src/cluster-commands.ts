import { createHash } from 'node:crypto';
import { within } from '@bancada/internal';
import type { Cluster } from 'ioredis';
import type { RedisReply, SendCommandClusterDetails } from 'rate-limit-redis';

/**
 * rate-limit-redis's `sendCommandCluster` for an ioredis Cluster. The store loads its scripts
 * with `SCRIPT LOAD`, which names no key: on a Cluster it would reach one node at random, and
 * the `EVALSHA` that follows would find no script on the node that owns the key. So the load
 * is answered here (the script's SHA1, remembered with its text, nothing sent) and each
 * `EVALSHA` goes to the key's node, falling back to `EVAL` there when that node does not
 * know the script yet (a new master after a failover too), which also caches it there: what
 * ioredis's own `defineCommand` does. Every other command names its key, and ioredis routes it.
 * Each command gives up after `timeoutMs`, however long ioredis would keep it waiting.
 */
export function clusterCommands(
  cluster: Cluster,
  timeoutMs: number,
): (details: SendCommandClusterDetails) => Promise<RedisReply> {
  const scripts = new Map<string, string>();
  const call = (...args: [string, ...(string | number)[]]) =>
    within(
      cluster.call(...args) as Promise<RedisReply>,
      timeoutMs,
      `no answer from the Redis Cluster within ${timeoutMs} ms`,
    );
  return async ({ command: [name, ...args] }) => {
    const verb = name!.toUpperCase();
    if (verb === 'SCRIPT' && args[0]?.toUpperCase() === 'LOAD') {
      const sha = createHash('sha1').update(args[1]!).digest('hex');
      scripts.set(sha, args[1]!);
      return sha;
    }
    if (verb === 'EVALSHA') {
      const [sha, ...rest] = args as [string, ...string[]];
      try {
        return await call('EVALSHA', sha, ...rest);
      } catch (error) {
        const script = scripts.get(sha);
        if (script === undefined || !/^NOSCRIPT/.test((error as Error).message)) throw error;
        return await call('EVAL', script, ...rest);
      }
    }
    return await call(name!, ...args);
  };
}
