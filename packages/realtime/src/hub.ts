import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import {
  checkRoom,
  EVERYONE,
  envelopeOf,
  GAP_EVENT,
  IdMaker,
  parseEnvelope,
  withId,
} from './envelope.js';
import { HubClosedError } from './errors.js';
import { Sequencer } from './gap-counter.js';
import { HistoryStore } from './history.js';
import { type Refusal, refuseRequest, refuseUpgrade } from './http-responses.js';
import { Identity, REAUTH_SLICES } from './identity.js';
import { LogLimiter } from './log-limiter.js';
import { type HubMetrics, registerHubMetrics } from './metrics.js';
import { checkFanout, type ResolvedHubOptions } from './options.js';
import { originAllowed } from './origin.js';
import { Outgoing } from './outgoing.js';
import { restaurantRoom } from './policy.js';
import type { ProtocolError } from './protocol.js';
import { RedisBus } from './redis-bus.js';
import { type Member, Rooms } from './rooms.js';
import { SseClient } from './sse-client.js';
import { compareStreamIds, parseStreamId, type StreamId } from './stream-id.js';
import type { Authenticate, Envelope, FanoutMode, HubEvent, HubStats, Principal } from './types.js';
import { pathOf, UnclaimedUpgrades } from './unclaimed-upgrades.js';
import { CLOSE, WsClient } from './ws-client.js';

/** Options of `hub.sse()`. */
export interface SseOptions {
  /**
   * The rooms of a stream. The default reads the query string: every `room=` parameter,
   * and `restaurantId=<id>` as the room `restaurant:<id>`. Each room is authorized.
   */
  rooms?: (req: IncomingMessage, principal: Principal) => string | string[] | undefined;
}

/** What `attach()` takes. */
export interface AttachOptions {
  /** The URL path that WebSocket upgrades use (exactly: `/ws/` and `/wsx` are not it). @default '/ws' */
  path?: string;
  /**
   * An upgrade to another path is answered 404 at once when the server has no 'upgrade'
   * listener of the app's own; when it has, that listener gets this long to take the socket
   * (answer or close it) before the hub answers 404. Either way a client that hangs up is
   * let go at once: an upgrade nobody takes never holds a socket. Set by the first `attach()`
   * to a server.
   * @default 10_000
   */
  unclaimedTimeoutMs?: number;
}

type Admitted = { principal: Principal; release: () => void };

/** Re-checks of one slice that run at once: a burst must not take every database connection. */
const REAUTH_CONCURRENCY = 8;

/** How long a history call (append, replay, catch-up) waits for Redis before giving up. */
const HISTORY_TIMEOUT_MS = 1000;
/** Rooms remembered as having events that bypassed their history (see `taint`). */
const MAX_TAINTED_ROOMS = 10_000;
/**
 * How far before the moment Redis was seen lost a quiet room's history is looked at: a loss
 * is noticed a little late, and history positions come from Redis's clock, not ours.
 */
const LOSS_MARGIN_MS = 10_000;
/** Own events remembered as delivered without a history position (see `publishWithHistory`). */
const MAX_UNPOSITIONED = 10_000;

const ANONYMOUS: Principal = Object.freeze({ anonymous: true });
/** The slot of a connection when there is no connection gate: nothing to give back. */
const NO_LEASE = () => {};

/**
 * The hub: WebSocket and SSE clients in rooms on this instance, and the Redis bus that
 * carries events to the other instances. Local clients get an event straight from
 * `publish()`; the other instances get it from Redis, and skip their own echoes.
 */
