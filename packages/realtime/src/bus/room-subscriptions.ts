import type { Logger } from '@bancada/internal';
import { sleep, within } from '@bancada/internal';
import type { Cluster, Redis } from 'ioredis';
import type { ClusterWatch } from './cluster-watch.js';
import type { BusListener } from './redis-bus.js';
import type { RedisNames } from './redis-names.js';
import { retryDelayMs, type ShardSubscribers } from './shard-subscribers.js';

/** How many channels one SUBSCRIBE names when (re)subscribing everything. */
const SUBSCRIBE_BATCH = 500;

/** How long a cluster's shard subscription may take before it is tried again. */
const SUBSCRIBE_TIMEOUT_MS = 2000;

export interface RoomSubscriptionsParts {
  /** The bus's subscribing connection. */
  sub: Redis | Cluster;
  /** Only on a cluster: its shard subscribers (rooms are shard channels there). */
  shards: ShardSubscribers | undefined;
  /** Only on a cluster: a master lost and back. */
  watch: ClusterWatch | undefined;
  names: RedisNames;
  logger: Logger;
  listener: Pick<BusListener, 'resubscribing'>;
  logError(where: string, error: Error): void;
  /** The bus's state may have changed (subscribed, or not). */
  noteState(): void;
  /** Connected and subscribed at least once. */
  everUp(): boolean;
  closed(): boolean;
}

/**
 * Which channels the bus's subscriber receives: the broadcast and restaurant channels always,
 * a room's channel while the room has a local member. Subscribes everything again after each
 * (re)connect of one node; on a cluster, where ioredis subscribes shard channels again by
 * itself, follows rooms whose slot moved to another master.
 */
export class RoomSubscriptions {
  /** Room channels that should be subscribed: rooms with a local member. */
  private readonly wanted = new Set<string>();
  /** Rooms being subscribed one by one (see follow): a join waits for its room's. */
  private readonly subscribing = new Map<string, Promise<void>>();
  /** Subscribing every channel after a (re)connect (see subscribeAll). */
  private subscribingAll: Promise<void> | undefined;
  private isSubscribed = false;
  /** On a cluster: the master each room channel was last subscribed on (see followMoves). */
  private readonly subscribedOn = new Map<string, string | undefined>();
  private followingMoves = false;
  /** Failed attempts in a row to follow rooms whose slot moved. */
  private moveFailures = 0;

  /** On a cluster rooms are shard channels, and ioredis subscribes them again itself. */
  private readonly cluster: boolean;

  constructor(private readonly p: RoomSubscriptionsParts) {
    this.cluster = p.shards !== undefined;
  }

  /** Every channel subscribed since the last (re)connect. */
  get subscribed(): boolean {
    return this.isSubscribed;
  }

  /** True while a room's channel should be received (a local member is in the room). */
  wants(channel: string): boolean {
    return this.wanted.has(channel);
  }

  /**
   * A room got its first local member: receive its channel. Resolves once it is subscribed,
   * so that the hub answers a join only when the room's events reach it; at once when Redis
   * is away (the hub tells of what was missed once it is back). Never rejects.
   */
  follow(room: string): Promise<void> {
    const channel = this.p.names.channelOf(room);
    this.wanted.add(channel);
    if (this.p.sub.status !== 'ready') return Promise.resolve();
    // Still subscribing everything after a (re)connect: that takes rooms joined meanwhile.
    if (!this.isSubscribed) return this.subscribingAll ?? Promise.resolve();
    let subscribing = this.subscribing.get(channel);
    if (subscribing === undefined) {
      subscribing = this.subscribeRoom(channel).finally(() => this.subscribing.delete(channel));
      this.subscribing.set(channel, subscribing);
    }
    return subscribing;
  }

  /** One room's channel, tried again while the room is wanted (see untilSubscribed). */
  private subscribeRoom(channel: string): Promise<void> {
    return this.untilSubscribed(
      () => this.subscribeRooms([channel]),
      () => this.wanted.has(channel),
    );
  }

  /**
   * Runs a subscription until it succeeds. On one node a failure means the connection went,
   * and its next 'ready' subscribes everything. A cluster's does not always come (one shard
   * subscriber can fail alone): tried again here, less and less often, while `stillWanted`,
   * with ioredis's shard subscribers rebuilt.
   */
  private async untilSubscribed(
    subscribe: () => Promise<void>,
    stillWanted: () => boolean,
  ): Promise<void> {
    for (let attempt = 0; !this.p.closed() && stillWanted(); attempt++) {
      try {
        await subscribe();
        return;
      } catch (error) {
        this.p.logError('subscribe', error as Error);
        if (this.p.shards === undefined) return;
        this.p.shards.rebuild();
        await sleep(retryDelayMs(attempt));
      }
    }
  }

