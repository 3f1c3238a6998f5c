import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Refusal, refuseRequest, type ThrottledLog } from '@bancada/internal';
import { restaurantRoom, roomNameProblem } from '@bancada/internal/wire';
import type { Identity } from '../identity.js';
import type { MemberHost } from '../members/member.js';
import type { Members } from '../members/members.js';
import { SseMember } from '../members/sse-member.js';
import type { Replayer } from '../sync/replayer.js';
import type { Authorize, Principal } from '../types.js';
import type { Admission } from './admission.js';

/** Options of `hub.sse()`. */
export interface SseOptions {
  /**
   * The rooms of a stream. The default reads the query string: every `room=` parameter,
   * and `restaurantId=<id>` as the room `restaurant:<id>`. Each room is authorized.
   */
  rooms?: (req: IncomingMessage, principal: Principal) => string | string[] | undefined;
}

export interface SseDoorParts {
  admission: Admission;
  members: Members;
  host: MemberHost;
  replayer: Replayer;
  authorize: Authorize;
  maxRoomsPerConnection: number;
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
    const roomsOf = options.rooms ?? roomsFromQuery;
    return (req, res) => void this.open(req, res, roomsOf);
  }

  private async open(
    req: IncomingMessage,
    res: ServerResponse,
    roomsOf: NonNullable<SseOptions['rooms']>,
  ): Promise<void> {
    try {
      const admitted = await this.p.admission.admit(req);
      if ('status' in admitted) {
        refuseRequest(res, admitted);
        return;
      }
      const { principal, release } = admitted;
      const refusal = await this.authorizeRooms(req, principal, roomsOf);
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
      res.write(`retry: ${this.p.retryAfterMs()}\n\n`);
      const stream = new SseMember(res, this.p.host, this.p.identityOf(principal, req), release);
      this.p.members.add(stream);
      if (this.p.draining()) {
        // Admitted just before the drain: sent away as well.
        void stream.sendAway('restart', this.p.retryAfterMs());
        return;
      }
      // A browser that reconnects sends the id of the last event it saw (Last-Event-ID).
      const header = req.headers['last-event-id'];
      const since = typeof header === 'string' && header.length > 0 ? header : undefined;
      for (const room of refusal.rooms) {
        if (since !== undefined) stream.holds.hold(room);
        this.p.members.join(stream, room);
      }
      if (since !== undefined) {
        await Promise.all(refusal.rooms.map((room) => this.p.replayer.replay(stream, room, since)));
      }
    } catch (error) {
      this.p.log.warn('sse', `realtime: SSE request failed: ${(error as Error)?.message}`);
      refuseRequest(res, { status: 500, error: 'internal', message: 'Something went wrong.' });
    }
  }

  private async authorizeRooms(
    req: IncomingMessage,
    principal: Principal,
    roomsOf: NonNullable<SseOptions['rooms']>,
  ): Promise<{ rooms: string[] } | Refusal> {
    const given = roomsOf(req, principal);
    const rooms = [...new Set(given === undefined ? [] : Array.isArray(given) ? given : [given])];
    if (rooms.length === 0) {
      return { status: 400, error: 'no_room', message: 'Name a room (?room= or ?restaurantId=).' };
    }
    if (rooms.length > this.p.maxRoomsPerConnection) {
      return { status: 400, error: 'too_many_rooms', message: 'Too many rooms for one stream.' };
    }
    for (const room of rooms) {
      if (roomNameProblem(room) !== undefined) {
        return { status: 400, error: 'invalid_room', message: 'A room name is not valid.' };
      }
      let allowed: boolean;
      try {
        allowed = await this.p.authorize(principal, room);
      } catch {
        return { status: 503, error: 'unavailable', message: 'Try again shortly.', retryAfter: 2 };
      }
      if (allowed !== true) {
        return { status: 403, error: 'forbidden', message: `Not allowed in room ${room}.` };
      }
    }
    return { rooms };
  }
}

function roomsFromQuery(req: IncomingMessage): string[] {
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rooms = params.getAll('room');
  for (const id of params.getAll('restaurantId')) rooms.push(restaurantRoom(id));
  return rooms;
}