export class Hub {
  readonly instanceId: string;
  private readonly rooms: Rooms;
  private readonly bus: RedisBus | undefined;
  private readonly wss: WebSocketServer;
  private readonly wsClients = new Set<WsClient>();
  private readonly sseClients = new Set<SseClient>();
  private readonly attached: Array<{ server: Server; path: string }> = [];
  private readonly ids = new IdMaker();
  private readonly seqs = new Sequencer();
  private readonly logs = new LogLimiter();
  private readonly heartbeatTimer: NodeJS.Timeout;
  /** `authenticate`, when connections are checked again (`reauthenticateMs`). */
  private readonly recheck: Authenticate | undefined;
  private readonly reauthTimer: NodeJS.Timeout | undefined;
  private reauthTick = 0;
  /** The slice being checked now, if any. */
  private reauthRound: Promise<void> | undefined;
  private readonly metrics: HubMetrics | undefined;
  private readonly history: HistoryStore | undefined;
  /** Rooms with history whose events went out while Redis was away (see `taint`). */
  private readonly tainted = new Set<string>();
  /** The last history position delivered here, per room with history and local clients. */
  private readonly lastDelivered = new Map<string, StreamId>();
  /**
   * Our own events of rooms with history that went out locally because the append timed
   * out (`room\0seq`): the append may still run when Redis answers again, and its echo
   * must not give our clients the same event twice.
   */
  private readonly deliveredWithoutPosition = new Set<string>();
  /** Rooms being caught up from their history; live events of them wait here. */
  private readonly catchingUp = new Map<string, Envelope[]>();
  private mode: FanoutMode;
  /** When Redis was lost (this machine's clock), until the hub has recovered from it. */
  private lostAt: number | undefined;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly counters = {
    published: 0,
    delivered: 0,
    dryRunSkipped: 0,
    deserializeFailures: 0,
    slowConsumerCloses: 0,
    sessionEndCloses: 0,
    upgradesUnclaimed: 0,
    replaysRefused: 0,
  };

