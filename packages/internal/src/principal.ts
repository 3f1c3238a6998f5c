/**
 * The principal the kit's packages agree on: what `login(req, user)` of @bancada/session
 * stores, what its `sessionAuthenticator` returns, what `signToken` of @bancada/realtime puts
 * in a token, and what the hub's default `authorize` (`restaurantRooms`) reads. Any other
 * field is the app's own and travels along.
 */
export interface RestaurantPrincipal {
  /** Who the user is; @bancada/session's `maxSessionsPerUser` counts sessions by it. */
  id: string | number;
  /** For display. */
  name?: string;
  /** The restaurant whose room (`restaurant:<id>`) the principal may join. */
  restaurantId?: string | number;
  /** For someone who works for several restaurants: each one's room may be joined. */
  restaurantIds?: ReadonlyArray<string | number>;
}
