import type { ErrorCode } from '@bancada/internal/wire';
import type { RealtimeClientError } from './errors.js';

/**
 * Where the client is: `connecting` (the first attempt), `open` (a transport is up),
 * `reconnecting` (lost, or not there yet, and trying again after a delay) or `closed`
 * (after `close()`, or when the server refused who we are).
 */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The link in use: a WebSocket, or the Server-Sent Events fallback. */
export type TransportKind = 'websocket' | 'sse';

/** An event of a room, as the hub sends it. `room` is `*` for a broadcast. */
export interface RealtimeEvent<Payload = unknown> {
  type: 'event';
  /** What happened, for example `order-created`. */
  eventType: string;
  /**
   * The event's id: in a room with history, its position there (`<ms>-<seq>`, what a
   * resume starts after); otherwise an opaque string.
   */
  id: string;
  traceId: string;
  payload: Payload;
  /** When it was published, in ms since the epoch (the publisher's clock). */
  ts: number;
  room: string;
}

/**
 * Events of `room` may have been lost (the server could not replay them, or dropped them):
 * whatever the app shows of this room should be fetched again.
 */
export interface GapNotice {
  room: string;
}

/** The hub confirmed a room (again, after each reconnect). */
export interface JoinedNotice {
  room: string;
  /** True when the client asked to resume after the last event it saw in the room. */
  resumed: boolean;
}

/** Sent to `state` listeners on each change, and for each new reconnect delay. */
export interface StateChange {
  state: ClientState;
  previous: ClientState;
  transport: TransportKind;
  /** With `reconnecting`: how long until the next attempt, in ms. */
  retryInMs?: number;
  /** With `reconnecting` after a WebSocket closed: its close code (1006: no close frame). */
  closeCode?: number;
}

/** What `client.on()` listens to, and what each listener receives. */
export interface ClientEventMap {
  event: RealtimeEvent;
  gap: GapNotice;
  state: StateChange;
  error: RealtimeClientError;
  joined: JoinedNotice;
}

/** Codes of the hub's `error` frames. */
export type ServerErrorCode = ErrorCode;

/**
 * Codes of `RealtimeClientError`: the hub's own (an `error` frame), `unauthorized` (the
 * server answered 401 or 403 before any WebSocket or stream: the client closes),
 * `refused` (another HTTP refusal the client could see: it backs off and retries) and
 * `closed_by_server` (close 1008 or 1009: the client broke a rule; it reconnects).
 */
export type ClientErrorCode = ServerErrorCode | 'unauthorized' | 'refused' | 'closed_by_server';

/** Any logger with these methods (console, pino, winston). */
export interface ClientLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Parameter types of callbacks that a DOM `WebSocket` and `ws`'s both fit: TypeScript
 * compares method parameters both ways, so either one's event type is accepted here.
 */
type Callback<Event> = { bivarianceHack(event: Event): void }['bivarianceHack'];

/**
 * The part of the WebSocket API the client uses: the browser's `WebSocket`, Node 22's, or
 * `ws`'s (Node 20) all are one.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Callback<unknown> | null;
  onmessage: Callback<{ data: unknown }> | null;
  onerror: Callback<unknown> | null;
  onclose: Callback<{ code: number; reason: string }> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws`'s: drops the connection without a close handshake (used on a dead link). */
  terminate?(): void;
}

/** A WebSocket class: `globalThis.WebSocket`, or `ws`'s `WebSocket` in Node 20. */
export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

/** The part of a fetch `Response` the SSE transport reads. */
export interface FetchResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: {
    getReader(): {
      read(): Promise<{ done: boolean; value?: Uint8Array }>;
      cancel(reason?: unknown): Promise<void>;
    };
  } | null;
}

/** What the SSE transport passes to `fetch`: spread `headers` into your own to add some. */
export interface FetchInit {
  headers: Record<string, string>;
  signal: AbortSignal;
  cache: 'no-store';
}

/** `globalThis.fetch`, or a function around it that adds headers or credentials. */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponseLike>;
