import type { Redis, RedisOptions } from 'ioredis';
import { EVERYONE, parseEnvelope } from './envelope.js';
import { GapCounter } from './gap-counter.js';
import { LogLimiter } from './log-limiter.js';
import { closeOwnConnection, openOwnConnection } from './redis-connection.js';
import type { Envelope, Logger } from './types.js';

/** What the bus tells the hub. */
export interface BusListener {
  /**
   * An event from another instance, or from any service that PUBLISHed an envelope, or our
   * own echo of an event with a history position. `missedBefore`: how many events of its
   * origin in its room never arrived before it.
   */
  received(envelope: Envelope, missedBefore: number): void;
  /** Redis was lost: from here on, events of other instances may go by unheard. */
  lost(): void;
  /** Both connections are back and every channel is subscribed again, after an outage. */
  recovered(): void;
  /** A message on one of our channels that is not a usable envelope. */
  rejected(reason: string, channel: string): void;
}

export interface RedisBusOptions {
  source: string | Redis | RedisOptions;
  prefix: string;
  instanceId: string;
  maxInFlight: number;
  logger: Logger;
  listener: BusListener;
}

/** An envelope line that starts with a history position as its id. */
const HISTORY_POSITION = /^\{"id":"\d+-\d+"/;
/** How many channels one SUBSCRIBE names when (re)subscribing everything. */
const SUBSCRIBE_BATCH = 500;

/**
 * The Redis side of the hub: one connection publishes, one subscribes.
 *
 * Channels: `<prefix>ws:broadcast` (every client) and `<prefix>ws:restaurant` (the envelope
 * names the room) are always subscribed, so any service can reach clients with a plain
 * PUBLISH; each room with a local client also has its own channel `<prefix>ws:room:<room>`,
 * subscribed on the first local join and unsubscribed on the last leave, so an instance
 * receives nothing for rooms it has no client in. Instances publish to room channels.
 *
 * While Redis is unreachable the bus is a tripped breaker: publishes are dropped and
 * counted at once, never queued (a queue replayed later arrives late and in a burst, and
 * races the other instances' resubscription). Both connections reconnect by themselves,
 * and the subscriber subscribes every channel again on each reconnect.
 */
export class RedisBus {
  readonly broadcastChannel: string;
  readonly restaurantChannel: string;
  private readonly roomChannelPrefix: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Room channels that should be subscribed: rooms with a local member. */
  private readonly wanted = new Set<string>();
  private readonly ownSuffix: string;
  private readonly logs = new LogLimiter();
  private subscribed = false;
  /** Resolves when the commanding connection is ready again (see commandsReady). */
  private commandsBack: Promise<void> | undefined;
  private wasDegraded = false;
  private closed = false;
  /** Publishes that could not be sent to the other instances. */
  dropped = 0;
  /** Messages that arrived on our channels (own echoes not counted). */
  received = 0;
  private readonly gaps = new GapCounter();

  constructor(private readonly o: RedisBusOptions) {
    this.broadcastChannel = `${o.prefix}ws:broadcast`;
    this.restaurantChannel = `${o.prefix}ws:restaurant`;
    this.roomChannelPrefix = `${o.prefix}ws:room:`;
    // Envelopes are serialized with origin last: our own echo is recognised without parsing.
    this.ownSuffix = `"origin":${JSON.stringify(o.instanceId)}}`;
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

  /** Events of other instances that never arrived here. */
  get missed(): number {
    return this.gaps.missed;
  }

  /** True while events cannot cross to other instances. */
  get degraded(): boolean {
    return !(this.pub.status === 'ready' && this.sub.status === 'ready' && this.subscribed);
  }

  /** The publishing connection, for commands of the hub's own (history). */
  get commands(): Redis {
    return this.pub;
  }

  /** True while publishes can be sent. */
  get usable(): boolean {
    return (
      !this.closed &&
      this.pub.status === 'ready' &&
      this.pub.commandQueue.length < this.o.maxInFlight
    );
  }

  channelOf(room: string): string {
    return room === EVERYONE ? this.broadcastChannel : this.roomChannelPrefix + room;
  }

  /** Sends an envelope to the other instances; never waits, never throws. */
  publish(room: string, text: string): void {
    if (this.closed) return;
    const pub = this.pub;
    if (pub.status !== 'ready' || pub.commandQueue.length >= this.o.maxInFlight) {
      this.dropped++;
      return;
    }
    pub.publish(this.channelOf(room), text).catch(() => {
      // Lost with its connection: it may or may not have reached Redis. Never resent,
      // so never delivered twice.
      this.dropped++;
    });
  }

  /** A room got its first local member: receive its channel. */
  follow(room: string): void {
    const channel = this.roomChannelPrefix + room;
    this.wanted.add(channel);
    if (this.sub.status === 'ready' && this.subscribed) {
      this.sub.subscribe(channel).catch((error: Error) => this.logError('subscribe', error));
    }
  }

  /** A room lost its last local member: stop receiving its channel. */
  unfollow(room: string): void {
    const channel = this.roomChannelPrefix + room;
    if (!this.wanted.delete(channel)) return;
    this.gaps.forget(room);
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
  commandsReady(timeoutMs: number): Promise<void> {
    const pub = this.pub;
    if (pub.status === 'ready' || this.closed) return Promise.resolve();
    // One listener for all the waiters of one reconnect, however many resumes wait.
    this.commandsBack ??= new Promise((resolve) =>
      pub.once('ready', () => {
        this.commandsBack = undefined;
        resolve();
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    return Promise.race([this.commandsBack, giveUp]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([closeOwnConnection(this.pub), closeOwnConnection(this.sub)]);
  }

  /** After every (re)connect of the subscriber: the plain channels and every wanted room. */
  private async subscribeAll(): Promise<void> {
    this.subscribed = false;
    const channels = [this.broadcastChannel, this.restaurantChannel, ...this.wanted];
    try {
      for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) {
        await this.sub.subscribe(...channels.slice(i, i + SUBSCRIBE_BATCH));
      }
      // Rooms left meanwhile were subscribed above from the old list: drop them again.
      const stale = channels.filter(
        (c) => c.startsWith(this.roomChannelPrefix) && !this.wanted.has(c),
      );
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
    const own = text.endsWith(this.ownSuffix);
    // Our own publish was delivered locally already, unless it has a position in a room's
    // history: those are delivered in stream order, from here, on every instance alike.
    if (own && !HISTORY_POSITION.test(text)) return;
    if (!own) this.received++;
    let room: string | undefined;
    if (channel === this.broadcastChannel) room = EVERYONE;
    else if (channel === this.restaurantChannel) room = undefined;
    else if (channel.startsWith(this.roomChannelPrefix)) {
      // Still in flight after the last local client left: nobody here wants it, and noting
      // its number would make the next join look like a loss.
      if (!this.wanted.has(channel)) return;
      room = channel.slice(this.roomChannelPrefix.length);
    } else return;
    const envelope = parseEnvelope(text, room);
    if (typeof envelope === 'string') {
      this.o.listener.rejected(envelope, channel);
      return;
    }
    let missed = 0;
    if (envelope.origin !== undefined && envelope.seq !== undefined) {
      // Our own echoes only come back for rooms with history, and are this instance's
      // delivery of them: a hole there (echoes lost while resubscribing) must be filled
      // too, but it is not an event another instance failed to get to us.
      missed = this.gaps.note(envelope.room, envelope.origin, envelope.seq, !own);
    }
    this.o.listener.received(envelope, missed);
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
    if (this.closed || !this.logs.allow(`${where}:${error.message}`)) return;
    this.o.logger.error(`realtime: redis ${where} error: ${error.message}`);
  }
}
