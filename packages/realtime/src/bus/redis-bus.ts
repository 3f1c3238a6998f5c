import {
  atMost,
  closeOwnConnection,
  describeRedisError,
  type Logger,
  openOwnClient,
  openOwnConnection,
  type RedisSource,
  ThrottledLog,
  topologyOf,
  within,
} from '@bancada/internal';
import { decodeEnvelope, type Envelope } from '@bancada/internal/wire';
import type { Cluster, ClusterOptions, Redis } from 'ioredis';
import type { HubCounters } from '../counters.js';
import { appendAndPublish } from './append-script.js';
import { ClusterWatch } from './cluster-watch.js';
import type { RedisNames } from './redis-names.js';
import { RoomSubscriptions } from './room-subscriptions.js';
import { ShardSubscribers } from './shard-subscribers.js';

/** What the bus tells the hub. */
export interface BusListener {
  /** An envelope on one of our channels, from any instance (this one too) or any service. */
  arrived(envelope: Envelope): void;
  /** Redis was lost: from here on, events of other instances may go by unheard. */
  lost(): void;
  /** Both connections are back and every channel is subscribed again, after an outage. */
  recovered(): void;
  /**
   * On a cluster, these rooms' channels are being subscribed on another master (their slot
   * moved): what was published to them meanwhile is in their history once `subscribed`
   * resolves.
   */
  resubscribing(rooms: string[], subscribed: Promise<unknown>): void;
}

export interface RedisBusOptions {
  source: RedisSource;
  /** A Redis Cluster: room channels over sharded pub/sub, names with hash tags. */
  cluster: boolean;
  names: RedisNames;
  instanceId: string;
  maxInFlight: number;
  /** How rooms with history are trimmed (`HubOptions.history`). */
  history: { maxLen: number; maxAgeMs: number } | undefined;
  /** How long an append waits for Redis. */
  timeoutMs: number;
  counters: HubCounters;
  logger: Logger;
  listener: BusListener;
}

/** How often a cluster's slot map is read again, to follow slots that moved. */
const SLOT_MAP_EVERY_MS = 2000;

/**
 * A Cluster client must not send a command again once it may have run: ioredis would resend
 * one whose node closed (after `retryDelayOnFailover`) or said CLUSTERDOWN, and a publish that
 * had gone out before its master died would reach the clients twice. MOVED and TRYAGAIN (the
 * command did not run) are still followed.
 */
const NEVER_RESEND: ClusterOptions = { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 };

/**
 * The hub's side of Redis: one connection commands (publishes, appends, history reads), one
 * subscribes. The broadcast and restaurant channels are always subscribed, so any service
 * can reach clients with a plain PUBLISH; a room's channel only while it has a local member,
 * so an instance receives nothing for rooms it has no client in.
 *
 * While Redis is unreachable the bus is a tripped breaker: publishes are dropped and counted
 * at once, never queued (a queue replayed later arrives late and in a burst, and races the
 * other instances' resubscription). Both connections reconnect by themselves, and the
 * subscriber subscribes every channel again on each reconnect.
 *
 * On a Redis Cluster a room's channel is a shard channel (SSUBSCRIBE, SPUBLISH, on the master
 * of its slot, which also holds its history); the broadcast and restaurant channels stay plain
 * channels, which the cluster carries to every node, so outside publishers keep a plain
 * PUBLISH for them. ioredis keeps the subscriptions across failovers and slot moves (it
 * subscribes again on the new owner); a ClusterWatch reports a lost master and its return.
 * Which channels are subscribed, and when, is RoomSubscriptions' job.
 */
export class RedisBus {
  private readonly pub: Redis | Cluster;
  private readonly sub: Redis | Cluster;
  private readonly appendScript: string;
  /** Only on a cluster: a master lost and back. */
  private readonly watch: ClusterWatch | undefined;
  /**
   * On a cluster, publishes and appends sent and not yet answered (a Cluster has no one
   * command queue; one node's `commandQueue` counts them there).
   */
  private inFlight = 0;
  /** Only on a cluster: its shard subscribers. */
  private readonly shards: ShardSubscribers | undefined;
  /** Each room's last append, settled: the next one reports after it (see `append`). */
  private readonly appendTails = new Map<string, Promise<unknown>>();
  /** What the subscriber receives. */
  private readonly rooms: RoomSubscriptions;
  private readonly log: ThrottledLog;
  /** Resolves when the commanding connection is ready again (see commandsReady). */
  private commandsBack: Promise<void> | undefined;
  private wasDegraded = false;
  /** Connected and subscribed at least once. */
  private everUp = false;
  private closed = false;

