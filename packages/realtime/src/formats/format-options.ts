import type { ClientEvent, ClientRequest, HubNotice } from '@bancada/internal/wire';
import { RealtimeOptionError } from '../errors.js';

/** A request the hub serves, as a path's `decode` returns it. */
export type HubRequest = ClientRequest;

/**
 * A path's own text of an event, or undefined to send the event to none of its clients.
 * Called once per event and encoder, however many clients receive it; `event` is frozen
 * (the same object goes to every encoder).
 */
export type Encode = (event: ClientEvent) => string | undefined;

/**
 * What a client's text message asks of the hub: a request, several, or null for a message
 * the hub ignores on purpose (counted in `messagesIgnored`). Throwing, or returning anything
 * else, makes it a bad message.
 */
export type Decode = (text: string) => HubRequest | HubRequest[] | null;

/**
 * The hub's own messages to a path's clients (`joined`, `left`, `gap`, `pong`, `error`):
 * `'hub'` sends them as JSON (`{ "type": "joined", "room": ... }`), `'none'` sends none, and a
 * function sends its text of each (undefined: not that one).
 */
export type Notices = 'hub' | 'none' | ((notice: HubNotice) => string | undefined);

/** How a path speaks to its clients: `hub.attach()` and `hub.sse()` take these. */
export interface FormatOptions {
  /**
   * The path's own format of events, for clients that predate the hub, e.g.
   * `(e) => JSON.stringify({ type: e.eventType, order: e.payload })`. SSE: the message's
   * `data:`, with `id:` still there for resume, and no `event:` line (so `onmessage` gets it).
   * @default the hub's `{ "type": "event", eventType, id, traceId, payload, ts, room }`
   */
  encode?: Encode;
  /**
   * The hub's own messages on this path (see `Notices`). An app's old front-end usually
   * ignores types it does not know, but `'none'` (or a function in its format) is safer.
   * SSE sends only `gap`.
   * @default 'hub'
   */
  notices?: Notices;
}

/** A format's options, checked: a `RealtimeOptionError` names what cannot work. */
export function checkFormatOptions(options: FormatOptions & { decode?: unknown }, where: string) {
  const { encode, notices, decode } = options;
  if (encode !== undefined && typeof encode !== 'function') {
    throw new RealtimeOptionError(`${where} encode must be a function (event) => string`);
  }
  if (decode !== undefined && typeof decode !== 'function') {
    throw new RealtimeOptionError(
      `${where} decode must be a function (text) => request(s) or null`,
    );
  }
  if (
    notices !== undefined &&
    notices !== 'hub' &&
    notices !== 'none' &&
    typeof notices !== 'function'
  ) {
    throw new RealtimeOptionError(
      `${where} notices must be 'hub', 'none' or a function (notice) => string, got ${JSON.stringify(notices)}`,
    );
  }
}
