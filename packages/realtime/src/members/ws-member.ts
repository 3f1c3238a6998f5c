import type { Socket } from 'node:net';
import {
  type ClientRequest,
  CloseCode,
  type HubNotice,
  notice,
  type ProtocolError,
} from '@bancada/internal/wire';
import type { RawData, WebSocket } from 'ws';
import type { Identity } from '../identity.js';
import type { Principal } from '../types.js';
import type { AwayReason, Member, MemberHost } from './member.js';
import type { Outgoing } from './outgoing.js';
import { ReplayHolds } from './replay-holds.js';
import { RequestTurns } from './request-turns.js';
import { UnansweredJoins } from './unanswered-joins.js';
import { type Batched, MAX_BATCH_BYTES } from './write-batch.js';

/** What a WebSocket client asks of the hub: its rooms. */
export interface WsMemberHost extends MemberHost {
  readonly maxBadMessages: number;
  /** Authorizes and joins; resolves the error to send, or undefined once joined. */
  join(member: Member, principal: Principal, room: string): Promise<ProtocolError | undefined>;
  leave(member: Member, room: string): boolean;
  /** Replays the room's history after `since` to the member (or a gap), then ends its hold. */
  replay(member: Member, room: string, since: string): Promise<void>;
  /** A message its path's decoder made nothing of, on purpose. */
  ignored(): void;
}

/** The parts of ws's WebSocket this file uses beyond the typed API (see `write`). */
interface WsInternals {
  _socket: Socket | null;
  _sender: { _bufferedBytes: number } | undefined;
}

const ignore = () => {};

/** Requests of one client that may wait behind one being answered (a join waiting for Redis). */
const MAX_WAITING_REQUESTS = 100;

/** An empty ping, as a server sends it (unmasked): the same bytes for every socket. */
const PING_FRAME = Buffer.from([0x89, 0x00]);

/**
 * Each socket's listeners are these shared functions, which find their member on the socket
 * (an EventEmitter calls a listener with the emitter as `this`), rather than closures made
 * per connection: three fewer objects for each of many thousand idle connections.
 */
const MEMBER = Symbol('bancada.wsMember');
type OwnedSocket = WebSocket & { [MEMBER]: WsMember };
function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  void (this as OwnedSocket)[MEMBER].received(data, isBinary);
}
function onPong(this: WebSocket): void {
  (this as OwnedSocket)[MEMBER].answered();
}
function onClose(this: WebSocket): void {
  (this as OwnedSocket)[MEMBER].closed();
}

const AWAY: Record<Exclude<AwayReason, 'restart'>, [code: number, reason: string]> = {
  'session-ended': [CloseCode.sessionEnded, 'session ended'],
  'no-longer-allowed': [CloseCode.noLongerAllowed, 'no longer allowed'],
};

/**
 * One WebSocket client: its requests (join, resume, leave, ping), its message budget, its
 * heartbeat, and the fast path that writes a frame built once per room to its socket.
 */
export class WsMember implements Member, Batched {
  readonly transport = 'websocket' as const;
  readonly rooms = new Set<string>();
  private replayHolds: ReplayHolds | undefined;
  /** Rooms joined and not yet answered `joined`: made per join, dropped after. */
  private unanswered: UnansweredJoins | undefined;
  /** Made on the first message: most connections send a few. */
  private turns: RequestTurns | undefined;
  /** Answered the last ping (or said anything) since the previous heartbeat. */
  private alive = true;
  private bad = 0;
  private open = true;
  /** Its socket is corked until the batch flushes: this turn's frames go out in one write. */
  private corked = false;
  private readonly internals: WsInternals;