  constructor(private readonly o: RedisBusOptions) {
    this.log = new ThrottledLog(o.logger);
    this.appendScript = appendAndPublish(o.cluster ? 'SPUBLISH' : 'PUBLISH');
    if (o.cluster) {
      this.pub = openOwnClient(o.source, { name: 'bancada-realtime-pub' }, NEVER_RESEND);
      // ioredis delivers shard channels only with shardedSubscribers (one connection per
      // master). It subscribes them again on their new owner when it reads a new slot map:
      // after a failover by itself, but a slot moved by a resharding only unsubscribes them
      // (Redis sends SUNSUBSCRIBE). So the map is read every SLOT_MAP_EVERY_MS, and at once
      // when a publish of ours met a moved slot.
      this.sub = openOwnClient(
        o.source,
        { name: 'bancada-realtime-sub' },
        { ...NEVER_RESEND, shardedSubscribers: true, slotsRefreshInterval: SLOT_MAP_EVERY_MS },
      );
      this.shards = new ShardSubscribers(this.sub as Cluster);
      this.pub.on('refresh', () => (this.sub as Cluster).refreshSlotsCache());
      this.sub.on('subscribersReady', () => void this.rooms.followMoves());
      this.watch = new ClusterWatch(this.pub as Cluster, this.sub as Cluster, {
        lost: (reason) => this.noteState(reason),
        back: () => this.noteState(),
      });
      this.sub.on('smessage', (channel: string, text: string) => this.onMessage(channel, text));
      this.pub.once('ready', () => this.logMasters());
    } else {
      this.shards = undefined;
      this.pub = openOwnConnection(o.source, { name: 'bancada-realtime-pub' });
      this.sub = openOwnConnection(o.source, {
        name: 'bancada-realtime-sub',
        extra: { autoResubscribe: false }, // it subscribes everything itself on each 'ready'
      });
    }
    for (const [role, connection] of [
      ['publisher', this.pub],
      ['subscriber', this.sub],
    ] as const) {
      connection.on('error', (error: Error) => this.logError(role, error));
      connection.on('close', () => this.noteState(`${role} connection lost`));
    }
    this.pub.on('ready', () => this.noteState());
    this.rooms = new RoomSubscriptions({
      sub: this.sub,
      shards: this.shards,
      watch: this.watch,
      names: o.names,
      logger: o.logger,
      listener: o.listener,
      logError: (where, error) => this.logError(where, error),
      noteState: () => this.noteState(),
      everUp: () => this.everUp,
      closed: () => this.closed,
    });
    this.sub.on('ready', () => this.rooms.startSubscribingAll());
    this.sub.on('message', (channel: string, text: string) => this.onMessage(channel, text));
  }

  /** True while events cannot cross to other instances. */
  get degraded(): boolean {
    return !(
      this.pub.status === 'ready' &&
      this.sub.status === 'ready' &&
      this.rooms.subscribed &&
      !this.watch?.lost
    );
  }

  /**
   * True while publishes can be sent. On a cluster, not while a master is lost: the breaker
   * trips for every room, as on one node, so that what goes out meanwhile goes to local
   * clients at once and in order, and is marked as a gap once the cluster is whole again.
   */
  get usable(): boolean {
    const inFlight = this.o.cluster ? this.inFlight : (this.pub as Redis).commandQueue.length;
    return (
      !this.closed &&
      this.pub.status === 'ready' &&
      inFlight < this.o.maxInFlight &&
      !this.watch?.lost
    );
  }

  /** The commanding connection, for reads of the rooms' history. */
  get commands(): Redis | Cluster {
    return this.pub;
  }

  /** Sends an envelope line to the other instances; never waits, never throws. */
  publish(room: string, line: string): void {
    if (!this.usable) {
      if (!this.closed) this.o.counters.fanoutDropped++;
      return;
    }
    const channel = this.o.names.channelOf(room);
    const failed = (error: Error) => {
      // Lost with its connection: it may or may not have reached Redis. Never resent, so
      // never delivered twice.
      this.o.counters.fanoutDropped++;
      this.watch?.trouble(`a publish failed: ${describeRedisError(error)}`);
    };
    if (!this.o.cluster) {
      this.pub.publish(channel, line).catch(failed);
      return;
    }
    this.inFlight++;
    const sent = this.o.names.isRoomChannel(channel)
      ? this.pub.spublish(channel, line)
      : this.pub.publish(channel, line);
    sent.then(
      () => this.inFlight--,
      (error: Error) => {
        this.inFlight--;
        failed(error);
      },
    );
  }

