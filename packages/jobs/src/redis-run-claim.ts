import { closeOwnConnection, openOwnClient, type RedisSource } from '@bancada/internal';
import type { Cluster, Redis } from 'ioredis';
import { NOT_HOLDER, type RunClaim } from './run-claim.js';

/**
 * KEYS: the lease, the last run; ARGV: this instance's id, everyMs. Only the holder of the
 * lease may record a run, so a leader whose lease ran out while it stalled records nothing.
 * The time is Redis's, one clock for every instance. A clock that went back (a failover to
 * a server with another clock) delays the next run by one period at most.
 */
const CLAIM = `if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local every = tonumber(ARGV[2])
local last = tonumber(redis.call('get', KEYS[2]))
if last ~= nil and now - last < every then return math.min(every, every - (now - last)) end
redis.call('set', KEYS[2], now, 'PX', every * 2)
return 0`;

export interface RedisRunClaimOptions {
  source: RedisSource;
  keys: { leader: string; last: string };
  id: string;
  everyMs: number;
  /** A claim not answered by then is given up: a run recorded late would be worse than none. */
  commandTimeoutMs: number;
  /** The connection is (again) up: claims can be asked. */
  onReady(): void;
}

/**
 * The last run's start, in Redis (`<prefix>{jobs:<name>}:last`, kept for two periods), so
 * that an instance that takes the lead right after another ran the job waits for the rest
 * of the period instead of running it again.
 */
export class RedisRunClaim implements RunClaim {
  private readonly redis: Redis | Cluster;

  constructor(private readonly o: RedisRunClaimOptions) {
    // Both keys carry the job's hash tag: one slot, so the script runs on a Cluster too.
    this.redis = openOwnClient(o.source, {
      name: 'bancada-jobs',
      extra: { commandTimeout: o.commandTimeoutMs },
    });
    // The lease's own connection logs the outage; a failed claim is logged where it is asked.
    this.redis.on('error', () => {});
    this.redis.on('ready', () => o.onReady());
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  async claim(): Promise<number> {
    const { keys, id, everyMs } = this.o;
    const left = Number(await this.redis.eval(CLAIM, 2, keys.leader, keys.last, id, everyMs));
    return left < 0 ? NOT_HOLDER : left;
  }

  close(): Promise<void> {
    return closeOwnConnection(this.redis);
  }
}
