import { closeOwnConnection, type Logger, type RedisSource } from '@bancada/internal';
import type { Redis } from 'ioredis';
import { isReplyError, openConnection } from './redis-connections.js';

const INVALIDATE_CHANNEL = '__redis__:invalidate';

/** What the tracking tells the tier that owns it. */
export interface TrackingEvents {
  /** The subscriber listens (again), under a new connection id: point tracking at it. */
  subscribed(): void;
  /** The subscriber's connection closed: no invalidation can arrive until it is back. */
  disconnected(): void;
  /** These keys (without prefix) changed in Redis; null means every key may have. */
  changed(keys: string[] | null): void;
  error(where: string, error: Error): void;
}

/**
 * Redis's client-side-caching invalidations for one key prefix: a subscriber connection of
 * its own on `__redis__:invalidate`, and the command that points a connection's tracking at
 * it (`CLIENT TRACKING ON REDIRECT <subscriber> BCAST PREFIX <prefix> NOLOOP`). Redis reports
 * every change under the prefix, including writes made outside Bancada, and skips those made
 * by the tracked connection itself (NOLOOP).
 */
export class Tracking {
  /** Redis said no to CLIENT TRACKING (before Redis 6): it stays off. */
  refused = false;
  private readonly subscriber: Redis;
  private subscriberId: string | undefined;

  constructor(
    source: RedisSource,
    timeoutMs: number,
    private readonly fullPrefix: string,
    private readonly logger: Logger,
    private readonly events: TrackingEvents,
  ) {
    // It subscribes itself on every 'ready', after reading its new connection id: an
    // automatic resubscribe would come first and forbid CLIENT ID on that connection.
    const subscriber = openConnection(source, timeoutMs, 'bancada-cache-sub', {
      autoResubscribe: false,
    });
    subscriber.on('ready', () => this.subscribe());
    subscriber.on('close', () => {
      this.subscriberId = undefined;
      events.disconnected();
    });
    subscriber.on('error', (error: Error) => events.error('subscriber', error));
    subscriber.on('messageBuffer', (channel: Buffer, message: unknown) =>
      this.onMessage(channel, message),
    );
    this.subscriber = subscriber;
  }

  close(): Promise<void> {
    return closeOwnConnection(this.subscriber);
  }

  /**
   * Points `client`'s tracking at the subscriber's current connection id; false if tracking
   * cannot be on (no subscriber now, or refused). Throws what is not a refusal.
   */
  async enable(client: Redis): Promise<boolean> {
    if (this.refused || this.subscriberId === undefined) return false;
    // Tracking lives on the connection: after a reconnect it is off, and after the
    // subscriber reconnects it points at a dead id. OFF then ON covers both cases.
    try {
      await client.call('CLIENT', 'TRACKING', 'OFF');
      await client.call(
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        this.subscriberId,
        'BCAST',
        'PREFIX',
        this.fullPrefix,
        'NOLOOP',
      );
      return true;
    } catch (error) {
      if (!isReplyError(error)) throw error;
      this.refused = true;
      this.logger.warn(
        `cache: Redis refused CLIENT TRACKING (${error.message}); the local tier is bypassed ` +
          'while Redis is up, so every read goes to Redis. Redis 6 or later is needed for it.',
      );
      return false;
    }
  }

  private async subscribe(): Promise<void> {
    try {
      const id = await this.subscriber.client('ID');
      await this.subscriber.subscribe(INVALIDATE_CHANNEL);
      this.subscriberId = String(id);
      this.events.subscribed();
    } catch (error) {
      this.events.error('subscriber', error as Error);
      this.subscriber.disconnect(true);
    }
  }

  private onMessage(channel: Buffer, message: unknown): void {
    if (channel.toString() !== INVALIDATE_CHANNEL) return;
    // A null message means FLUSHDB/FLUSHALL, or that Redis evicted its tracking table.
    if (!Array.isArray(message)) {
      this.events.changed(null);
      return;
    }
    const keys: string[] = [];
    for (const raw of message) {
      const key = String(raw);
      if (key.startsWith(this.fullPrefix)) keys.push(key.slice(this.fullPrefix.length));
    }
    this.events.changed(keys);
  }
}
