import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { describeRedisError, describeTopology, topologyOf } from '@bancada/internal';
import { clientIp, compileTrust, ipKey } from './client-ip.js';
import { sendRejection } from './http.js';
import { InstanceHeartbeat } from './instance-heartbeat.js';
import { type LimitsMetrics, limitsMetrics } from './metrics.js';
import { type ConnectionLimitOptions, resolveConnectionLimitOptions } from './options.js';
import { isCluster, type LimitsRedis, openRedis, whyDown } from './redis-connection.js';
import { RedisLeases } from './redis-leases.js';
import type { ConnectionGate, Lease, Logger, Rejection, RejectionReason } from './types.js';

/** What `stats()` reports. */
export interface ConnectionLimitStats {
  mode: 'memory' | 'redis';
  /** True while Redis is configured but unreachable and `onRedisError` decides. */
  degraded: boolean;
  /** Connections this instance holds now. */
  active: number;
  /** Distinct clients with at least one connection on this instance. */
  clients: number;
}

/**
 * Limits long-lived connections (WebSocket upgrades, SSE streams): `maxPerIp` per client,
 * across every instance when Redis is there, and `maxTotal` on this instance.
 */
export class ConnectionLimiter implements ConnectionGate {
  private readonly o: ReturnType<typeof resolveConnectionLimitOptions>;
  private readonly trust: ((addr: string, i: number) => boolean) | undefined;
  private readonly redis: LimitsRedis | undefined;
  private readonly ownsRedis: boolean;
  private readonly leases: RedisLeases | undefined;
  private readonly heartbeat: InstanceHeartbeat | undefined;
  private readonly renewTimer: NodeJS.Timeout | undefined;
  private readonly heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly perClient = new Map<string, number>();
  // Leases registered in Redis, by client: what the renewal keeps alive.
  private readonly held = new Map<string, Set<string>>();
  private readonly metrics: LimitsMetrics | undefined;
  private readonly instanceTag = randomBytes(6).toString('hex');
  private nextLease = 0;
  private active = 0;
  private degraded = false;
  /** performance.now() of the last acquire that tried a Cluster while degraded. */
  private lastProbe = 0;
  private closed = false;
  // Until Redis has answered once, an acquire waits (briefly) for it rather than falling back.
  private firstConnection: Promise<void> | undefined;
  private readonly onReady = () => {
    this.setDegraded(false);
    this.beat();
    this.renew();
  };

  constructor(options: ConnectionLimitOptions = {}) {
    this.o = resolveConnectionLimitOptions(options);
    this.trust = this.o.trustProxy === undefined ? undefined : compileTrust(this.o.trustProxy);
    if (this.o.redis !== undefined) {
      const { client, owned } = openRedis(this.o.redis);
      this.redis = client;
      this.ownsRedis = owned;
      this.heartbeat = new InstanceHeartbeat(
        client,
        this.o.prefix,
        this.instanceTag,
        this.o.heartbeatTtlMs,
        this.o.logger,
      );
      this.leases = new RedisLeases(
        client,
        `${this.o.prefix}ip:`,
        this.o.leaseTtlMs,
        this.heartbeat,
      );
      // The heartbeat goes first, at start and after every reconnect (registered before the
      // first acquire waits for 'ready'): leases put in Redis by an instance whose heartbeat
      // is not there yet would look dead to the others. Renewing at once heals a restarted
      // Redis that lost every lease.
      client.on('ready', this.onReady);
      if (client.status === 'ready') this.beat();
      this.firstConnection =
        client.status === 'ready' ? undefined : waitForReady(client, STARTUP_WAIT_MS);
      this.heartbeatTimer = setInterval(() => this.beat(), Math.floor(this.o.heartbeatTtlMs / 3));
      this.heartbeatTimer.unref();
      this.renewTimer = setInterval(() => this.renew(), Math.floor(this.o.leaseTtlMs / 3));
      this.renewTimer.unref();
      this.o.logger.info(
        `limits: ${describeTopology(topologyOf(this.o.redis))} (per-IP limit of ${this.o.maxPerIp} shared by every instance)`,
      );
    } else {
      this.ownsRedis = false;
      this.o.logger.info(
        `limits: memory (per-IP limit of ${this.o.maxPerIp} counted per instance)`,
      );
    }
    this.metrics = this.o.registry
      ? limitsMetrics(this.o.registry, this.o.name, () => this.stats())
      : undefined;
  }

  async acquire(req: IncomingMessage): Promise<Lease | Rejection> {
    if (this.closed) return this.reject('unavailable');
    const client = ipKey(clientIp(req, this.trust), this.o.ipv6Subnet);
    if (this.active >= this.o.maxTotal) return this.reject('total');
    // Reserve the slot before any await, so concurrent acquires cannot overshoot maxTotal.
    this.active++;
    const id = `${this.instanceTag}:${++this.nextLease}`;
    let allowed: boolean;
    let inRedis = false;
    try {
      const shared = await this.acquireShared(client, id);
      allowed = shared ?? this.acquireLocal(client);
      inRedis = shared === true;
      if (shared === undefined && this.o.onRedisError === 'closed') {
        this.active--;
        return this.reject('unavailable');
      }
    } catch (error) {
      this.active--;
      throw error;
    }
    if (!allowed) {
      this.active--;
      return this.reject('per-ip');
    }
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    if (inRedis) addTo(this.held, client, id);
    return this.lease(client, id, inRedis);
  }

