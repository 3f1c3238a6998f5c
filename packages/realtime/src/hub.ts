import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ThrottledLog, topologyOf } from '@bancada/internal';
import { EVERYONE } from '@bancada/internal/wire';
import { Admission } from './admission/admission.js';
import { keepForRecheck } from './admission/kept-request.js';
import { SseDoor, type SseOptions } from './admission/sse-door.js';
import { type AttachOptions, WebSocketDoor } from './admission/websocket-door.js';
import { RedisBus } from './bus/redis-bus.js';
import { RedisNames } from './bus/redis-names.js';
import { HubCounters } from './counters.js';
import { EnvelopeMaker } from './envelopes.js';
import { HubClosedError } from './errors.js';
import { Identity } from './identity.js';
import { reportBuffers } from './members/buffered.js';
import type { Member } from './members/member.js';
import { Members } from './members/members.js';
import { RoomAccess } from './members/room-access.js';
import { Roomless } from './members/roomless.js';
import { WriteBatch } from './members/write-batch.js';
import type { WsMemberHost } from './members/ws-member.js';
import { type HubMetrics, registerHubMetrics } from './metrics.js';
import type { ResolvedHubOptions } from './options.js';
import { checkFanout } from './options-check.js';
import { restaurantRoom } from './policy.js';
import { SessionCheck } from './session-check.js';
import { HistoryReader } from './sync/history.js';
import { Replayer } from './sync/replayer.js';
import { RoomSync } from './sync/room-sync.js';
import { HubTracing } from './tracing/hub-tracing.js';
import type { Envelope, FanoutMode, HubEvent, HubStats, Principal } from './types.js';

export type { AttachOptions, SseOptions };

/** How long a history call (append, replay, catch-up) waits for Redis before giving up. */
const HISTORY_TIMEOUT_MS = 1000;

/**
 * The hub: WebSocket and SSE clients in rooms on this instance, and the Redis bus that
 * carries events to the other instances. A facade over parts with one job each: the doors
 * (admission of WebSocket and SSE clients), the members and their rooms, room
 * synchronisation (the one way in and out of every event), the session re-check, the bus.
 * The path of an event is in docs/architecture.md.
 */
