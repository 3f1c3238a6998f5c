import type { BridgedEvent, ResolvedChannel } from './options.js';

/** What became of one notification once its channel's mapper saw it. */
export type Mapped =
  | { kind: 'publish'; room: string; event: BridgedEvent['event'] }
  | { kind: 'skip' }
  | { kind: 'malformed'; reason: string; topic: MalformedTopic };

/** A few fixed kinds of malformed, to rate-limit logs by (reasons may carry any text). */
export type MalformedTopic = 'not-json' | 'threw' | 'promise' | 'shape';

/**
 * Runs a channel's mapper on a notification payload; never throws. Only the shape is
 * checked here (`{ room, event }`); the hub checks the room and event themselves.
 */
export function mapNotification(channel: ResolvedChannel, text: string): Mapped {
  let payload: unknown = text;
  if (channel.payload !== 'text') {
    try {
      payload = JSON.parse(text);
    } catch {
      if (channel.payload === 'json')
        return { kind: 'malformed', reason: 'payload is not JSON', topic: 'not-json' };
    }
  }
  let result: unknown;
  try {
    result = channel.map(payload, channel.name);
  } catch (error) {
    const reason = `mapper threw: ${(error as Error)?.message ?? error}`;
    return { kind: 'malformed', reason, topic: 'threw' };
  }
  if (result === null || result === undefined) return { kind: 'skip' };
  if (typeof (result as PromiseLike<unknown>).then === 'function') {
    return {
      kind: 'malformed',
      reason: 'mapper returned a Promise: mappers must be synchronous, so events keep their order',
      topic: 'promise',
    };
  }
  if (typeof result !== 'object') {
    const reason = `mapper returned a ${typeof result}, not { room, event }`;
    return { kind: 'malformed', reason, topic: 'shape' };
  }
  const { room, event } = result as Partial<BridgedEvent>;
  if (typeof room !== 'string' || typeof event !== 'object' || event === null) {
    const reason = 'mapper returned something other than { room, event }';
    return { kind: 'malformed', reason, topic: 'shape' };
  }
  return { kind: 'publish', room, event };
}
