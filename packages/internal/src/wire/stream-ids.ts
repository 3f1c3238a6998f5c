/**
 * Redis Stream ids (`<ms>-<seq>`) are the positions of events in rooms with history. They
 * are compared as two numbers; anything else (an id made while Redis was away, an opaque id,
 * garbage from a client) is not a position.
 */
export type StreamId = readonly [ms: number, seq: number];

const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;

/** The position `id` stands for, or undefined when it is none. */
export function parseStreamId(id: unknown): StreamId | undefined {
  if (typeof id !== 'string') return undefined;
  const match = STREAM_ID.exec(id);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/** Negative, zero or positive, as a comes before, with, or after b. */
export function compareStreamIds(a: StreamId, b: StreamId): number {
  return a[0] - b[0] || a[1] - b[1];
}

export function formatStreamId([ms, seq]: StreamId): string {
  return `${ms}-${seq}`;
}
