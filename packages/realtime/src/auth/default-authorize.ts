import { restaurantRooms } from '../policy.js';
import type { Authorize, Logger } from '../types.js';

/**
 * The hub's default `authorize`: `restaurantRooms`, which says once why it refuses a principal
 * that has no restaurant at all. Such a principal is the usual sign that what the app stores
 * at login is not the shape the hub reads, and every join would be `forbidden` without a word.
 */
export function defaultAuthorize(logger: Logger): Authorize {
  let told = false;
  return (principal, room) => {
    const allowed = restaurantRooms(principal, room);
    if (!allowed && !told && room.startsWith('restaurant:') && !hasRestaurant(principal)) {
      told = true;
      logger.warn(
        `realtime: BANCADA_REALTIME_NO_RESTAURANT: refused ${room} to a principal without restaurantId or restaurantIds, the fields the default authorize reads. Store them at login (login(req, { id, name, restaurantId }) with @bancada/session, or in signToken's principal), or pass authorize. Logged once.`,
      );
    }
    return allowed;
  };
}

function hasRestaurant(principal: object): boolean {
  const p = principal as { restaurantId?: unknown; restaurantIds?: unknown };
  return (
    (p.restaurantId !== undefined && p.restaurantId !== null) || Array.isArray(p.restaurantIds)
  );
}
