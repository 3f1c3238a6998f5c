/** The room name for "every client": `hub.broadcast()` and the `ws:broadcast` channel. */
export const EVERYONE = '*';

/** The longest room name, in characters. */
export const MAX_ROOM_LENGTH = 256;

/** What is wrong with `room` as a room name, or undefined when it is one. */
export function roomNameProblem(room: unknown): string | undefined {
  if (typeof room === 'string' && room.length > 0 && room.length <= MAX_ROOM_LENGTH) {
    return undefined;
  }
  return `room must be a string of 1 to ${MAX_ROOM_LENGTH} characters`;
}

/** The room of a restaurant's clients: `restaurant:<id>`. */
export function restaurantRoom(restaurantId: string | number): string {
  return `restaurant:${restaurantId}`;
}