  constructor(private readonly o: ResolvedHubOptions) {
    this.instanceId = o.instanceId;
    this.mode = o.fanout;
    this.rooms = new Rooms(
      (room) => this.bus?.follow(room),
      (room) => {
        this.bus?.unfollow(room);
        this.lastDelivered.delete(room);
      },
    );
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxPayloadBytes,
      // Compression would make every frame per client: events are framed once per room.
      perMessageDeflate: false,
      clientTracking: false,
    });
    if (o.redis !== undefined) {
      this.bus = new RedisBus({
        source: o.redis,
        prefix: o.prefix,
        instanceId: o.instanceId,
        maxInFlight: o.maxInFlightPublishes,
        logger: o.logger,
        listener: {
          received: (envelope, missed) => this.received(envelope, missed),
          rejected: (reason, channel) => this.rejected(reason, channel),
          lost: () => {
            this.lostAt ??= Date.now();
          },
          recovered: () => this.recovered(),
        },
      });
      const bus = this.bus;
      if (o.history) {
        this.history = new HistoryStore(
          () => bus.commands,
          o.prefix,
          o.history,
          HISTORY_TIMEOUT_MS,
        );
      }
    }
    this.heartbeatTimer = setInterval(() => this.heartbeat(), o.heartbeatMs);
    this.heartbeatTimer.unref();
    if (o.authenticate !== false && o.reauthenticateMs !== false) {
      this.recheck = o.authenticate;
      this.reauthTimer = setInterval(
        () => void this.reauthenticateSlice(),
        o.reauthenticateMs / REAUTH_SLICES,
      );
      this.reauthTimer.unref();
    }
    this.metrics = o.registry ? registerHubMetrics(o.registry, () => this.stats()) : undefined;
  }

  /**
   * Serves WebSocket upgrades on `path` of this HTTP server. Upgrades to other paths are the
   * app's own 'upgrade' listeners' to take; one that nobody takes is answered 404 and closed
   * (see `AttachOptions.unclaimedTimeoutMs`) and counted in `upgradesUnclaimed`.
   */
  attach(server: Server, options: AttachOptions = {}): this {
    if (this.closing) throw new HubClosedError();
    const path = options.path ?? '/ws';
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new TypeError(`attach() path must start with "/", got ${JSON.stringify(path)}`);
    }
    const timeoutMs = options.unclaimedTimeoutMs ?? 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2_147_483_647) {
      throw new TypeError(
        `attach() unclaimedTimeoutMs must be a whole number of milliseconds, got ${timeoutMs}`,
      );
    }
    UnclaimedUpgrades.attach(
      server,
      {
        path,
        listener: (req, socket, head) => {
          if (pathOf(req) === path) void this.upgrade(req, socket, head);
        },
        onUnclaimed: (why) => {
          this.counters.upgradesUnclaimed++;
          this.logOnce(
            'unclaimed',
            `realtime: answered 404 to a WebSocket upgrade of a path nobody serves (${why}; counted in upgradesUnclaimed)`,
          );
        },
      },
      timeoutMs,
    );
    this.attached.push({ server, path });
    return this;
  }

  /**
   * An Express (or plain `http`) handler that opens a Server-Sent Events stream, with the
   * same origin check, connection gate, authentication and room authorization as WebSocket.
   */
  sse(options: SseOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
    const roomsOf = options.rooms ?? roomsFromQuery;
    return (req, res) => void this.openStream(req, res, roomsOf);
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
    checkRoom(room);
    const { envelope, body } = envelopeOf(
      room,
      event,
      this.instanceId,
      this.ids,
      this.seqs.take(room),
    );
    this.counters.published++;
    const bus = this.mode === 'off' ? undefined : this.bus;
    if (bus && this.hasHistory(room)) {
      if (bus.usable) return this.publishWithHistory(envelope, body);
      this.taint(room);
    }
    // Redis first: the other instances then write to their clients while this one does.
    bus?.publish(room, withId(envelope.id, body));
    this.deliver(envelope);
    return Promise.resolve(envelope);
  }

  /** The rollout switch, at run time: see `HubOptions.fanout`. */
  setFanout(mode: FanoutMode): void {
    checkFanout(mode);
    if (mode === this.mode) return;
    this.o.logger.info(`realtime: fan-out ${this.mode} -> ${mode}`);
    this.mode = mode;
  }

  get fanout(): FanoutMode {
    return this.mode;
  }

  /** Resolves true once Redis is connected and subscribed (at once without Redis). */
  async ready(timeoutMs = 5000): Promise<boolean> {
    return this.bus ? this.bus.ready(timeoutMs) : true;
  }

  stats(): HubStats {
    return {
      instanceId: this.instanceId,
      mode: this.bus ? 'redis' : 'local',
      fanout: this.mode,
      degraded: this.bus?.degraded ?? false,
      connections: { websocket: this.wsClients.size, sse: this.sseClients.size },
      rooms: this.rooms.size,
      ...this.counters,
      pubsubReceived: this.bus?.received ?? 0,
      fanoutDropped: this.bus?.dropped ?? 0,
      fanoutMissed: this.bus?.missed ?? 0,
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
    clearInterval(this.reauthTimer);
    // A check in flight would read a session store the app may close right after us.
    await this.reauthRound;
    const gone = [...this.wsClients].map((client) => {
      const retryAfterMs = this.retryAfterMs();
      client.close(CLOSE.restart, JSON.stringify({ retryAfterMs }), 3000);
      return new Promise<void>((resolve) => {
        if (client.ws.readyState === 3) resolve();
        else client.ws.once('close', () => resolve());
      });
    });
    for (const stream of [...this.sseClients]) stream.end(this.retryAfterMs());
    await Promise.all(gone);
  }

  private async shutdown(): Promise<void> {
    await this.drain();
    // Upgrades were answered 503 during the drain; from here on the server has none of ours.
    for (const { server, path } of this.attached) UnclaimedUpgrades.detach(server, path);
    this.wss.close();
    await this.bus?.close();
    this.metrics?.unregister();
  }

  // --- used by the clients ---------------------------------------------------------------

  get maxBufferedBytes(): number {
    return this.o.maxBufferedBytes;
  }

  get maxBadMessages(): number {
    return this.o.maxBadMessages;
  }

  async join(
    member: Member,
    principal: Principal,
    room: string,
  ): Promise<ProtocolError | undefined> {
    if (member.rooms.has(room)) return undefined;
    const tooMany: ProtocolError = {
      code: 'too_many_rooms',
      message: `at most ${this.o.maxRoomsPerConnection} rooms per connection`,
      room,
    };
    if (member.rooms.size >= this.o.maxRoomsPerConnection) return tooMany;
    let allowed: boolean;
    try {
      allowed = await this.o.authorize(principal, room);
    } catch (error) {
      this.logOnce('authorize', `realtime: authorize failed: ${(error as Error)?.message}`);
      return { code: 'unavailable', message: 'could not check this room now; try again', room };
    }
    if (allowed !== true) {
      return { code: 'forbidden', message: 'not allowed in this room', room };
    }
    if (!this.isConnected(member)) return undefined; // gone while authorizing
    // A check of the session ran meanwhile and changed who this is: ask for that one.
    if (member.identity.principal !== principal) {
      return this.join(member, member.identity.principal, room);
    }
    if (member.rooms.size >= this.o.maxRoomsPerConnection) return tooMany;
    this.rooms.join(member, room);
    return undefined;
  }

  leave(member: Member, room: string): boolean {
    return this.rooms.leave(member, room);
  }

  private isConnected(member: Member): boolean {
    return member instanceof WsClient
      ? this.wsClients.has(member)
      : this.sseClients.has(member as SseClient);
  }

  gone(member: Member): void {
    this.rooms.remove(member);
    if (member instanceof WsClient) this.wsClients.delete(member);
    else this.sseClients.delete(member as SseClient);
    member.lease();
  }

  slow(_member: Member): void {
    this.counters.slowConsumerCloses++;
  }

  /** Replays the room's history after `since` to one member (or tells it of a gap), then lets live events through. */
  async replay(member: Member, room: string, since: string): Promise<void> {
    let last = parseStreamId(since);
    try {
      if (this.history === undefined || !this.hasHistory(room)) {
        member.sendGap(room); // nothing kept to replay from
        return;
      }
      if (!member.held.mayReplay(room, Date.now(), this.history.options.minReplayIntervalMs)) {
        this.counters.replaysRefused++;
        this.logOnce(
          'replay-refused',
          'realtime: a client resumed a room again too soon; answered gap (counted in replaysRefused)',
        );
        last = undefined; // it is told gap: it reloads, then takes every live event
        member.sendGap(room);
        return;
      }
      const { entries, complete, ahead } = await this.readHistory(room, since);
      // A position we never made says nothing of what the client missed, and must not
      // hold back live events until the room gets that far.
      if (ahead) last = undefined;
      if (!complete || ahead) member.sendGap(room);
      for (const entry of entries) {
        if (entry.gap) {
          member.sendGap(room);
        } else {
          const envelope = parseEnvelope(entry.text, room);
          if (typeof envelope !== 'string' && member.sendNow(new Outgoing(envelope))) {
            this.counters.delivered++;
          }
        }
        last = parseStreamId(entry.id);
      }
    } catch (error) {
      this.logOnce('replay', `realtime: could not read history: ${(error as Error)?.message}`);
      member.sendGap(room);
    } finally {
      member.release(room, last);
    }
  }

  // --- delivery ------------------------------------------------------------------------

  private hasHistory(room: string): boolean {
    return this.history !== undefined && room !== EVERYONE && this.history.options.rooms(room);
  }

  /**
   * Appends the event to its room's history and publishes it in one step; every instance,
   * this one included, delivers it when it comes back on the room's channel, so that all
   * of them deliver a room's events in the order of its history.
   */
  private async publishWithHistory(envelope: Envelope, body: string): Promise<Envelope> {
    const bus = this.bus!;
    try {
      envelope.id = await this.history!.append(envelope.room, bus.channelOf(envelope.room), body);
    } catch {
      // Not in the history, and perhaps nowhere else: this instance's clients get it now,
      // and the other instances are told of a gap once Redis answers again.
      bus.dropped++;
      this.taint(envelope.room);
      if (this.deliveredWithoutPosition.size < MAX_UNPOSITIONED) {
        this.deliveredWithoutPosition.add(`${envelope.room}\0${envelope.seq}`);
      }
      this.deliver(envelope);
    }
    return envelope;
  }

  /**
   * Writes the event to this instance's clients of its room, encoded once. An event with a
   * history position is written once: never one at or before the last position delivered.
   */
  private deliver(envelope: Envelope): void {
    const room = envelope.room;
    const members = room === EVERYONE ? this.rooms.everyone : this.rooms.members(room);
    if (members === undefined || members.size === 0) return;
    const position = this.hasHistory(room) ? parseStreamId(envelope.id) : undefined;
    if (position !== undefined) {
      const last = this.lastDelivered.get(room);
      if (last !== undefined && compareStreamIds(position, last) <= 0) return;
      this.lastDelivered.set(room, position);
    }
    const event = new Outgoing(envelope);
    let delivered = 0;
    for (const member of members) if (member.send(event)) delivered++;
    this.counters.delivered += delivered;
    this.metrics?.observeLatency((Date.now() - envelope.ts) / 1000);
  }

  private received(envelope: Envelope, missedBefore: number): void {
    if (this.closing || this.mode === 'off') return;
    const room = envelope.room;
    if (this.mode === 'dry-run') {
      const members = room === EVERYONE ? this.rooms.everyone : this.rooms.members(room);
      this.counters.dryRunSkipped += members?.size ?? 0;
      return;
    }
    const waiting = this.catchingUp.get(room);
    if (waiting !== undefined) {
      waiting.push(envelope);
      return;
    }
    if (missedBefore > 0) {
      if (this.hasHistory(room) && this.lastDelivered.has(room)) {
        // What went missing is in the history: fetch it, then go on from there.
        this.catchingUp.set(room, [envelope]);
        void this.catchUp(room);
        return;
      }
      this.gapTo(room);
    }
    this.arrived(envelope);
  }

  /** An envelope from Redis or from a history, in order: a mark of lost events, or an event. */
  private arrived(envelope: Envelope): void {
    if (
      envelope.origin === this.instanceId &&
      this.deliveredWithoutPosition.delete(`${envelope.room}\0${envelope.seq}`)
    ) {
      return; // a late append of an event our clients already got
    }
    if (envelope.eventType !== GAP_EVENT) {
      this.deliver(envelope);
      return;
    }
    const position = parseStreamId(envelope.id);
    if (position !== undefined) {
      const last = this.lastDelivered.get(envelope.room);
      if (last !== undefined && compareStreamIds(position, last) <= 0) return;
      if (this.rooms.members(envelope.room)) this.lastDelivered.set(envelope.room, position);
    }
    // The instance that lost the events delivered them to its own clients.
    if (envelope.origin !== this.instanceId) this.gapTo(envelope.room);
  }

  /** Fills what this instance missed of a room from its history, then lets live events through. */
  private catchUp(room: string): Promise<void> {
    const last = this.lastDelivered.get(room);
    return this.withLiveEventsHeld(room, async () => {
      if (last === undefined || this.history === undefined) return;
      const { entries, complete } = await this.readHistory(room, `${last[0]}-${last[1]}`);
      if (!complete) this.gapTo(room);
      for (const entry of entries) {
        const envelope = parseEnvelope(entry.text, room);
        if (typeof envelope !== 'string') this.arrived(envelope);
      }
    });
  }

  /**
   * Runs `work` (a read of the room's history) with the room's live events held back, then
   * lets them through in order; positions already delivered are skipped. Its clients get
   * `gap` if the history cannot be read. Holds from the call on, not from the first await.
   */
  private async withLiveEventsHeld(room: string, work: () => Promise<void>): Promise<void> {
    if (!this.catchingUp.has(room)) this.catchingUp.set(room, []);
    try {
      await work();
    } catch (error) {
      this.logOnce('catch-up', `realtime: could not read history: ${(error as Error)?.message}`);
      this.gapTo(room);
    } finally {
      const waiting = this.catchingUp.get(room) ?? [];
      this.catchingUp.delete(room);
      for (const envelope of waiting) this.arrived(envelope);
    }
  }

  /**
   * Reads a room's history after `since`. After an outage the two connections come back
   * apart: the subscriber can deliver an event that shows a hole while the connection that
   * reads the history is still reconnecting. Wait for it (bounded) rather than take a hole
   * that the history can fill for a gap.
   */
  private async readHistory(room: string, since: string): ReturnType<HistoryStore['since']> {
    await this.bus?.commandsReady(HISTORY_TIMEOUT_MS);
    return this.history!.since(room, since);
  }

  /** Tells this instance's clients of the room that some of its events were lost. */
  private gapTo(room: string): void {
    const members = this.rooms.members(room);
    if (members) for (const member of members) member.sendGap(room);
  }

  /**
   * Remembers that events of a room with history went out while Redis was away: they are
   * in no history, and the other instances never got them. Once Redis answers, a mark of
   * the gap goes into the room's history and to every instance.
   */
  private taint(room: string): void {
    if (this.tainted.size < MAX_TAINTED_ROOMS) this.tainted.add(room);
    else this.logOnce('taint', 'realtime: too many rooms lost events to mark them all');
  }

  /** Redis is back: mark the gaps this instance caused, and fill those it suffered. */
  private recovered(): void {
    const bus = this.bus;
    const history = this.history;
    if (bus === undefined || history === undefined || this.closing) return;
    for (const room of [...this.tainted]) {
      this.tainted.delete(room);
      history.markGap(room, bus.channelOf(room), this.instanceId).catch(() => this.taint(room));
    }
    for (const room of this.lastDelivered.keys()) {
      if (!this.catchingUp.has(room)) void this.catchUp(room);
    }
    const lostAt = this.lostAt;
    this.lostAt = undefined;
    for (const room of this.rooms.names()) {
      if (this.hasHistory(room) && !this.lastDelivered.has(room) && !this.catchingUp.has(room)) {
        void this.checkUnheard(room, lostAt);
      }
    }
  }

  /**
   * A room whose clients had no event since they joined has no position to catch up from:
   * they get `gap` if its history changed since Redis was lost (or that cannot be told), and
   * nothing if the room was quiet all along. Live events wait meanwhile, behind any gap.
   */
  private checkUnheard(room: string, lostAt: number | undefined): Promise<void> {
    return this.withLiveEventsHeld(room, async () => {
      if (lostAt === undefined || this.history === undefined) {
        this.gapTo(room);
        return;
      }
      const since = `${lostAt - LOSS_MARGIN_MS}-0`;
      const { entries, complete, exists } = await this.readHistory(room, since);
      if (exists && (entries.length > 0 || !complete)) this.gapTo(room);
    });
  }

  private rejected(reason: string, channel: string): void {
    this.counters.deserializeFailures++;
    this.logOnce(
      `bad:${channel}:${reason}`,
      `realtime: dropped a message on ${channel}: ${reason} (counted in deserializeFailures)`,
    );
  }

  // --- admission -----------------------------------------------------------------------

  /** Origin, connection gate, then authentication: a principal and its slot, or a refusal. */
  private async admit(req: IncomingMessage): Promise<Admitted | Refusal> {
    if (this.draining) {
      return {
        status: 503,
        error: 'shutting_down',
        message: 'This server is restarting; connect again shortly.',
        retryAfter: Math.ceil(this.retryAfterMs() / 1000),
      };
    }
    if (!originAllowed(req, this.o.allowedOrigins)) {
      return { status: 403, error: 'origin_not_allowed', message: 'This origin may not connect.' };
    }
    let release = NO_LEASE;
    const gate = this.o.connectionGate;
    if (gate) {
      let result: Awaited<ReturnType<typeof gate.acquire>>;
      try {
        result = await gate.acquire(req);
      } catch {
        return { status: 503, error: 'unavailable', message: 'Try again shortly.', retryAfter: 1 };
      }
      if ('status' in result) {
        return {
          status: result.status,
          error: result.reason,
          message: 'Too many connections.',
          retryAfter: result.retryAfter,
        };
      }
      let released = false;
      release = () => {
        if (released) return;
        released = true;
        result.release();
      };
    }
    if (this.o.authenticate === false) return { principal: ANONYMOUS, release };
    let principal: Principal | null;
    try {
      principal = await this.o.authenticate(req);
    } catch (error) {
      release();
      this.logOnce('authenticate', `realtime: authenticate failed: ${(error as Error)?.message}`);
      return {
        status: 503,
        error: 'session_unavailable',
        message: 'Sessions cannot be read right now; try again shortly.',
        retryAfter: 2,
      };
    }
    if (principal === null || principal === undefined) {
      release();
      return { status: 401, error: 'unauthenticated', message: 'Log in first.' };
    }
    return { principal, release };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {}); // a client that vanishes mid-handshake is its own business
    // The server keeps half-open sockets: one whose client hangs up while it is being
    // admitted is closed here, or it would wait in CLOSE-WAIT for a slow authenticate.
    const hungUp = () => socket.destroy();
    socket.once('end', hungUp);
    let admitted: Admitted | Refusal;
    try {
      admitted = await this.admit(req);
    } catch (error) {
      this.logOnce('upgrade', `realtime: upgrade failed: ${(error as Error)?.message}`);
      admitted = { status: 500, error: 'internal', message: 'Something went wrong.' };
    }
    socket.off('end', hungUp);
    if ('status' in admitted) {
      refuseUpgrade(socket, admitted);
      return;
    }
    const { principal, release } = admitted;
    if (socket.destroyed) {
      release();
      return;
    }
    // A handshake that fails (ws answers 400 and destroys the socket) must give its slot back.
    socket.once('close', release);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('close', release);
      const client = new WsClient(
        ws,
        this.identityOf(principal, req),
        this,
        this.o.messageQuota?.forConnection(),
        release,
      );
      this.wsClients.add(client);
      this.rooms.add(client);
      if (this.draining)
        client.close(CLOSE.restart, JSON.stringify({ retryAfterMs: this.retryAfterMs() }));
    });
  }

  private async openStream(
    req: IncomingMessage,
    res: ServerResponse,
    roomsOf: NonNullable<SseOptions['rooms']>,
  ): Promise<void> {
    try {
      const admitted = await this.admit(req);
      if ('status' in admitted) {
        refuseRequest(res, admitted);
        return;
      }
      const { principal, release } = admitted;
      const refusal = await this.authorizeStream(req, principal, roomsOf);
      if ('status' in refusal || res.destroyed) {
        release();
        if ('status' in refusal) refuseRequest(res, refusal);
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no', // nginx: pass events through as they come
      });
      req.socket.setNoDelay(true);
      res.write(`retry: ${this.retryAfterMs()}\n\n`);
      const stream = new SseClient(res, this, release, this.identityOf(principal, req));
      this.sseClients.add(stream);
      this.rooms.add(stream);
      if (this.draining) {
        stream.end(this.retryAfterMs()); // admitted just before the drain: sent away as well
        return;
      }
      // A browser that reconnects sends the id of the last event it saw (Last-Event-ID).
      const header = req.headers['last-event-id'];
      const since = typeof header === 'string' && header.length > 0 ? header : undefined;
      for (const room of refusal.rooms) {
        if (since !== undefined) stream.held.hold(room);
        this.rooms.join(stream, room);
      }
      if (since !== undefined) {
        await Promise.all(refusal.rooms.map((room) => this.replay(stream, room, since)));
      }
    } catch (error) {
      this.logOnce('sse', `realtime: SSE request failed: ${(error as Error)?.message}`);
      refuseRequest(res, { status: 500, error: 'internal', message: 'Something went wrong.' });
    }
  }

  private async authorizeStream(
    req: IncomingMessage,
    principal: Principal,
    roomsOf: NonNullable<SseOptions['rooms']>,
  ): Promise<{ rooms: string[] } | Refusal> {
    const given = roomsOf(req, principal);
    const rooms = [...new Set(given === undefined ? [] : Array.isArray(given) ? given : [given])];
    if (rooms.length === 0) {
      return { status: 400, error: 'no_room', message: 'Name a room (?room= or ?restaurantId=).' };
    }
    if (rooms.length > this.o.maxRoomsPerConnection) {
      return { status: 400, error: 'too_many_rooms', message: 'Too many rooms for one stream.' };
    }
    for (const room of rooms) {
      if (typeof room !== 'string' || room.length === 0 || room.length > 256) {
        return { status: 400, error: 'invalid_room', message: 'A room name is not valid.' };
      }
      let allowed: boolean;
      try {
        allowed = await this.o.authorize(principal, room);
      } catch {
        return { status: 503, error: 'unavailable', message: 'Try again shortly.', retryAfter: 2 };
      }
      if (allowed !== true) {
        return { status: 403, error: 'forbidden', message: `Not allowed in room ${room}.` };
      }
    }
    return { rooms };
  }

  private identityOf(principal: Principal, req: IncomingMessage): Identity {
    return new Identity(principal, this.recheck ? req : undefined);
  }

  /** Runs `authenticate` again for one slice of the connections; see `reauthenticateMs`. */
  private async reauthenticateSlice(): Promise<void> {
    // The last slice is still at it (a slow store): this tick is skipped, and its slice
    // comes next, so that no slice is skipped for good.
    if (this.reauthRound) return;
    const slice = this.reauthTick++ % REAUTH_SLICES;
    this.reauthRound = this.checkSlice(slice).finally(() => {
      this.reauthRound = undefined;
    });
    await this.reauthRound;
  }

  private async checkSlice(slice: number): Promise<void> {
    const due: Member[] = [];
    for (const member of [...this.wsClients, ...this.sseClients]) {
      if (member.identity.slice === slice) due.push(member);
    }
    const worker = async () => {
      for (let member = due.pop(); member; member = due.pop()) {
        await this.reauthenticate(member);
      }
    };
    await Promise.all(Array.from({ length: REAUTH_CONCURRENCY }, worker));
  }

  private async reauthenticate(member: Member): Promise<void> {
    const { request } = member.identity;
    if (request === undefined || this.recheck === undefined || !this.isConnected(member)) return;
    let verdict: Principal | 'unauthenticated' | 'forbidden';
    try {
      verdict = await this.stillAdmitted(member, request, this.recheck);
    } catch (error) {
      // The store is away: keep serving, as at any other moment of an outage; check next time.
      this.logOnce(
        'reauthenticate',
        `realtime: could not check a session again: ${(error as Error)?.message}`,
      );
      return;
    }
    if (!this.isConnected(member)) return;
    if (verdict === 'unauthenticated' || verdict === 'forbidden') {
      this.counters.sessionEndCloses++;
      if (member instanceof WsClient) {
        const code = verdict === 'forbidden' ? CLOSE.noLongerAllowed : CLOSE.sessionEnded;
        member.close(code, verdict === 'forbidden' ? 'no longer allowed' : 'session ended');
      } else {
        (member as SseClient).end(this.retryAfterMs()); // its reconnect gets the 401 or 403
      }
      return;
    }
    member.identity.principal = verdict;
  }

  /** The member's principal as its session says now, or why it may no longer be here. */
  private async stillAdmitted(
    member: Member,
    request: IncomingMessage,
    authenticate: Authenticate,
  ): Promise<Principal | 'unauthenticated' | 'forbidden'> {
    const principal = await authenticate(request);
    if (principal === null || principal === undefined) return 'unauthenticated';
    for (const room of member.rooms) {
      if ((await this.o.authorize(principal, room)) !== true) return 'forbidden';
    }
    return principal;
  }

  private heartbeat(): void {
    for (const client of this.wsClients) client.heartbeat();
    for (const stream of this.sseClients) stream.heartbeat();
  }

  /** A reconnect delay in the configured range, different per client. */
  private retryAfterMs(): number {
    const [min, max] = this.o.retryAfterMs;
    return Math.round(min + Math.random() * (max - min));
  }

  private logOnce(topic: string, message: string): void {
    if (this.logs.allow(topic)) this.o.logger.warn(message);
  }
}

function roomsFromQuery(req: IncomingMessage): string[] {
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rooms = params.getAll('room');
  for (const id of params.getAll('restaurantId')) rooms.push(restaurantRoom(id));
  return rooms;
}
