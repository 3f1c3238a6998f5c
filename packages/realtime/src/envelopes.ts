import { randomBytes } from 'node:crypto';
import { type Envelope, envelopeBody, GAP_EVENT, roomNameProblem } from '@bancada/internal/wire';
import { RealtimeArgumentError } from './errors.js';
import type { HubEvent } from './types.js';

/**
 * Stamps the events this instance publishes: an id unique across instances and increasing
 * within one (rooms with history get theirs from Redis instead), and per room a `seq` from 1,
 * by which the other instances count what they missed.
 */
export class EnvelopeMaker {
  private readonly tag = randomBytes(4).toString('hex');
  private count = 0;
  private readonly seqs = new Map<string, number>();

  constructor(private readonly origin: string) {}

  /**
   * The envelope of `event` in `room`, and its JSON body (see `envelopeBody`); throws for a
   * bad one. `traceparent`: the trace context it is published in, if any.
   */
  make(room: string, event: HubEvent, traceparent?: string): { envelope: Envelope; body: string } {
    checkRoom(room);
    checkEvent(event);
    const ts = Date.now();
    const id = event.id ?? `${ts.toString(36)}-${this.tag}-${(this.count++).toString(36)}`;
    const envelope: Envelope = {
      eventType: event.eventType,
      id,
      traceId: event.traceId ?? id,
      payload: event.payload ?? null,
      ts,
      room,
      seq: this.nextSeq(room),
      origin: this.origin,
      traceparent,
    };
    try {
      return { envelope, body: envelopeBody(envelope) };
    } catch (error) {
      throw new RealtimeArgumentError(
        `the payload of "${event.eventType}" cannot be sent as JSON: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  private nextSeq(room: string): number {
    const seq = (this.seqs.get(room) ?? 0) + 1;
    this.seqs.set(room, seq);
    return seq;
  }
}

/** Throws unless `room` is a usable room name. */
export function checkRoom(room: unknown): asserts room is string {
  const problem = roomNameProblem(room);
  if (problem !== undefined) throw new RealtimeArgumentError(`${problem}, got ${describe(room)}`);
}

function checkEvent(event: HubEvent): void {
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
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return value === null ? 'null' : typeof value;
}
