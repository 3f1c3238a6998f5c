import { restaurantRoom } from './policy.js';

/** What a WebSocket client may ask for. */
export type ClientRequest =
  | { type: 'join'; room: string }
  | { type: 'resume'; room: string; since: string }
  | { type: 'leave'; room: string }
  | { type: 'ping' };

/** Codes of the `error` replies. */
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

/** A request that cannot be served, and the reply it gets. */
export interface ProtocolError {
  code: ErrorCode;
  message: string;
  room?: string;
}

const MAX_ROOM_LENGTH = 256;

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
    case 'ping':
      return { type: 'ping' };
    case 'auth': {
      const id = m.restaurantId;
      if ((typeof id !== 'string' || id.length === 0) && typeof id !== 'number') {
        return { code: 'invalid_room', message: 'auth needs a restaurantId' };
      }
      return roomRequest('join', restaurantRoom(id));
    }
    case 'subscribe':
      return roomRequest('join', m.room);
    case 'unsubscribe':
      return roomRequest('leave', m.room);
    case 'resume': {
      if (typeof m.since !== 'string' || m.since.length === 0 || m.since.length > 64) {
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
  if (typeof room !== 'string' || room.length === 0 || room.length > MAX_ROOM_LENGTH) {
    return {
      code: 'invalid_room',
      message: `room must be a string of 1 to ${MAX_ROOM_LENGTH} characters`,
    };
  }
  return { type, room };
}

/** The reply frames. */
export const reply = {
  joined: (room: string) => JSON.stringify({ type: 'joined', room }),
  left: (room: string) => JSON.stringify({ type: 'left', room }),
  pong: () => JSON.stringify({ type: 'pong', ts: Date.now() }),
  gap: (room: string) => JSON.stringify({ type: 'gap', room }),
  error: (e: ProtocolError) =>
    JSON.stringify(
      e.room === undefined
        ? { type: 'error', code: e.code, message: e.message }
        : { type: 'error', code: e.code, message: e.message, room: e.room },
    ),
};
