import type { Principal } from './types.js';

// The room of one restaurant's clients: what `hub.toRestaurant(id)` and `{type:'auth'}` use.
export { restaurantRoom } from '@bancada/internal/wire';

/**
 * The default `authorize`: a principal may join `restaurant:<id>` when its `restaurantId`
 * is `<id>`, or its `restaurantIds` list has it (the `RestaurantPrincipal` shape, which
 * `login()` of @bancada/session stores and `sessionAuthenticator` returns). Every other room is
 * refused: add rooms with `anyOf(restaurantRooms, publicRooms(...))` or an `authorize` of your own.
 */
export function restaurantRooms(principal: Principal, room: string): boolean {
  if (!room.startsWith('restaurant:')) return false;
  const id = room.slice('restaurant:'.length);
  const p = principal as { restaurantId?: unknown; restaurantIds?: unknown };
  if (p.restaurantId !== undefined && p.restaurantId !== null && String(p.restaurantId) === id) {
    return true;
  }
  return Array.isArray(p.restaurantIds) && p.restaurantIds.some((r) => String(r) === id);
}
