// The hub has the same reading of ids (src/stream-id.ts); the client keeps its own copy so
// that its bundle shares no module with the server's and stays free of Node code.

/** A Redis stream id `<ms>-<seq>`, the position of an event in a room with history. */
export type Position = readonly [ms: number, seq: number];

const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;

/** The position an id stands for, or undefined for an opaque id. */
export function positionOf(id: string | undefined): Position | undefined {
  const match = id === undefined ? null : STREAM_ID.exec(id);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/** Negative, zero or positive, as a comes before, with, or after b. */
export function comparePositions(a: Position, b: Position): number {
  return a[0] - b[0] || a[1] - b[1];
}
