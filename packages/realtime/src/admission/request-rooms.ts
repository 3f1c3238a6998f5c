import type { IncomingMessage } from 'node:http';
import type { Refusal, ThrottledLog } from '@bancada/internal';
import type { ErrorCode } from '@bancada/internal/wire';
import type { RoomAccess } from '../members/room-access.js';
import type { Principal } from '../types.js';

/**
 * The rooms a connection's request names (an SSE request, or a WebSocket upgrade's URL such
 * as `/ws?vendorId=7`), read by the app's function; each is authorized.
 */
export type RoomsOf = (req: IncomingMessage, principal: Principal) => string | string[] | undefined;

/** The HTTP status of a room refused before the connection opens. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  forbidden: 403,
  invalid_room: 400,
  too_many_rooms: 400,
  unavailable: 503,
};

/**
 * The rooms `roomsOf` reads from the request, each authorized as a join is (room-name rule,
 * `maxRoomsPerConnection`, `authorize`), all or none: the rooms, or the refusal to answer
 * the request with before any connection opens (400, 403; 503 when `authorize` throws).
 */
export async function roomsOfRequest(
  req: IncomingMessage,
  principal: Principal,
  roomsOf: RoomsOf,
  access: RoomAccess,
  log: ThrottledLog,
): Promise<string[] | Refusal> {
  let given: unknown;
  try {
    given = roomsOf(req, principal);
  } catch (error) {
    log.warn('rooms', `realtime: rooms() threw: ${(error as Error)?.message}`);
    return { status: 500, error: 'internal', message: 'Something went wrong.' };
  }
  const rooms = [...new Set(given === undefined ? [] : Array.isArray(given) ? given : [given])];
  const refused = await access.permits(principal, rooms);
  if (refused === undefined) return rooms as string[];
  const refusal: Refusal = {
    status: STATUS[refused.code] ?? 400,
    error: refused.code,
    message: refused.room === undefined ? refused.message : `${refused.message}: ${refused.room}`,
  };
  if (refused.code === 'unavailable') refusal.retryAfter = 2;
  return refusal;
}
