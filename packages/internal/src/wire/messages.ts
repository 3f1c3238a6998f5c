import { restaurantRoom, roomNameProblem } from './rooms.js';

/** What a client may send, as the `type` of a JSON text frame. */
export const RequestType = {
  /** The original app's join: `{ type: 'auth', restaurantId }` joins `restaurant:<id>`. */
  auth: 'auth',
  subscribe: 'subscribe',
  /** A join that first replays what came after `since` (the id of the last event seen). */
  resume: 'resume',
  unsubscribe: 'unsubscribe',
  ping: 'ping',
} as const;

/** What the hub sends, as the `type` of a JSON text frame (SSE: the data of a message). */
export const ReplyType = {
  event: 'event',
  /** Events of `room` were lost: reload what is shown of it. */
  gap: 'gap',
  joined: 'joined',
  left: 'left',
  pong: 'pong',
  error: 'error',
} as const;

/** Codes of the hub's `error` replies. */
export type ErrorCode =
  | 'invalid_json'
  | 'binary_not_supported'
  | 'unknown_type'
  | 'invalid_room'
  | 'invalid_since'
  | 'forbidden'
  | 'too_many_rooms'
  | 'rate_limited'
  | 'unavailable'
  /** A path's own decoder could not make a request of the message (see `checkRequest`). */
  | 'undecodable';

/** A client's request, as the hub serves it. */
export type ClientRequest =
  | { type: 'join'; room: string }
  | { type: 'resume'; room: string; since: string }
  | { type: 'leave'; room: string }
  | { type: 'ping' };

/** A request that cannot be served, and the reply it gets. */
export interface ProtocolError {
  code: ErrorCode;
  message: string;
  room?: string;
}

/** The longest `since` a resume may name. */
export const MAX_SINCE_LENGTH = 64;

/**
 * Reads one text frame. `{ "type": "auth", "restaurantId": "abc" }` (the original app's
 * message) is a join of `restaurant:abc`; `subscribe`/`unsubscribe` name a room; `ping`.
 */
export function parseRequest(text: string): ClientRequest | ProtocolError {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { code: 'invalid_json', message: 'messages must be JSON objects' };
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return { code: 'invalid_json', message: 'messages must be JSON objects' };
  }
  const m = message as Record<string, unknown>;
  switch (m.type) {
    case RequestType.ping:
      return { type: 'ping' };
    case RequestType.auth: {
      const id = m.restaurantId;
      if ((typeof id !== 'string' || id.length === 0) && typeof id !== 'number') {
        return { code: 'invalid_room', message: 'auth needs a restaurantId' };
      }
      return roomRequest('join', restaurantRoom(id));
    }
    case RequestType.subscribe:
      return roomRequest('join', m.room);
    case RequestType.unsubscribe:
      return roomRequest('leave', m.room);
    case RequestType.resume:
      return resumeRequest(m.room, m.since);
    default:
      return {
        code: 'unknown_type',
        message: 'type must be one of auth, subscribe, resume, unsubscribe, ping',
      };
  }
}

/**
 * Checks what a path's own decoder made of a client's message: a join, leave, resume or ping
 * request as the hub serves it, with the same rules for rooms and `since` as the hub's own
 * messages. Anything else is `undecodable` (or `invalid_room`, `invalid_since`).
 */
export function checkRequest(value: unknown): ClientRequest | ProtocolError {
  if (typeof value === 'object' && value !== null) {
    const r = value as Record<string, unknown>;
    switch (r.type) {
      case 'ping':
        return { type: 'ping' };
      case 'join':
      case 'leave':
        return roomRequest(r.type, r.room);
      case 'resume':
        return resumeRequest(r.room, r.since);
    }
  }
  return { code: 'undecodable', message: 'this message means nothing here' };
}

function roomRequest(type: 'join' | 'leave', room: unknown): ClientRequest | ProtocolError {
  const problem = roomNameProblem(room);
  if (problem !== undefined) return { code: 'invalid_room', message: problem };
  return { type, room: room as string };
}

function resumeRequest(room: unknown, since: unknown): ClientRequest | ProtocolError {
  if (typeof since !== 'string' || since.length === 0 || since.length > MAX_SINCE_LENGTH) {
    return { code: 'invalid_since', message: 'resume needs since: the id of the last event seen' };
  }
  const request = roomRequest('join', room);
  if ('code' in request || request.type !== 'join') return request;
  return { type: 'resume', room: request.room, since };
}

/**
 * What the hub tells a client besides events: its joins and leaves confirmed, lost events
 * (`gap`), `pong`, and errors. A path may send them as they are (JSON), in the app's own
 * format, or not at all (see the hub's `attach({ notices })`).
 */
export type HubNotice =
  | { type: 'joined'; room: string }
  | { type: 'left'; room: string }
  | { type: 'gap'; room: string }
  | { type: 'pong'; ts: number }
  | { type: 'error'; code: ErrorCode; message: string; room?: string };

/** The hub's notices. */
export const notice = {
  joined: (room: string): HubNotice => ({ type: ReplyType.joined, room }),
  left: (room: string): HubNotice => ({ type: ReplyType.left, room }),
  gap: (room: string): HubNotice => ({ type: ReplyType.gap, room }),
  pong: (): HubNotice => ({ type: ReplyType.pong, ts: Date.now() }),
  error: (error: ProtocolError): HubNotice => ({ type: ReplyType.error, ...error }),
};
