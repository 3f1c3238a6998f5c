import {
  atMost,
  closeOwnConnection,
  describeRedisError,
  type Logger,
  openOwnConnection,
  type RedisSource,
  ThrottledLog,
  within,
} from '@bancada/internal';
import { decodeEnvelope, type Envelope } from '@bancada/internal/wire';
import type { Redis } from 'ioredis';
import type { HubCounters } from '../counters.js';
import { APPEND_AND_PUBLISH } from './append-script.js';
import type { RedisNames } from './redis-names.js';

/** What the bus tells the hub. */
export interface BusListener {
  /** An envelope on one of our channels, from any instance (this one too) or any service. */
  arrived(envelope: Envelope): void;
  /** Redis was lost: from here on, events of other instances may go by unheard. */
  lost(): void;
  /** Both connections are back and every channel is subscribed again, after an outage. */
  recovered(): void;
}

export interface RedisBusOptions {
  source: RedisSource;
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

/** How many channels one SUBSCRIBE names when (re)subscribing everything. */
const SUBSCRIBE_BATCH = 500;

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
 */
export class RedisBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Room channels that should be subscribed: rooms with a local member. */
  private readonly wanted = new Set<string>();
  private readonly log: ThrottledLog;
  private subscribed = false;
  /** Resolves when the commanding connection is ready again (see commandsReady). */
  private commandsBack: Promise<void> | undefined;
  private wasDegraded = false;
  private closed = false;

  constructor(private readonly o: RedisBusOptions) {
    this.log = new ThrottledLog(o.logger);
    this.pub = openOwnConnection(o.source, { name: 'bancada-realtime-pub' });
    this.sub = openOwnConnection(o.source, {
      name: 'bancada-realtime-sub',
      extra: { autoResubscribe: false }, // it subscribes everything itself on each 'ready'
    });
    for (const [role, connection] of [
      ['publisher', this.pub],
      ['subscriber', this.sub],
    ] as const) {
      connection.on('error', (error: Error) => this.logError(role, error));
      connection.on('close', () => this.noteState(`${role} connection lost`));
    }
    this.pub.on('ready', () => this.noteState());
    this.sub.on('ready', () => void this.subscribeAll());
    this.sub.on('message', (channel: string, text: string) => this.onMessage(channel, text));
  }

  /** True while events cannot cross to other instances. */
  get degraded(): boolean {
    return !(this.pub.status === 'ready' && this.sub.status === 'ready' && this.subscribed);
  }

  /** True while publishes can be sent. */
  get usable(): boolean {
    return (
      !this.closed &&
      this.pub.status === 'ready' &&
      this.pub.commandQueue.length < this.o.maxInFlight
    );
  }

  /** The commanding connection, for reads of the rooms' history. */
  get commands(): Redis {
    return this.pub;
  }

  /** Sends an envelope line to the other instances; never waits, never throws. */
  publish(room: string, line: string): void {
    if (!this.usable) {
      if (!this.closed) this.o.counters.fanoutDropped++;
      return;
    }
    this.pub.publish(this.o.names.channelOf(room), line).catch(() => {
      // Lost with its connection: it may or may not have reached Redis. Never resent, so
      // never delivered twice.
      this.o.counters.fanoutDropped++;
    });
  }

  /**
   * Appends an envelope body to its room's history and publishes it, in one step; resolves
   * its position. Rejects when Redis does not answer within the bound.
   */
  async append(room: string, body: string): Promise<string> {
    const history = this.o.history;
    if (history === undefined) throw new Error('this hub keeps no history');
    const id = await within(
      this.pub.eval(
        APPEND_AND_PUBLISH,
        2,
        this.o.names.historyKeyOf(room),
        this.o.names.channelOf(room),
        history.maxLen,
        history.maxAgeMs,
        body,
      ),
      this.o.timeoutMs,
      `no answer from Redis within ${this.o.timeoutMs} ms`,
    );
    return String(id);
  }

  /** A room got its first local member: receive its channel. */
  follow(room: string): void {
    const channel = this.o.names.channelOf(room);
    this.wanted.add(channel);
    if (this.sub.status === 'ready' && this.subscribed) {
      this.sub.subscribe(channel).catch((error: Error) => this.logError('subscribe', error));
    }
  }

  /** A room lost its last local member: stop receiving its channel. */
  unfollow(room: string): void {
    const channel = this.o.names.channelOf(room);
    if (!this.wanted.delete(channel)) return;
    if (this.sub.status === 'ready' && this.subscribed) {
      this.sub.unsubscribe(channel).catch((error: Error) => this.logError('unsubscribe', error));
    }
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
    await Promise.all([closeOwnConnection(this.pub), closeOwnConnection(this.sub)]);
  }

  /** After every (re)connect of the subscriber: the plain channels and every wanted room. */
  private async subscribeAll(): Promise<void> {
    this.subscribed = false;
    const { broadcastChannel, restaurantChannel } = this.o.names;
    const channels = [broadcastChannel, restaurantChannel, ...this.wanted];
    try {
      for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) {
        await this.sub.subscribe(...channels.slice(i, i + SUBSCRIBE_BATCH));
      }
      // Rooms left meanwhile were subscribed above from the old list: drop them again.
      const stale = channels.filter((c) => this.o.names.isRoomChannel(c) && !this.wanted.has(c));
      if (stale.length > 0) await this.sub.unsubscribe(...stale);
      // Rooms joined meanwhile are not in the list yet.
      const missed = [...this.wanted].filter((c) => !channels.includes(c));
      if (missed.length > 0) await this.sub.subscribe(...missed);
      this.subscribed = true;
    } catch (error) {
      // The connection went away again; its next 'ready' starts over.
      this.logError('subscribe', error as Error);
    }
    this.noteState();
  }

  private onMessage(channel: string, text: string): void {
    const room = this.o.names.roomOf(channel);
    if (room === null) return;
    // Still in flight after the last local client left: nobody here wants it, and noting
    // its number would make the next join look like a loss.
    if (room !== undefined && this.o.names.isRoomChannel(channel) && !this.wanted.has(channel)) {
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
    const message = describeRedisError(error);
    this.log.error(`${where}:${message}`, `realtime: redis ${where} error: ${message}`);
  }
}
