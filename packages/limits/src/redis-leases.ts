import type { Redis } from 'ioredis';
import type { InstanceHeartbeat } from './instance-heartbeat.js';
import { isCluster, type LimitsRedis } from './redis-connection.js';

// Each script touches one key, a client's, so it runs on a Redis Cluster as it is (on the
// node of that key's slot); instances are read apart (see InstanceHeartbeat).
// Each client key is a sorted set of lease ids (`<instance tag>:<n>`) scored by their expiry,
// on Redis's clock (TIME), so instances with skewed clocks agree. Expired leases are swept
// before every count, and so are those of the instances named dead in ARGV[4..]. A full
// client gets back the tags of the instances holding its slots, to check whether they live.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if #ARGV > 3 then
  local dead = {}
  for i = 4, #ARGV do dead[ARGV[i]] = true end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if dead[string.match(id, '^[^:]*')] then redis.call('ZREM', KEYS[1], id) end
  end
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local owners, seen = {}, {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local owner = string.match(id, '^[^:]*')
    if not seen[owner] then
      seen[owner] = true
      owners[#owners + 1] = owner
    end
  end
  return owners
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

// Re-adds (not only updates) the given leases: after a Redis restart lost them, the
// connections still exist and must count again.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return #ARGV - 1
`;

type LeaseRedis = LimitsRedis & {
  bancadaAcquire(
    key: string,
    max: number,
    ttlMs: number,
    id: string,
    ...deadInstances: string[]
  ): Promise<1 | string[]>;
  bancadaRenew(key: string, ttlMs: number, ...ids: string[]): Promise<number>;
};

/**
 * Per-client counts shared by every instance, as leases in Redis that their owner renews;
 * those of an instance whose heartbeat has expired stop counting.
 */
export class RedisLeases {
  private readonly redis: LeaseRedis;

  constructor(
    redis: LimitsRedis,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly heartbeat: InstanceHeartbeat,
  ) {
    redis.defineCommand('bancadaAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    redis.defineCommand('bancadaRenew', { numberOfKeys: 1, lua: RENEW });
    this.redis = redis as LeaseRedis;
  }

  /**
   * Atomically takes a slot under `client` if fewer than `max` are held by live instances;
   * false otherwise. `id` must start with this instance's tag and a colon.
   */
  async acquire(client: string, max: number, id: string): Promise<boolean> {
    const key = this.prefix + client;
    const first = await this.redis.bancadaAcquire(key, max, this.ttlMs, id);
    if (first === 1) return true;
    // Only a full client pays for the check, and mostly from the heartbeat's memory.
    const dead = await this.heartbeat.deadAmong(first);
    if (dead.length === 0) return false;
    return (await this.redis.bancadaAcquire(key, max, this.ttlMs, id, ...dead)) === 1;
  }

  async release(client: string, id: string): Promise<void> {
    await this.redis.zrem(this.prefix + client, id);
  }

  /**
   * Extends every lease this instance holds, grouped by client: in one pipeline on one node;
   * on a Cluster, whose pipelines may not span nodes, one script per client, all at once.
   */
  async renew(held: Map<string, Set<string>>): Promise<void> {
    if (held.size === 0) return;
    if (isCluster(this.redis)) {
      await Promise.all(
        [...held].map(([client, ids]) =>
          this.redis.bancadaRenew(this.prefix + client, this.ttlMs, ...ids),
        ),
      );
      return;
    }
    const pipeline = this.redis.pipeline() as ReturnType<Redis['pipeline']> & {
      bancadaRenew(key: string, ttlMs: number, ...ids: string[]): unknown;
    };
    for (const [client, ids] of held)
      pipeline.bancadaRenew(this.prefix + client, this.ttlMs, ...ids);
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }
}
