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
  | 'unavailable';

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
    case RequestType.resume: {
      if (
        typeof m.since !== 'string' ||
        m.since.length === 0 ||
        m.since.length > MAX_SINCE_LENGTH
      ) {
        return {
          code: 'invalid_since',
          message: 'resume needs since: the id of the last event seen',
        };
      }
      const request = roomRequest('join', m.room);
      if ('code' in request || request.type !== 'join') return request;
      return { type: 'resume', room: request.room, since: m.since };
    }
    default:
      return {
        code: 'unknown_type',
        message: 'type must be one of auth, subscribe, resume, unsubscribe, ping',
      };
  }
}

function roomRequest(type: 'join' | 'leave', room: unknown): ClientRequest | ProtocolError {
  const problem = roomNameProblem(room);
  if (problem !== undefined) return { code: 'invalid_room', message: problem };
  return { type, room: room as string };
}

/** The hub's replies, as JSON text. */
export const reply = {
  joined: (room: string) => JSON.stringify({ type: ReplyType.joined, room }),
  left: (room: string) => JSON.stringify({ type: ReplyType.left, room }),
  gap: (room: string) => JSON.stringify({ type: ReplyType.gap, room }),
  pong: () => JSON.stringify({ type: ReplyType.pong, ts: Date.now() }),
  error: (error: ProtocolError) => JSON.stringify({ type: ReplyType.error, ...error }),
};
