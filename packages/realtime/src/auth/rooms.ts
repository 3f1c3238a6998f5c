import { RealtimeArgumentError } from '../errors.js';
import type { Authorize } from '../types.js';
import { checkFunctions } from './compose.js';
import { roomPattern } from './room-pattern.js';

/**
 * An `authorize` that lets anyone (any principal, anonymous ones included) into the rooms that
 * match one of `patterns`, and no one into any other room. Rooms are read as segments separated
 * by `:`; in a pattern, `*` stands for one or more characters within its segment, never a `:`:
 * `order:*` admits `order:7f3a...` but not `order:`, `order:7:notes` or `orders:7`. Such a room
 * is readable by whoever knows its name: name public rooms with ids nobody can guess (a random
 * UUID, not an order number). Compose with `anyOf(restaurantRooms, publicRooms('order:*'))`.
 */
export function publicRooms(...patterns: string[]): Authorize {
  if (patterns.length === 0) {
    throw new RealtimeArgumentError(
      "publicRooms() needs at least one room pattern, such as 'order:*'",
    );
  }
  const tests = patterns.map(roomPattern);
  return (_principal, room) => tests.some((matches) => matches(room));
}

/**
 * An `authorize` that admits a principal to a room when one of `authorizers` does (asked in
 * order, until one says true). One that fails fails the whole (the client gets `unavailable`),
 * rather than being read as a no.
 */
export function anyOf(...authorizers: Authorize[]): Authorize {
  checkFunctions('anyOf', authorizers, 'authorize function (principal, room) => boolean');
  return async (principal, room) => {
    for (const authorize of authorizers) {
      if ((await authorize(principal, room)) === true) return true;
    }
    return false;
  };
}
