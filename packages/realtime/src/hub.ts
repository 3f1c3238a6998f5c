import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { checkRoom, EVERYONE, envelopeOf, IdMaker } from './envelope.js';
import { HubClosedError } from './errors.js';
import { Sequencer } from './gap-counter.js';
import { type Refusal, refuseRequest, refuseUpgrade } from './http-responses.js';
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
import type { Envelope, FanoutMode, HubEvent, HubStats, Principal } from './types.js';
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
  /** The URL path that WebSocket upgrades use. @default '/ws' */
  path?: string;
}

type Admitted = { principal: Principal; release: () => void };

const ANONYMOUS: Principal = Object.freeze({ anonymous: true });

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
  private readonly releases = new Map<Member, () => void>();
  private readonly attached: Array<{
    server: Server;
    listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  }> = [];
  private readonly ids = new IdMaker();
  private readonly seqs = new Sequencer();
  private readonly logs = new LogLimiter();
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly metrics: HubMetrics | undefined;
  private mode: FanoutMode;
  private closing: Promise<void> | undefined;
  private readonly counters = {
    published: 0,
    delivered: 0,
    dryRunSkipped: 0,
    deserializeFailures: 0,
    slowConsumerCloses: 0,
  };

  constructor(private readonly o: ResolvedHubOptions) {
    this.instanceId = o.instanceId;
    this.mode = o.fanout;
    this.rooms = new Rooms(
      (room) => this.bus?.follow(room),
      (room) => this.bus?.unfollow(room),
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
          received: (envelope) => this.received(envelope),
          rejected: (reason, channel) => this.rejected(reason, channel),
        },
      });
    }
    this.heartbeatTimer = setInterval(() => this.heartbeat(), o.heartbeatMs);
    this.heartbeatTimer.unref();
    this.metrics = o.registry ? registerHubMetrics(o.registry, () => this.stats()) : undefined;
  }

  /** Serves WebSocket upgrades on `path` of this HTTP server; other paths are left alone. */
  attach(server: Server, options: AttachOptions = {}): this {
    const path = options.path ?? '/ws';
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new TypeError(`attach() path must start with "/", got ${JSON.stringify(path)}`);
    }
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req) !== path) return;
      void this.upgrade(req, socket, head);
    };
    server.on('upgrade', listener);
    this.attached.push({ server, listener });
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
  broadcast(event: HubEvent): Envelope {
    return this.publish(EVERYONE, event);
  }

  /** Sends an event to the clients of one restaurant (room `restaurant:<id>`), on every instance. */
  toRestaurant(restaurantId: string | number, event: HubEvent): Envelope {
    return this.publish(restaurantRoom(restaurantId), event);
  }

  /**
   * Sends an event to the clients of a room, on every instance: this instance's clients at
   * once, the others through Redis (as `fanout` allows). Never waits and never throws
   * because of Redis; throws a RealtimeArgumentError for a bad room or event.
   */
  publish(room: string, event: HubEvent): Envelope {
    if (this.closing) throw new HubClosedError();
    checkRoom(room);
    const { envelope, text } = envelopeOf(
      room,
      event,
      this.instanceId,
      this.ids,
      this.seqs.take(room),
    );
    this.counters.published++;
    this.deliver(envelope);
    if (this.bus && this.mode !== 'off') this.bus.publish(room, text);
    return envelope;
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
   * (`retry:`), waits for them to go (at most a few seconds), then leaves Redis.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    for (const { server, listener } of this.attached) server.off('upgrade', listener);
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
    if (!this.releases.has(member)) return undefined; // gone while authorizing
    if (member.rooms.size >= this.o.maxRoomsPerConnection) return tooMany;
    this.rooms.join(member, room);
    return undefined;
  }

  leave(member: Member, room: string): boolean {
    return this.rooms.leave(member, room);
  }

  gone(member: Member): void {
    this.rooms.remove(member);
    if (member instanceof WsClient) this.wsClients.delete(member);
    else this.sseClients.delete(member as SseClient);
    this.releases.get(member)?.();
    this.releases.delete(member);
  }

  slow(_member: Member): void {
    this.counters.slowConsumerCloses++;
  }

  // --- delivery ------------------------------------------------------------------------

  /** Writes the event to this instance's clients of its room, encoded once. */
  private deliver(envelope: Envelope): void {
    const members =
      envelope.room === EVERYONE ? this.rooms.everyone : this.rooms.members(envelope.room);
    if (members === undefined || members.size === 0) return;
    const event = new Outgoing(envelope);
    let delivered = 0;
    for (const member of members) if (member.send(event)) delivered++;
    this.counters.delivered += delivered;
    this.metrics?.observeLatency((Date.now() - envelope.ts) / 1000);
  }

  private received(envelope: Envelope): void {
    if (this.closing || this.mode === 'off') return;
    if (this.mode === 'dry-run') {
      const members =
        envelope.room === EVERYONE ? this.rooms.everyone : this.rooms.members(envelope.room);
      this.counters.dryRunSkipped += members?.size ?? 0;
      return;
    }
    this.deliver(envelope);
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
    if (this.closing) {
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
    let release = () => {};
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
    let admitted: Admitted | Refusal;
    try {
      admitted = await this.admit(req);
    } catch (error) {
      this.logOnce('upgrade', `realtime: upgrade failed: ${(error as Error)?.message}`);
      admitted = { status: 500, error: 'internal', message: 'Something went wrong.' };
    }
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
      const client = new WsClient(ws, principal, this, this.o.messageQuota?.forConnection());
      this.releases.set(client, release);
      this.wsClients.add(client);
      this.rooms.add(client);
      if (this.closing)
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
      const stream = new SseClient(res, this);
      this.releases.set(stream, release);
      this.sseClients.add(stream);
      this.rooms.add(stream);
      for (const room of refusal.rooms) this.rooms.join(stream, room);
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

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function roomsFromQuery(req: IncomingMessage): string[] {
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rooms = params.getAll('room');
  for (const id of params.getAll('restaurantId')) rooms.push(restaurantRoom(id));
  return rooms;
}