  /**
   * Express middleware for a long-lived route (an SSE stream): turns the request away with
   * 429/503, `Retry-After` and a JSON body, or holds a slot until the response closes.
   */
  middleware() {
    return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      this.acquire(req).then((result) => {
        if ('status' in result) return sendRejection(res, result);
        if (res.destroyed || req.destroyed) {
          result.release();
          return;
        }
        res.once('close', () => result.release());
        next();
      }, next);
    };
  }

  stats(): ConnectionLimitStats {
    return {
      mode: this.redis ? 'redis' : 'memory',
      degraded: this.degraded,
      active: this.active,
      clients: this.perClient.size,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewTimer);
    clearInterval(this.heartbeatTimer);
    // A caller's client outlives the limiter.
    this.redis?.off('ready', this.onReady);
    this.metrics?.unregister();
    const held = [...this.held].flatMap(([client, ids]) => [...ids].map((id) => [client, id]));
    this.held.clear();
    if (this.leases && this.redis?.status === 'ready') {
      await Promise.all(
        held.map(([client, id]) => this.leases!.release(client!, id!).catch(() => {})),
      );
      await this.heartbeat?.stop().catch(() => {});
    }
    if (this.ownsRedis) this.redis?.disconnect();
  }

  /** The shared verdict, or undefined when Redis could not give one. */
  private async acquireShared(client: string, id: string): Promise<boolean | undefined> {
    if (this.leases === undefined || this.redis === undefined) return undefined;
    if (this.firstConnection) {
      await this.firstConnection;
      this.firstConnection = undefined;
    }
    if (this.redis.status !== 'ready' || this.skipsRedis()) {
      this.setDegraded(true, whyDown(this.redis));
      return this.o.onRedisError === 'open' ? true : undefined;
    }
    try {
      const allowed = await this.leases.acquire(client, this.o.maxPerIp, id);
      this.setDegraded(false);
      return allowed;
    } catch (error) {
      this.setDegraded(true, describeRedisError(error));
      return this.o.onRedisError === 'open' ? true : undefined;
    }
  }

  /**
   * A Cluster stays 'ready' while one of its masters fails over, and each command for that
   * master waits for its timeout: while degraded there, one acquire a second tries Redis and
   * the others count here at once, as they do while a single Redis is disconnected.
   */
  private skipsRedis(): boolean {
    if (!this.degraded || !isCluster(this.redis!)) return false;
    const now = performance.now();
    if (now - this.lastProbe < CLUSTER_PROBE_MS) return true;
    this.lastProbe = now;
    return false;
  }

  private acquireLocal(client: string): boolean {
    return (this.perClient.get(client) ?? 0) < this.o.maxPerIp;
  }

  private lease(client: string, id: string, inRedis: boolean): Lease {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.active--;
        const left = (this.perClient.get(client) ?? 1) - 1;
        if (left > 0) this.perClient.set(client, left);
        else this.perClient.delete(client);
        if (inRedis && removeFrom(this.held, client, id) && this.redis?.status === 'ready') {
          // If this fails the lease simply expires within leaseTtlMs.
          this.leases!.release(client, id).catch(() => {});
        }
      },
    };
  }

  private beat(): void {
    if (this.heartbeat === undefined || this.redis?.status !== 'ready') return;
    // A missed beat is not an outage: the next one comes well before the key expires, and
    // an outage shows in the acquires and renewals.
    this.heartbeat.beat().catch(() => {});
  }

  private renew(): void {
    if (this.leases === undefined || this.redis?.status !== 'ready') return;
    this.leases.renew(this.held).then(
      () => this.setDegraded(false),
      (error: Error) => this.setDegraded(true, describeRedisError(error)),
    );
  }

  private reject(reason: RejectionReason): Rejection {
    this.metrics?.rejected(reason);
    return {
      status: reason === 'per-ip' ? 429 : 503,
      reason,
      retryAfter: this.o.retryAfterSeconds,
    };
  }

  private setDegraded(degraded: boolean, why?: string): void {
    if (degraded === this.degraded || this.closed) return;
    this.degraded = degraded;
    if (degraded) this.lastProbe = performance.now();
    const logger: Logger = this.o.logger;
    if (degraded) {
      const fallback = {
        local: `counting per instance (up to ${this.o.maxPerIp} per IP on each)`,
        open: 'letting connections through with no per-IP limit',
        closed: 'turning connections away with 503',
      }[this.o.onRedisError];
      logger.warn(`limits: redis unavailable (${why}); ${fallback} until it is back (degraded)`);
    } else {
      logger.info('limits: redis is back; per-IP limit shared again');
    }
  }
}

/** While degraded on a Cluster, how often an acquire tries Redis again. */
const CLUSTER_PROBE_MS = 1000;

/** How long acquires wait for Redis's first connection before counting locally. */
const STARTUP_WAIT_MS = 1000;

function waitForReady(client: LimitsRedis, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Creates a connection limiter; see ConnectionLimitOptions. */
export function connectionLimit(options?: ConnectionLimitOptions): ConnectionLimiter {
  return new ConnectionLimiter(options);
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

function removeFrom(map: Map<string, Set<string>>, key: string, value: string): boolean {
  const set = map.get(key);
  if (set === undefined || !set.delete(value)) return false;
  if (set.size === 0) map.delete(key);
  return true;
}
