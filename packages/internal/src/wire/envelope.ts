import { restaurantRoom } from './rooms.js';
import { parseTraceparent } from './traceparent.js';

/**
 * What travels between instances, one JSON line: an event of a room, stamped by the instance
 * that published it. Other services may PUBLISH envelopes too, with only `eventType` (and a
 * room, or a `restaurantId`, where the channel does not say which).
 */
export interface Envelope {
  eventType: string;
  /** Its position in the room's history (`<ms>-<seq>`) in a room with history; else opaque. */
  id: string;
  traceId: string;
  payload: unknown;
  /** When it was published, ms since the epoch (the publisher's clock). */
  ts: number;
  /** `*` for every client. */
  room: string;
  /** The publishing instance's count of its events in this room, from 1: how losses show. */
  seq?: number | undefined;
  /** The instance that published it. */
  origin?: string | undefined;
  /**
   * The W3C trace context it was published in (`00-<trace id>-<span id>-<flags>`), so that
   * each delivery continues the publisher's trace. Absent when it was published in none; a
   * malformed one from outside is dropped when read (the event itself is delivered).
   */
  traceparent?: string | undefined;
}

/** The reserved eventType of the mark left in a room's history where events were lost. */
export const GAP_EVENT = 'bancada.gap';

/**
 * An envelope's JSON without its id and leading `{`: rooms with history learn their id (a
 * position) only from Redis, which puts it in front (`positionedLine`, and the history
 * script, which builds the same line from `POSITIONED_OPEN` and `POSITIONED_CLOSE`).
 * Throws what JSON.stringify throws for a payload JSON cannot carry.
 */
export function envelopeBody(envelope: Envelope): string {
  const { id: _, ...rest } = envelope;
  return JSON.stringify(rest).slice(1);
}

export const POSITIONED_OPEN = '{"id":"';
export const POSITIONED_CLOSE = '",';

/** The envelope line of `body` with `id` in front. */
export function positionedLine(id: string, body: string): string {
  return `${POSITIONED_OPEN}${id}${POSITIONED_CLOSE}${body}`;
}

/** The whole JSON line of an envelope. */
export function encodeEnvelope(envelope: Envelope): string {
  return positionedLine(envelope.id, envelopeBody(envelope));
}

/** The body of the mark left in a room's history where an instance lost events. */
export function gapMarkBody(room: string, origin: string, ts: number): string {
  return JSON.stringify({ eventType: GAP_EVENT, ts, room, origin }).slice(1);
}

/** True for the mark of lost events (a decoded envelope). */
export function isGapMark(envelope: Envelope): boolean {
  return envelope.eventType === GAP_EVENT;
}

/**
 * Reads an envelope line, published by an instance or by any other service with a plain
 * PUBLISH. `room` is the room its channel stands for, or undefined when the envelope must
 * name it (its `room`, or `restaurantId`). Returns a reason instead of throwing for anything
 * unusable: a bad message from outside is dropped and counted, never thrown.
 */
export function decodeEnvelope(text: string, room: string | undefined): Envelope | string {
  const v = parseJsonObject(text);
  if (typeof v === 'string') return v;
  if (typeof v.eventType !== 'string' || v.eventType.length === 0) return 'no eventType';
  let target = room;
  if (target === undefined) {
    if (typeof v.room === 'string' && v.room.length > 0) target = v.room;
    else if (typeof v.restaurantId === 'string' || typeof v.restaurantId === 'number') {
      target = restaurantRoom(v.restaurantId);
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
    traceparent:
      parseTraceparent(v.traceparent) === undefined ? undefined : (v.traceparent as string),
  };
}

/** The JSON object `text` holds, or why it holds none ('not JSON', 'not a JSON object'). */
export function parseJsonObject(text: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'not a JSON object';
  }
  return value as Record<string, unknown>;
}

/**
 * An event as a client sees it: the `event` frame without its `type`. What an app's own
 * encoder of a path gets (see the hub's `attach({ encode })`).
 */
export interface ClientEvent {
  eventType: string;
  /** Its position in the room's history (`<ms>-<seq>`) in a room with history; else opaque. */
  id: string;
  traceId: string;
  payload: unknown;
  /** When it was published, ms since the epoch (the publisher's clock). */
  ts: number;
  /** `*` for a broadcast. */
  room: string;
}

/**
 * What a client sees of an envelope: everything but seq, origin and traceparent, which are
 * the instances'.
 */
export function clientEvent(e: Envelope): ClientEvent {
  return {
    eventType: e.eventType,
    id: e.id,
    traceId: e.traceId,
    payload: e.payload,
    ts: e.ts,
    room: e.room,
  };
}

/** The frame a client receives: `{ "type": "event", ...clientEvent }`. */
export function clientEventFrame(e: Envelope): string {
  return JSON.stringify({ type: 'event', ...clientEvent(e) });
}

/** The same event as one Server-Sent Events message, `data` being its client frame. */
export function sseEventMessage(e: Envelope, data: string): string {
  return `id: ${oneLine(e.id)}\nevent: ${oneLine(e.eventType)}\ndata: ${data}\n\n`;
}

/**
 * A Server-Sent Events message of the default type (`message`, what `onmessage` gets), with
 * an id when it has one (what the browser sends back as Last-Event-ID). `data` may be any
 * text: each of its lines goes on a `data:` line of its own, and the browser joins them.
 */
export function sseDataMessage(id: string | undefined, data: string): string {
  const lines = data.replace(/\r\n|\r|\n/g, '\ndata: ');
  return id === undefined ? `data: ${lines}\n\n` : `id: ${oneLine(id)}\ndata: ${lines}\n\n`;
}

/** A Server-Sent Events message that is not an event: `gap`, say. */
export function sseMessage(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

/** A field value kept on its line: a newline in it would end the field. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]/g, ' ');
}
