import type { HubNotice } from '@bancada/internal/wire';
import { RealtimeOptionError } from '../errors.js';
import type { Encode, Notices } from './format-options.js';

/**
 * How an SSE handler names its messages: `'named'` after each event's `eventType` (and `gap`),
 * for `addEventListener(type)` and the client SDK; `'message'` leaves every message unnamed,
 * so a plain `EventSource`'s `onmessage` gets them all, the type being inside the data.
 */
export type SseEvents = 'named' | 'message';

/**
 * The hub's event frame (`{ "type": "event", eventType, ... }`) as an encoder. SSE sends an
 * encoder's text as a plain `message`; one function for every such handler, so that an event
 * is framed once for all of them (an event's texts are kept per encoder).
 */
const hubEventText: Encode = (event) => JSON.stringify({ type: 'event', ...event });

/** The hub's notices as plain messages: the same JSON, `{ "type": "gap", "room" }`. */
const hubNoticeText = (n: HubNotice): string => JSON.stringify(n);

/**
 * The encoder and notices of an SSE handler, given its `events` choice: `'message'` sends the
 * hub's JSON of events and notices as unnamed messages. An app's own `encode` already sends
 * unnamed messages, so it cannot be asked to name them.
 */
export function sseFormat(
  events: SseEvents | undefined,
  encode: Encode | undefined,
  notices: Notices,
): { encode: Encode | undefined; notices: Notices } {
  if (events !== undefined && events !== 'named' && events !== 'message') {
    throw new RealtimeOptionError(
      `sse() events must be 'named' or 'message', got ${JSON.stringify(events)}`,
    );
  }
  if (events === 'named' && encode !== undefined) {
    throw new RealtimeOptionError(
      "sse() events: 'named' cannot go with encode: an encoder's text is sent as a plain message (onmessage)",
    );
  }
  if (events !== 'message') return { encode, notices };
  return { encode: encode ?? hubEventText, notices: notices === 'hub' ? hubNoticeText : notices };
}
