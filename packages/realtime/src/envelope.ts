import { randomBytes } from 'node:crypto';
import { RealtimeArgumentError } from './errors.js';
import type { Envelope, HubEvent } from './types.js';

/** The room name for "every client": `hub.broadcast()` and the `ws:broadcast` channel. */
export const EVERYONE = '*';
/** The reserved eventType of the mark left in a room's history where events were lost. */
export const GAP_EVENT = 'bancada.gap';
const MAX_ROOM_LENGTH = 256;

/** Throws unless `room` is a usable room name. */
export function checkRoom(room: unknown): asserts room is string {
  if (typeof room !== 'string' || room.length === 0 || room.length > MAX_ROOM_LENGTH) {
    throw new RealtimeArgumentError(
      `a room must be a string of 1 to ${MAX_ROOM_LENGTH} characters, got ${describe(room)}`,
    );
  }
}

/** Makes event ids: unique across instances, increasing within one. */
export class IdMaker {
  private readonly tag = randomBytes(4).toString('hex');
  private seq = 0;

  next(now: number): string {
    return `${now.toString(36)}-${this.tag}-${(this.seq++).toString(36)}`;
  }
}

/** The JSON line of an envelope: its `id` first, then `body` (see `envelopeOf`). */
export function withId(id: string, body: string): string {
  return `{"id":${JSON.stringify(id)},${body}`;
}

/**
 * Builds the envelope of an event the application publishes; throws for a bad event.
 * `body` is its JSON without the id and the leading `{`: rooms with history get their id
 * from Redis, so the id is put in front last (`withId`). `origin` comes last, so that an
 * instance recognises its own echo by the end of the line.
 */
export function envelopeOf(
  room: string,
  event: HubEvent,
  origin: string,
  ids: IdMaker,
  seq: number,
): { envelope: Envelope; body: string } {
  if (typeof event !== 'object' || event === null) {
    throw new RealtimeArgumentError(`an event must be an object, got ${describe(event)}`);
  }
  if (typeof event.eventType !== 'string' || event.eventType.length === 0) {
    throw new RealtimeArgumentError(
      `an event needs an eventType string, got ${describe(event.eventType)}`,
    );
  }
  if (event.eventType === GAP_EVENT) {
    throw new RealtimeArgumentError(`the eventType "${GAP_EVENT}" is reserved`);
  }
  const ts = Date.now();
  const id = event.id ?? ids.next(ts);
  const envelope: Envelope = {
    eventType: event.eventType,
    id,
    traceId: event.traceId ?? id,
    payload: event.payload ?? null,
    ts,
    room,
    seq,
    origin,
  };
  let body: string;
  try {
    const { id: _, ...rest } = envelope;
    body = JSON.stringify(rest).slice(1);
  } catch (error) {
    throw new RealtimeArgumentError(
      `the payload of "${event.eventType}" cannot be sent as JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { envelope, body };
}

/**
 * Reads an envelope that came from Redis, published by an instance or by any other service
 * with a plain PUBLISH. `room` is the room its channel stands for, or undefined when the
 * envelope must name it (`ws:restaurant`: its `room`, or its `restaurantId`). Returns a
 * reason string instead of throwing for anything unusable.
 */
export function parseEnvelope(text: string, room: string | undefined): Envelope | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'not a JSON object';
  }
  const v = value as Record<string, unknown>;
  if (typeof v.eventType !== 'string' || v.eventType.length === 0) return 'no eventType';
  let target = room;
  if (target === undefined) {
    if (typeof v.room === 'string' && v.room.length > 0) target = v.room;
    else if (typeof v.restaurantId === 'string' || typeof v.restaurantId === 'number') {
      target = `restaurant:${v.restaurantId}`;
    } else return 'names no room nor restaurantId';
  }
  const ts = typeof v.ts === 'number' && Number.isFinite(v.ts) ? v.ts : Date.now();
  const id = typeof v.id === 'string' || typeof v.id === 'number' ? String(v.id) : '';
  return {
    eventType: v.eventType,
    id,
    traceId: typeof v.traceId === 'string' ? v.traceId : id,
    payload: v.payload ?? null,
    ts,
    room: target,
    seq: Number.isSafeInteger(v.seq) && (v.seq as number) > 0 ? (v.seq as number) : undefined,
    origin: typeof v.origin === 'string' ? v.origin : undefined,
  };
}

/** The text frame clients receive: `{ "type": "event", ...envelope }`, without `origin`. */
export function clientFrame(e: Envelope): string {
  return JSON.stringify({
    type: 'event',
    eventType: e.eventType,
    id: e.id,
    traceId: e.traceId,
    payload: e.payload,
    ts: e.ts,
    room: e.room,
  });
}

/** The same event as one Server-Sent Events message. */
export function sseFrame(e: Envelope, data: string): string {
  // eventType is one line by construction of SSE: a newline in it would end the field.
  const event = e.eventType.replace(/[\r\n]/g, ' ');
  return `id: ${e.id.replace(/[\r\n]/g, ' ')}\nevent: ${event}\ndata: ${data}\n\n`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return value === null ? 'null' : typeof value;
}