  constructor(
    private readonly ws: WebSocket,
    readonly identity: Identity,
    private readonly host: WsMemberHost,
    private readonly budget: { take(): 'ok' | 'over' | 'close' } | undefined,
    readonly releaseSlot: () => void,
  ) {
    this.internals = ws as unknown as WsInternals;
    (ws as OwnedSocket)[MEMBER] = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', ignore); // a protocol error closes the socket; 'close' cleans up
    ws.on('close', onClose); // comes once; `once` would cost a wrapper per connection
  }

  /** The client answered a ping. (Called by the socket's shared listener.) */
  answered(): void {
    this.alive = true;
  }

  /** The socket closed, any way. (Called by the socket's shared listener.) */
  closed(): void {
    this.left();
  }

  /** Made on the first resume: most connections never need one. */
  get holds(): ReplayHolds {
    this.replayHolds ??= new ReplayHolds();
    return this.replayHolds;
  }

  get replaying(): ReplayHolds | undefined {
    return this.replayHolds;
  }

  /**
   * With permessage-deflate off (the hub's setting) and nothing queued in ws's sender, a
   * frame is just bytes on the socket, so the frame built once for the room (in the format
   * of this member's path) is written as is; otherwise it goes through ws.send(). The
   * socket stays corked until the batch flushes, so that the frames of one turn (each its
   * own WebSocket message) leave in one write; a batch that reaches MAX_BATCH_BYTES goes at once.
   */
  write(event: Outgoing): boolean {
    if (!this.open) return false;
    if (this.unanswered?.keep(event)) return true;
    const socket = this.internals._socket;
    if (socket === null || this.ws.readyState !== 1) return false;
    const encoded = event.in(this.host.format);
    if (encoded === null) return false;
    if (socket.writableLength > this.host.maxBufferedBytes) {
      this.closeAsSlow();
      return false;
    }
    // A socket with a batch's worth unsent already is written through: the kernel is not
    // taking its bytes, and Node gathers what waits behind a pending write by itself.
    if (!this.corked && socket.writableLength < MAX_BATCH_BYTES) {
      socket.cork();
      this.corked = true;
      this.host.batch.add(this);
    }
    if (this.internals._sender?._bufferedBytes === 0) socket.write(encoded.websocketFrame);
    else this.ws.send(encoded.text);
    if (this.corked && socket.writableLength >= MAX_BATCH_BYTES) this.flush();
    return true;
  }

  get bufferedBytes(): number {
    return (
      (this.internals._socket?.writableLength ?? 0) + (this.internals._sender?._bufferedBytes ?? 0)
    );
  }

