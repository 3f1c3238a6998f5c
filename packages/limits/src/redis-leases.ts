import type { Redis } from 'ioredis';

// Each client key is a sorted set of lease ids scored by their expiry, on Redis's clock (TIME),
// so instances with skewed clocks agree. Expired leases, those of a crashed instance that
// stopped renewing, are swept before every count.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
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

type LeaseRedis = Redis & {
  bancadaAcquire(key: string, max: number, ttlMs: number, id: string): Promise<number>;
  bancadaRenew(key: string, ttlMs: number, ...ids: string[]): Promise<number>;
};

/** Per-client counts shared by every instance, as leases in Redis that their owner renews. */
export class RedisLeases {
  private readonly redis: LeaseRedis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand('bancadaAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    redis.defineCommand('bancadaRenew', { numberOfKeys: 1, lua: RENEW });
    this.redis = redis as LeaseRedis;
  }

  /** Atomically takes a slot under `client` if fewer than `max` are held; false otherwise. */
  async acquire(client: string, max: number, id: string): Promise<boolean> {
    return (await this.redis.bancadaAcquire(this.prefix + client, max, this.ttlMs, id)) === 1;
  }

  async release(client: string, id: string): Promise<void> {
    await this.redis.zrem(this.prefix + client, id);
  }

  /** Extends every lease this instance holds, grouped by client, in one pipeline. */
  async renew(held: Map<string, Set<string>>): Promise<void> {
    if (held.size === 0) return;
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