export class Hub {
  readonly instanceId: string;
  private readonly counters = new HubCounters();
  private readonly log: ThrottledLog;
  private readonly members: Members;
  private readonly roomless: Roomless | undefined;
  private readonly bus: RedisBus | undefined;
  private readonly sync: RoomSync;
  private readonly envelopes: EnvelopeMaker;
  private readonly webSockets: WebSocketDoor;
  private readonly streams: SseDoor;
  private readonly sessionCheck: SessionCheck | undefined;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly metrics: HubMetrics | undefined;
  private readonly tracing: HubTracing | undefined;
  private fanoutMode: FanoutMode;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: ResolvedHubOptions) {
    this.instanceId = o.instanceId;
    this.fanoutMode = o.fanout;
    this.log = new ThrottledLog(o.logger);
    this.envelopes = new EnvelopeMaker(o.instanceId);
    this.tracing = HubTracing.open(o.tracing, o.instanceId);
    this.roomless =
      o.roomlessAfterMs === false ? undefined : new Roomless(o.roomlessAfterMs, this.log);
    this.members = new Members(
      (room) => this.bus?.follow(room),
      (room) => {
        this.bus?.unfollow(room);
        this.sync.forget(room);
      },
      this.roomless,
    );
    const cluster = o.redis !== undefined && topologyOf(o.redis).kind === 'cluster';
    const names = new RedisNames(o.prefix, { hashTags: cluster });
    this.bus =
      o.redis === undefined
        ? undefined
        : new RedisBus({
            source: o.redis,
            cluster,
            names,
            instanceId: o.instanceId,
            maxInFlight: o.maxInFlightPublishes,
            history: o.history,
            timeoutMs: HISTORY_TIMEOUT_MS,
            counters: this.counters,
            logger: o.logger,
            listener: {
              arrived: (envelope) => this.sync.arrive(envelope),
              lost: () => this.sync.lost(),
              recovered: () => this.sync.recovered(),
              resubscribing: (rooms, subscribed) => this.sync.resubscribing(rooms, subscribed),
            },
          });
    const bus = this.bus;
    const history =
      bus && o.history
        ? new HistoryReader(
            () => bus.commands,
            (ms) => bus.commandsReady(ms),
            names,
            o.history,
            HISTORY_TIMEOUT_MS,
          )
        : undefined;
    this.metrics = o.registry
      ? registerHubMetrics(
          o.registry,
          () => this.stats(),
          () => reportBuffers(this.members.everyone, o.maxBufferedBytes),
        )
      : undefined;
    this.sync = new RoomSync({
      instanceId: o.instanceId,
      members: this.members,
      bus,
      history,
      counters: this.counters,
      log: this.log,
      fanout: () => this.fanoutMode,
      closing: () => this.closing !== undefined,
      observeLatency: (seconds) => this.metrics?.observeLatency(seconds),
      tracing: this.tracing,
    });
    const replayer = new Replayer(history, this.counters, this.log);
    const access = new RoomAccess(this.members, o.authorize, o.maxRoomsPerConnection, this.log);
    // Each attached path and SSE handler adds its format to these.
    const host: Omit<WsMemberHost, 'format'> = {
      maxBufferedBytes: o.maxBufferedBytes,
      batch: new WriteBatch(o.writeDelayMs),
      maxBadMessages: o.maxBadMessages,
      join: (member, principal, room) => access.join(member, principal, room),
      leave: (member, room) => access.leave(member, room),
      replay: (member, room, since) => replayer.replay(member, room, since),
      gone: (member) => this.gone(member),
      slow: () => {
        this.counters.slowConsumerCloses++;
      },
      ignored: () => {
        this.counters.messagesIgnored++;
      },
    };
    const recheck = o.authenticate !== false && o.reauthenticateMs !== false;
    const door = {
      admission: new Admission({
        authenticate: o.authenticate,
        allowedOrigins: o.allowedOrigins,
        connectionGate: o.connectionGate,
        log: this.log,
        draining: () => this.draining !== undefined,
        retryAfterMs: () => this.retryAfterMs(),
      }),
      members: this.members,
      host,
      access,
      log: this.log,
      // What the re-check reads of the request is kept, and only when it will be read again.
      identityOf: (principal: Principal, req: IncomingMessage) =>
        new Identity(principal, recheck ? keepForRecheck(req) : undefined),
      draining: () => this.draining !== undefined,
      retryAfterMs: () => this.retryAfterMs(),
    };
    this.webSockets = new WebSocketDoor({
      ...door,
      messageQuota: o.messageQuota,
      maxPayloadBytes: o.maxPayloadBytes,
      counters: this.counters,
    });
    this.streams = new SseDoor({ ...door, replayer });
    if (o.authenticate !== false && o.reauthenticateMs !== false) {
      this.sessionCheck = new SessionCheck(
        {
          authenticate: o.authenticate,
          authorize: o.authorize,
          members: this.members,
          counters: this.counters,
          log: this.log,
          retryAfterMs: () => this.retryAfterMs(),
        },
        o.reauthenticateMs,
      );
    }
    this.heartbeatTimer = setInterval(() => {
      for (const member of this.members.everyone) member.heartbeat();
    }, o.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Serves WebSocket upgrades on `path` of this HTTP server, in the hub's protocol or, with
   * `rooms`, `encode`, `decode` and `notices`, in an existing app's own (one call per path:
   * several formats can be served side by side). Upgrades to other paths are the app's own
   * 'upgrade' listeners' to take; one that nobody takes is answered 404 and closed (see
   * `AttachOptions.unclaimedTimeoutMs`) and counted in `upgradesUnclaimed`.
   */
  attach(server: Server, options: AttachOptions = {}): this {
    if (this.closing) throw new HubClosedError();
    this.webSockets.attach(server, options);
    return this;
  }

  /**
   * An Express (or plain `http`) handler that opens a Server-Sent Events stream, with the
   * same origin check, connection gate, authentication and room authorization as WebSocket;
   * its events in the hub's format or, with `encode`, in the app's own.
   */
  sse(options: SseOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
    return this.streams.handler(options);
  }

  /** Sends an event to every client of every instance. */
  broadcast(event: HubEvent): Promise<Envelope> {
    return this.publish(EVERYONE, event);
  }

  /** Sends an event to the clients of one restaurant (room `restaurant:<id>`), on every instance. */
  toRestaurant(restaurantId: string | number, event: HubEvent): Promise<Envelope> {
    return this.publish(restaurantRoom(restaurantId), event);
  }

  /**
   * Sends an event to the clients of a room, on every instance: this instance's clients at
   * once, the others through Redis (as `fanout` allows). Throws a RealtimeArgumentError for
   * a bad room or event. The promise resolves the envelope as sent and never rejects, not
   * even because of Redis, which at worst delays it by a bounded time (an event of a room
   * with history waits for its position in it; without Redis it goes to local clients).
   */
  publish(room: string, event: HubEvent): Promise<Envelope> {
    if (this.closing) throw new HubClosedError();
    const { envelope, body } = this.envelopes.make(room, event, this.tracing?.traceparent());
    return this.sync.publish(envelope, body);
  }

  /** The rollout switch, at run time: see `HubOptions.fanout`. */
  setFanout(mode: FanoutMode): void {
    checkFanout(mode);
    if (mode === this.fanoutMode) return;
    this.o.logger.info(`realtime: fan-out ${this.fanoutMode} -> ${mode}`);
    this.fanoutMode = mode;
  }

  get fanout(): FanoutMode {
    return this.fanoutMode;
  }

  /** Resolves true once Redis is connected and subscribed (at once without Redis). */
  async ready(timeoutMs = 5000): Promise<boolean> {
    return this.bus ? this.bus.ready(timeoutMs) : true;
  }

  stats(): HubStats {
    return {
      instanceId: this.instanceId,
      mode: this.bus ? 'redis' : 'local',
      fanout: this.fanoutMode,
      degraded: this.bus?.degraded ?? false,
      connections: this.members.connections(),
      rooms: this.members.rooms,
      roomless: this.roomless?.count() ?? 0,
      ...this.counters, // every count, by the name it has in HubStats
    };
  }

  /**
   * Stops accepting, tells every WebSocket client to come back later (close 1012 with a
   * JSON reason `{ "retryAfterMs" }`, jittered per client) and every SSE stream likewise
   * (`retry:`), and waits for them to go (at most a few seconds). Publishing still works, so
   * requests in flight can tell the other instances; `close()` then leaves Redis.
   */
  drain(): Promise<void> {
    this.draining ??= this.sendClientsAway();
    return this.draining;
  }

  /** `drain()`, then leaves Redis: publishing afterwards throws a HubClosedError. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async sendClientsAway(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    this.roomless?.close();
    // A check in flight would read a session store the app may close right after us.
    await this.sessionCheck?.stop();
    const members = [...this.members.everyone];
    await Promise.all(members.map((member) => member.sendAway('restart', this.retryAfterMs())));
  }

  private async shutdown(): Promise<void> {
    await this.drain();
    // Upgrades were answered 503 during the drain; from here on the server has none of ours.
    this.webSockets.close();
    await this.bus?.close();
    this.metrics?.unregister();
  }

  /** A member is gone, any way: out of its rooms, its slot given back. */
  private gone(member: Member): void {
    this.members.remove(member);
    member.releaseSlot();
  }

  /** A reconnect delay in the configured range, different per client. */
  private retryAfterMs(): number {
    const [min, max] = this.o.retryAfterMs;
    return Math.round(min + Math.random() * (max - min));
  }
}
