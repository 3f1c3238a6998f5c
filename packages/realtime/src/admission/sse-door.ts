import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Refusal, refuseRequest, type ThrottledLog } from '@bancada/internal';
import { restaurantRoom } from '@bancada/internal/wire';
import { RealtimeOptionError } from '../errors.js';
import { checkFormatOptions, type FormatOptions } from '../formats/format-options.js';
import { PathFormat } from '../formats/path-format.js';
import { type SseEvents, sseFormat } from '../formats/sse-events.js';
import type { Identity } from '../identity.js';
import type { MemberHost } from '../members/member.js';
import type { Members } from '../members/members.js';
import type { RoomAccess } from '../members/room-access.js';
import { SseMember } from '../members/sse-member.js';
import type { Replayer } from '../sync/replayer.js';
import type { Principal } from '../types.js';
import type { Admission } from './admission.js';
import { type RoomsOf, roomsOfRequest } from './request-rooms.js';

/** Options of `hub.sse()`. */
export interface SseOptions extends FormatOptions {
  /**
   * The rooms of a stream, each authorized (a refused one answers 403, an invalid one 400,
   * none at all 400). The default reads the query string: every `room=` parameter, and
   * `restaurantId=<id>` as the room `restaurant:<id>`.
   * @default rooms from `?room=` and `?restaurantId=`
   */
  rooms?: RoomsOf;
  /**
   * `'message'` for a browser's plain `EventSource` with `onmessage` (no listener per event
   * type): every message is unnamed (no `event:` line), the hub's JSON in its `data:`, the
   * type inside it: `{ "type": "event", eventType, ... }`, and a gap as
   * `{ "type": "gap", "room" }`. `'named'` names each message after its `eventType` (and
   * `gap`), for `addEventListener(eventType)` and the client SDK. With `encode`, messages are
   * unnamed anyway.
   * @default 'named'
   */
  events?: SseEvents;
}

export interface SseDoorParts {
  admission: Admission;
  members: Members;
  /** The hosts of SSE members share all but their format. */
  host: Omit<MemberHost, 'format'>;
  replayer: Replayer;
  access: RoomAccess;
  log: ThrottledLog;
  identityOf(principal: Principal, req: IncomingMessage): Identity;
  draining(): boolean;
  retryAfterMs(): number;
}

/**
 * Where SSE clients come in: a request through the admission, its rooms authorized all at
 * once (a stream has no way to ask for one later), then a stream that resumes from the
 * `Last-Event-ID` a reconnecting browser sends.
 */
export class SseDoor {
  constructor(private readonly p: SseDoorParts) {}

  handler(options: SseOptions): (req: IncomingMessage, res: ServerResponse) => void {
    if (typeof options !== 'object' || options === null) {
      throw new RealtimeOptionError('sse() takes an options object');
    }
    checkFormatOptions(options, 'sse()');
    if (options.rooms !== undefined && typeof options.rooms !== 'function') {
      throw new RealtimeOptionError('sse() rooms must be a function (req, principal) => room(s)');
    }
    const roomsOf = options.rooms ?? roomsFromQuery;
    const { encode, notices } = sseFormat(options.events, options.encode, options.notices ?? 'hub');
    const host: MemberHost = {
      ...this.p.host,
      format: new PathFormat(encode, undefined, notices, this.p.log),
    };
    return (req, res) => void this.open(req, res, roomsOf, host);
  }

  private async open(
    req: IncomingMessage,
    res: ServerResponse,
    roomsOf: RoomsOf,
    host: MemberHost,
  ): Promise<void> {
    try {
      const admitted = await this.p.admission.admit(req);
      if ('status' in admitted) {
        refuseRequest(res, admitted);
        return;
      }
      const { principal, release } = admitted;
      const rooms = await this.roomsOf(req, principal, roomsOf);
      if ('status' in rooms || res.destroyed) {
        release();
        if ('status' in rooms) refuseRequest(res, rooms);
        return;
      }
      // The head goes out with the first line, once the stream is in its rooms and their
      // events reach this instance: a browser's `open` means nothing published later is missed.
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('X-Accel-Buffering', 'no'); // nginx: pass events through as they come
      req.socket.setNoDelay(true);
      const stream = new SseMember(res, host, this.p.identityOf(principal, req), release);
      this.p.members.add(stream);
      if (this.p.draining()) {
        // Admitted just before the drain: sent away as well.
        void stream.sendAway('restart', this.p.retryAfterMs());
        return;
      }
      // A browser that reconnects sends the id of the last event it saw (Last-Event-ID).
      const header = req.headers['last-event-id'];
      const since = typeof header === 'string' && header.length > 0 ? header : undefined;
      for (const room of rooms) {
        if (since !== undefined) stream.holds.hold(room);
        this.p.members.join(stream, room);
      }
      await Promise.all(rooms.map((room) => this.p.members.followed(room)));
      res.write(`retry: ${this.p.retryAfterMs()}\n\n`);
      if (since !== undefined) {
        await Promise.all(rooms.map((room) => this.p.replayer.replay(stream, room, since)));
      }
    } catch (error) {
      this.p.log.warn('sse', `realtime: SSE request failed: ${(error as Error)?.message}`);
      refuseRequest(res, { status: 500, error: 'internal', message: 'Something went wrong.' });
    }
  }

  /** The stream's rooms, authorized as joins are; a stream must name at least one. */
  private async roomsOf(
    req: IncomingMessage,
    principal: Principal,
    roomsOf: RoomsOf,
  ): Promise<string[] | Refusal> {
    const rooms = await roomsOfRequest(req, principal, roomsOf, this.p.access, this.p.log);
    if (!Array.isArray(rooms) || rooms.length > 0) return rooms;
    return { status: 400, error: 'no_room', message: 'Name a room (?room= or ?restaurantId=).' };
  }
}

function roomsFromQuery(req: IncomingMessage): string[] {
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rooms = params.getAll('room');
  for (const id of params.getAll('restaurantId')) rooms.push(restaurantRoom(id));
  return rooms;
}