  /**
   * Appends an envelope body to its room's history and publishes it, in one step; resolves
   * its position. Rejects when Redis does not answer within the bound. A room's appends
   * settle in the order they were made: on a cluster, when a master dies, the ones in
   * flight fail at different moments, and the hub delivers a failed one to local clients
   * at once.
   */
  async append(room: string, body: string): Promise<string> {
    const history = this.o.history;
    if (history === undefined) throw new Error('this hub keeps no history');
    const sent = this.pub.eval(
      this.appendScript,
      2,
      this.o.names.historyKeyOf(room),
      this.o.names.channelOf(room),
      history.maxLen,
      history.maxAgeMs,
      body,
    );
    const bounded = within(
      sent,
      this.o.timeoutMs,
      `no answer from Redis within ${this.o.timeoutMs} ms`,
    );
    // One node answers in order, and loses everything in flight at once.
    if (!this.o.cluster) return String(await bounded);
    this.inFlight++;
    sent.then(
      () => this.inFlight--,
      (error: Error) => {
        this.inFlight--;
        this.watch?.trouble(`an append failed: ${describeRedisError(error)}`);
      },
    );
    bounded.catch(() => {}); // reported below, perhaps after the previous append settles
    const previous = this.appendTails.get(room);
    const inOrder = previous === undefined ? bounded : previous.then(() => bounded);
    const tail = inOrder.catch(() => {});
    this.appendTails.set(room, tail);
    void tail.then(() => {
      if (this.appendTails.get(room) === tail) this.appendTails.delete(room);
    });
    return String(await inOrder);
  }

  /**
   * A room got its first local member: receive its channel. Resolves once its events reach
   * this instance (see RoomSubscriptions.follow); never rejects.
   */
  follow(room: string): Promise<void> {
    return this.rooms.follow(room);
  }

  /** A room lost its last local member: stop receiving its channel. */
  unfollow(room: string): void {
    this.rooms.unfollow(room);
  }

  /** Waits until both connections are up and subscribed, at most `timeoutMs`. */
  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.degraded && !this.closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return !this.degraded;
  }

  /**
   * Waits until the commanding connection (publishes, history) is up, at most `timeoutMs`;
   * the subscriber does not matter to a history read.
   */
  async commandsReady(timeoutMs: number): Promise<void> {
    const pub = this.pub;
    if (pub.status === 'ready' || this.closed) return;
    // One listener for all the waiters of one reconnect, however many resumes wait.
    this.commandsBack ??= new Promise((resolve) =>
      pub.once('ready', () => {
        this.commandsBack = undefined;
        resolve();
      }),
    );
    await atMost(this.commandsBack, timeoutMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
    await Promise.all([closeOwnConnection(this.pub), closeOwnConnection(this.sub)]);
  }

  /** The start-up line of a cluster, once its masters are known. */
  private logMasters(): void {
    if (this.closed) return;
    const masters = (this.pub as Cluster).nodes('master').length;
    this.o.logger.info(`realtime: redis cluster, ${masters} masters`);
  }

  private onMessage(channel: string, text: string): void {
    const room = this.o.names.roomOf(channel);
    if (room === null) return;
    // Still in flight after the last local client left: nobody here wants it, and noting
    // its number would make the next join look like a loss.
    if (room !== undefined && this.o.names.isRoomChannel(channel) && !this.rooms.wants(channel)) {
      return;
    }
    const envelope = decodeEnvelope(text, room);
    if (typeof envelope === 'string') {
      this.o.counters.deserializeFailures++;
      this.log.warn(
        `bad:${channel}:${envelope}`,
        `realtime: dropped a message on ${channel}: ${envelope} (counted in deserializeFailures)`,
      );
      return;
    }
    if (envelope.origin !== this.o.instanceId) this.o.counters.pubsubReceived++;
    this.o.listener.arrived(envelope);
  }

  /** Logs each change between distributed and degraded once. */
  private noteState(reason?: string): void {
    if (this.closed) return;
    const degraded = this.degraded;
    // A cluster client drops and opens node connections while it settles at start.
    if (this.o.cluster && degraded && !this.everUp) return;
    this.everUp ||= !degraded;
    if (degraded === this.wasDegraded) return;
    // At start both connections come up one after the other: only a loss is news.
    if (degraded && reason === undefined) return;
    this.wasDegraded = degraded;
    if (degraded) {
      this.o.listener.lost();
      this.o.logger.warn(
        `realtime: redis unavailable (${reason}); delivering to this instance's clients only (degraded)`,
      );
    } else {
      this.o.logger.info('realtime: redis is back; fan-out to other instances resumed');
      this.o.listener.recovered();
    }
  }

  private logError(where: string, error: Error): void {
    if (this.closed) return;
    let message = describeRedisError(error);
    // While a cluster client settles at start it closes connections of its own: not news.
    if (this.o.cluster && !this.everUp && /Connection is closed/.test(message)) return;
    const topology = topologyOf(this.o.source);
    if (topology.kind === 'sentinel' && /No such master with that name/i.test(message)) {
      message = `the Sentinels know no master named "${topology.name}" (${message})`;
    }
    // Messages that count attempts or delays are one topic, logged once per interval.
    const topic = `${where}:${message.replace(/\d+/g, '#')}`;
    this.log.error(topic, `realtime: redis ${where} error: ${message}`);
  }
}