  /** A room lost its last local member: stop receiving its channel. */
  unfollow(room: string): void {
    const channel = this.p.names.channelOf(room);
    if (!this.wanted.delete(channel)) return;
    if (this.p.sub.status === 'ready' && this.isSubscribed) {
      this.unsubscribeRooms([channel]).catch((error: Error) =>
        this.p.logError('unsubscribe', error),
      );
    }
  }

  /**
   * After every (re)connect of the subscriber: the plain channels and every wanted room. On a
   * cluster only the first time: ioredis subscribes again by itself there.
   */
  startSubscribingAll(): void {
    // A cluster's 'ready' can come again while the first subscribeAll still tries.
    if (this.cluster && this.subscribingAll !== undefined) return;
    const all = this.subscribeAll();
    this.subscribingAll = all;
    void all.finally(() => {
      if (this.subscribingAll === all) this.subscribingAll = undefined;
    });
  }

  private async subscribeAll(): Promise<void> {
    await this.untilSubscribed(
      () => this.subscribeEverything(),
      () => !(this.cluster && this.isSubscribed),
    );
    this.p.noteState();
  }

  private async subscribeEverything(): Promise<void> {
    this.isSubscribed = false;
    const { broadcastChannel, restaurantChannel } = this.p.names;
    const rooms = [...this.wanted];
    await this.p.sub.subscribe(broadcastChannel, restaurantChannel);
    await this.subscribeRooms(rooms);
    // Rooms left meanwhile were subscribed above from the old list: drop them again.
    const stale = rooms.filter((c) => !this.wanted.has(c));
    if (stale.length > 0) await this.unsubscribeRooms(stale);
    // Rooms joined meanwhile are not in the list yet.
    const missed = [...this.wanted].filter((c) => !rooms.includes(c));
    if (missed.length > 0) await this.subscribeRooms(missed);
    if (this.p.watch && !this.p.everUp() && !(await this.p.watch.servesEverySlotWithin(1000))) {
      // A cluster whose slots are not all served answers for some rooms and not others.
      this.p.logger.warn(
        "realtime: the redis cluster does not serve every slot (a master down, or slots not assigned); delivering to this instance's clients only until it does (degraded)",
      );
      this.p.watch.trouble('the cluster does not serve every slot');
    }
    this.isSubscribed = true;
  }

  /**
   * Room channels: plain channels in batches on one node; shard channels on a cluster, one
   * command each (one SSUBSCRIBE names channels of one slot only).
   */
  private async subscribeRooms(channels: string[]): Promise<void> {
    if (this.cluster) {
      await Promise.all(
        channels.map(async (channel) => {
          // A shard subscriber queues commands while it connects, and one that never does
          // would hold them for ever: bounded, so that a failure is tried again.
          await within(
            this.p.sub.ssubscribe(channel),
            SUBSCRIBE_TIMEOUT_MS,
            'SSUBSCRIBE timed out',
          );
          this.subscribedOn.set(channel, this.p.shards?.ownerOf(channel));
        }),
      );
      return;
    }
    for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) {
      await this.p.sub.subscribe(...channels.slice(i, i + SUBSCRIBE_BATCH));
    }
  }

  private async unsubscribeRooms(channels: string[]): Promise<void> {
    if (this.cluster) {
      for (const channel of channels) this.subscribedOn.delete(channel);
      await Promise.all(channels.map((channel) => this.p.sub.sunsubscribe(channel)));
      return;
    }
    await this.p.sub.unsubscribe(...channels);
  }

  /**
   * The subscriber read a new slot map. Rooms whose slot now has another master (a slot
   * moved, a replica took over) are subscribed there; what was published to them meanwhile
   * went by unheard, and the hub holds their live events from now (before the new
   * subscription can deliver one) until it has read that from their history. (ioredis
   * subscribes them again too, but does not say when that is done.)
   */
  async followMoves(): Promise<void> {
    if (this.p.closed() || !this.p.everUp() || this.followingMoves) return;
    this.followingMoves = true;
    try {
      let moved = this.movedRooms();
      while (moved.length > 0 && !this.p.closed()) {
        const subscribed = this.subscribeRooms(moved);
        const rooms = moved.map((c) => this.p.names.roomOf(c)).filter((r) => r != null);
        this.p.listener.resubscribing(rooms, subscribed);
        await subscribed;
        this.p.logger.info(
          `realtime: redis cluster slot map changed; ${moved.length} room(s) subscribed on their new master`,
        );
        moved = this.movedRooms();
      }
      this.moveFailures = 0;
    } catch (error) {
      // The new owner is not there yet (a failover under way): try again shortly.
      this.p.logError('subscribe', error as Error);
      this.p.shards?.rebuild();
      setTimeout(() => void this.followMoves(), retryDelayMs(this.moveFailures++)).unref();
    } finally {
      this.followingMoves = false;
    }
  }

  private movedRooms(): string[] {
    return [...this.wanted].filter((c) => this.subscribedOn.get(c) !== this.p.shards?.ownerOf(c));
  }
}
