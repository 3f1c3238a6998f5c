import {
  describeTopology,
  type Leadership,
  RedisLease,
  SoleLeadership,
  ThrottledLog,
  topologyOf,
} from '@bancada/internal';
import type pg from 'pg';
import { BridgeTracing } from './bridge-tracing.js';
import { mapNotification } from './mapping.js';
import { registerBridgeMetrics } from './metrics.js';
import {
  type PgBridgeOptions,
  type ResolvedPgBridgeOptions,
  resolvePgBridgeOptions,
} from './options.js';
import { PgListener } from './pg-listener.js';
import type { PgBridgeStats } from './stats.js';

/**
 * Republishes Postgres notifications into the hub. One instance listens at a time (the
 * holder of a leader lease in Redis), so each notification becomes one event, delivered by
 * the hub to the clients of its room on every instance. Notifications are not durable:
 * whatever is sent while no instance listens is lost (see the docs for the outbox).
 */
export class PgBridge {
  readonly instanceId: string;
  private readonly leadership: Leadership;
  private readonly listener: PgListener;
  private readonly log: ThrottledLog;
  private readonly unregister: (() => void) | undefined;
  private readonly tracing = BridgeTracing.open();
  private closing: Promise<void> | undefined;
  private readonly counters = {
    received: 0,
    published: 0,
    skipped: 0,
    malformed: 0,
    fenced: 0,
    failed: 0,
  };

  constructor(private readonly o: ResolvedPgBridgeOptions) {
    this.instanceId = o.instanceId;
    this.log = new ThrottledLog(o.logger);
    this.listener = new PgListener({
      config: o.client,
      channels: [...o.channels.keys()],
      healthCheckMs: o.healthCheckMs,
      id: o.instanceId,
      logger: o.logger,
      onNotification: (message) => this.received(message),
    });
    const events = {
      gained: () => this.listener.start(),
      lost: () => void this.listener.stop(),
    };
    this.leadership =
      o.redis === undefined
        ? new SoleLeadership(o.instanceId, events)
        : new RedisLease({
            source: o.redis,
            key: `${o.prefix}pg-bridge:leader`,
            id: o.instanceId,
            leaseMs: o.leaseMs,
            label: 'pg-bridge:',
            logger: o.logger,
            events,
          });
    this.unregister = o.registry
      ? registerBridgeMetrics(o.registry, () => this.stats())
      : undefined;
    this.leadership.start();
  }

  stats(): PgBridgeStats {
    return {
      instanceId: this.instanceId,
      mode: this.leadership.mode,
      leader: this.leadership.holds(),
      listening: this.listener.listening,
      leaderId: this.leadership.holder,
      ...this.counters,
      connects: this.listener.connects,
    };
  }

  /**
   * Stops listening, gives the lease back (another instance takes over at its next try,
   * within a third of `leaseMs`) and closes the bridge's connections. Close it before the hub.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Stop listening before the lease goes, so the next leader never overlaps with us.
    await this.listener.stop();
    await this.leadership.close();
    this.unregister?.();
  }

  private received(message: pg.Notification): void {
    this.counters.received++;
    // Asked per notification, by the clock: a leader whose lease may have run out must not
    // publish, even if its timers have not caught up yet (a stalled event loop).
    if (this.closing || !this.leadership.holds()) {
      this.counters.fenced++;
      return;
    }
    if (!this.o.channels.has(message.channel)) return; // LISTENed by someone else: not ours
    // The hub's publish, within the notification's span, records it as the event's trace.
    if (this.tracing) {
      this.tracing.within(message.channel, message.payload ?? '', () => this.republish(message));
    } else this.republish(message);
  }

  /** Maps a notification of one of the bridge's channels and publishes it; says what became of it. */
  private republish(message: pg.Notification): 'published' | 'skipped' | 'malformed' | 'failed' {
    const channel = this.o.channels.get(message.channel)!;
    const mapped = mapNotification(channel, message.payload ?? '');
    if (mapped.kind === 'skip') {
      this.counters.skipped++;
      return 'skipped';
    }
    if (mapped.kind === 'malformed') {
      this.malformed(message.channel, mapped.topic, mapped.reason);
      return 'malformed';
    }
    try {
      this.o.hub.publish(mapped.room, mapped.event);
      this.counters.published++;
      return 'published';
    } catch (error) {
      // The hub's own refusal of a bad room or event (@bancada/realtime's RealtimeArgumentError).
      if ((error as { code?: unknown })?.code === 'BANCADA_REALTIME_INVALID_ARGUMENT') {
        this.malformed(
          message.channel,
          'refused',
          `the hub refused the event: ${(error as Error).message}`,
        );
        return 'malformed';
      }
      this.counters.failed++;
      this.log.error(
        `failed:${message.channel}`,
        `pg-bridge: ${this.instanceId}: could not publish a notification of ` +
          `${message.channel}: ${(error as Error)?.message} (counted in failed)`,
      );
      return 'failed';
    }
  }

  private malformed(channel: string, topic: string, reason: string): void {
    this.counters.malformed++;
    // Rate-limited per channel and kind, not per reason: a reason can hold any text.
    this.log.warn(
      `malformed:${channel}:${topic}`,
      `pg-bridge: ${this.instanceId}: dropped a notification on ${channel}: ${reason} ` +
        '(counted in malformed)',
    );
  }
}

/**
 * Creates the Postgres LISTEN/NOTIFY bridge and starts it: with Redis (or `REDIS_URL`) one
 * instance among those that share the lease prefix listens; without, this one does. Logs
 * the mode once.
 *
 * @example
 * const bridge = createPgBridge({
 *   hub,
 *   connectionString: process.env.DATABASE_URL,
 *   channels: {
 *     ticket_updates: (row) => ({
 *       room: `restaurant:${row.restaurant_id}`,
 *       event: { eventType: 'ticket-updated', payload: row },
 *     }),
 *   },
 * });
 * // on shutdown: await bridge.close(); await hub.close();
 */
export function createPgBridge(options: PgBridgeOptions): PgBridge {
  const o = resolvePgBridgeOptions(options);
  const bridge = new PgBridge(o);
  const channels = [...o.channels.keys()].join(', ');
  o.logger.info(
    o.redis === undefined
      ? `pg-bridge: on ${channels}: single instance (no Redis for a leader lease: ` +
          'every instance with a bridge would publish each notification once more)'
      : `pg-bridge: on ${channels}: leader lease ${o.prefix}pg-bridge:leader ` +
          `on ${describeTopology(topologyOf(o.redis))} (one listener among instances), ` +
          `this is ${o.instanceId}`,
  );
  return bridge;
}