  /** Writes the frames held back (a socket closed meanwhile takes uncork as a no-op). */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.internals._socket?.uncork();
  }

  sendGap(room: string): void {
    this.tell(notice.gap(room));
  }

  /** Sends one of the hub's notices, as the member's path has them (or not at all). */
  tell(n: HubNotice): void {
    if (!this.open || this.ws.readyState !== 1) return;
    const text = this.host.format.notice(n);
    if (text !== undefined) this.ws.send(text);
  }

  /** Terminates a client that did not answer the previous ping. */
  heartbeat(): void {
    if (!this.open) return;
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    // As events go: the frame as is, when ws's sender has nothing queued (a heartbeat pings
    // every connection at once, so what each ping costs counts).
    const socket = this.internals._socket;
    if (
      socket !== null &&
      this.ws.readyState === 1 &&
      this.internals._sender?._bufferedBytes === 0
    ) {
      socket.write(PING_FRAME);
    } else {
      this.ws.ping();
    }
  }

  sendAway(reason: AwayReason, retryAfterMs: number): Promise<void> {
    // Made here rather than kept from the start: most connections are never sent away.
    const closed =
      this.ws.readyState === 3
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    if (reason === 'restart') {
      this.close(CloseCode.restart, JSON.stringify({ retryAfterMs }), 3000);
    } else {
      this.close(...AWAY[reason]);
    }
    return closed;
  }

  /** Closes with `code` and a reason; terminates if the close handshake does not end soon. */
  private close(code: number, reason: string, graceMs = 2000): void {
    if (this.ws.readyState >= 2) return;
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), graceMs).unref();
  }

  private closeAsSlow(): void {
    // Stop writing at once: nothing more may pile up behind a client that does not read.
    this.left();
    this.host.slow(this);
    this.close(CloseCode.tryAgainLater, 'slow consumer', 1000);
  }

  private left(): void {
    if (!this.open) return;
    this.open = false;
    this.host.gone(this);
  }

  /** A message from the client. (Called by the socket's shared listener.) */
  async received(data: RawData, isBinary: boolean): Promise<void> {
    this.alive = true;
    if (!this.open) return;
    // Answers go out in the order the requests came, though a join may wait for Redis (at
    // most a few seconds): what a client sends meanwhile waits, up to a bound.
    this.turns ??= new RequestTurns(MAX_WAITING_REQUESTS);
    const answered = this.turns.take(() => this.answer(data, isBinary));
    if (answered === undefined) {
      this.tell(notice.error({ code: 'rate_limited', message: 'too many requests unanswered' }));
      return;
    }
    await answered;
  }

  private async answer(data: RawData, isBinary: boolean): Promise<void> {
    if (!this.open) return;
    const verdict = this.budget?.take() ?? 'ok';
    if (verdict === 'close') {
      this.close(CloseCode.policy, 'message quota exceeded');
      return;
    }
    if (verdict === 'over') {
      this.tell(notice.error({ code: 'rate_limited', message: 'too many messages; slow down' }));
      return;
    }
    if (isBinary) {
      this.refuse({ code: 'binary_not_supported', message: 'send JSON text frames' });
      return;
    }
    const reading = this.host.format.read(data.toString());
    if (reading === null) {
      this.host.ignored();
    } else if (Array.isArray(reading)) {
      for (const request of reading) if (this.open) await this.serve(request);
    } else if ('code' in reading) {
      this.refuse(reading);
    } else {
      await this.serve(reading);
    }
  }

  private async serve(request: ClientRequest): Promise<void> {
    switch (request.type) {
      case 'ping':
        this.tell(notice.pong());
        return;
      case 'leave':
        this.host.leave(this, request.room);
        this.tell(notice.left(request.room));
        return;
      case 'join':
      case 'resume': {
        const { room } = request;
        // Live events of the room wait from now until the replay is done.
        if (request.type === 'resume') this.holds.hold(room);
        this.joining(room);
        const error = await this.host.join(this, this.identity.principal, room);
        if (error !== undefined) {
          this.takeUnanswered(room);
          this.replayHolds?.drop(room);
          if (error.code === 'unavailable') this.tell(notice.error(error));
          else this.refuse(error);
          return;
        }
        this.answerJoined(room);
        if (request.type === 'resume') await this.host.replay(this, room, request.since);
      }
    }
  }

  /** The client asked for `room`: its events wait until `answerJoined`. */
  joining(room: string): void {
    this.unanswered ??= new UnansweredJoins();
    this.unanswered.hold(room);
  }

  /** Tells the client `joined` (unless it left meanwhile), then what of the room arrived. */
  answerJoined(room: string): void {
    const waited = this.takeUnanswered(room);
    if (!this.rooms.has(room)) return; // left meanwhile
    this.tell(notice.joined(room));
    for (const event of waited) this.write(event);
  }

  /** What of `room` waited for its `joined`; the room waits no more. */
  private takeUnanswered(room: string): Outgoing[] {
    const waited = this.unanswered?.take(room) ?? [];
    if (this.unanswered?.empty) this.unanswered = undefined;
    return waited;
  }

  /** Answers a bad request; a client that keeps sending them is closed (1008). */
  private refuse(error: ProtocolError): void {
    this.bad++;
    if (this.bad > this.host.maxBadMessages) {
      this.close(CloseCode.policy, 'too many bad messages');
      return;
    }
    this.tell(notice.error(error));
  }
}
