import { performance } from 'node:perf_hooks';
import type { LimitsRedis } from './redis-connection.js';
import type { Logger } from './types.js';

/**
 * One key per instance, `<prefix>instance:<tag>`, that the instance keeps alive: while it
 * exists, the instance's slots count; once it has expired, the instance is taken for dead
 * and its slots are swept the next time they stand between a client and a slot.
 *
 * Why a heartbeat rather than a short lease: renewing leases costs one script per client
 * address per renewal, so with 20,000 connections from 20,000 addresses a 5 s lease renewed
 * every 1.7 s is ~12,000 scripts/s on Redis; a heartbeat is one SET per instance per
 * renewal, whatever the number of connections, and the leases keep their long ttl and their
 * slow renewal. Why read it from here and not in the acquire script: a script may only touch
 * the keys it is given, all in one hash slot on a Redis Cluster, and an instance's key cannot
 * share a slot with every client's key. So the script tells which instances hold a full
 * client's slots, this reads their keys one command each, and the script runs again with the
 * dead ones named as plain arguments.
 */
export class InstanceHeartbeat {
  // Other instances last seen alive, and until when (performance.now()) they surely are.
  private readonly aliveUntil = new Map<string, number>();
  private readonly reportedDead = new Set<string>();
  // One read per instance at a time, however many refused clients wait for it.
  private readonly reading = new Map<string, Promise<number>>();

  constructor(
    private readonly redis: LimitsRedis,
    private readonly prefix: string,
    readonly tag: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  /** Says this instance is alive for another ttl. */
  async beat(): Promise<void> {
    await this.redis.set(this.key(this.tag), '1', 'PX', this.ttlMs);
  }

  /** Says this instance is gone (on close), so that nobody waits for its key to expire. */
  async stop(): Promise<void> {
    await this.redis.del(this.key(this.tag));
  }

  /** The instances among `tags` whose key has expired. */
  async deadAmong(tags: string[]): Promise<string[]> {
    const now = performance.now();
    for (const [tag, until] of this.aliveUntil) if (until <= now) this.aliveUntil.delete(tag);
    // A key's remaining ttl is a promise that the instance counts until then: no need to ask
    // again before, however many clients are turned away meanwhile.
    const unknown = tags.filter((tag) => tag !== this.tag && !this.aliveUntil.has(tag));
    const ttls = await Promise.all(unknown.map((tag) => this.ttlOf(tag)));
    const dead: string[] = [];
    unknown.forEach((tag, i) => {
      const ttl = ttls[i]!;
      if (ttl === -2) dead.push(tag);
      // -1, a key with no expiry, is not ours to judge: alive for a ttl, then asked again.
      else this.aliveUntil.set(tag, now + (ttl > 0 ? ttl : this.ttlMs));
    });
    for (const tag of dead) {
      if (this.reportedDead.has(tag)) continue;
      if (this.reportedDead.size >= 1000) this.reportedDead.clear();
      this.reportedDead.add(tag);
      this.logger.warn(
        `limits: instance ${tag} stopped renewing its heartbeat (crashed, or cut off from Redis for over ${this.ttlMs} ms); its slots no longer count`,
      );
    }
    return dead;
  }

  private ttlOf(tag: string): Promise<number> {
    let ttl = this.reading.get(tag);
    if (ttl === undefined) {
      ttl = this.redis.pttl(this.key(tag)).finally(() => this.reading.delete(tag));
      this.reading.set(tag, ttl);
    }
    return ttl;
  }

  private key(tag: string): string {
    return `${this.prefix}instance:${tag}`;
  }
}
