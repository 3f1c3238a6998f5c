import { roomNameProblem } from '@bancada/internal/wire';
import { RealtimeClientOptionError } from './errors.js';
import type { ClientLogger, FetchLike, WebSocketConstructorLike, WebSocketLike } from './types.js';

/** Exponential reconnect delays with full jitter: a random delay in [0, min(maxMs, initialMs * 2^n)). */
export interface BackoffOptions {
  /** The ceiling of the first delay. @default 500 */
  initialMs?: number;
  /** The longest delay, also the cap on a server's `retryAfterMs`. @default 30000 */
  maxMs?: number;
}

/** The Server-Sent Events fallback (`hub.sse()` on the server). */
export interface SseFallbackOptions {
  /**
   * The stream's URL. A string gets a `room=` parameter per joined room appended (so
   * `/events` and `/events?restaurantId=a` both work); a function builds the whole URL.
   */
  url: string | ((rooms: string[]) => string);
  /**
   * Reads the stream. Wrap it to add headers in Node, or `credentials: 'include'` for a
   * stream on another origin. @default globalThis.fetch
   */
  fetch?: FetchLike;
  /**
   * WebSocket attempts that fail in a row, before any ever opened, after which the client
   * switches to SSE for good (a proxy that blocks upgrades). @default 3
   */
  fallbackAfter?: number;
}

/** The options of `connect()`. */
export interface ClientOptions {
  /**
   * The WebSocket class. In Node 20 pass `ws`'s: `import { WebSocket } from 'ws'`.
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructorLike;
  /**
   * Makes each WebSocket instead of `new WebSocket(url)`: in Node, to send headers or
   * cookies, `(url) => new WebSocket(url, { headers })` with `ws`.
   */
  createWebSocket?: (url: string) => WebSocketLike;
  /** The fallback used when WebSocket is missing, or keeps failing from the start. */
  sse?: SseFallbackOptions;
  backoff?: BackoffOptions;
  /**
   * How often the client pings over WebSocket; 0 sends no pings (and so never notices a dead
   * link by itself). Over SSE, the link is dead after `pingIntervalMs + pingTimeoutMs` with
   * nothing received: keep that above the hub's `heartbeatMs`. @default 25000
   */
  pingIntervalMs?: number;
  /**
   * How long a ping may go unanswered (nothing at all received) before the link counts as
   * dead: it is dropped and the client reconnects. Also the longest a connection attempt
   * may take. @default 10000
   */
  pingTimeoutMs?: number;
  /** Where the client says what it does (reconnects, fallback). @default none */
  logger?: Partial<ClientLogger> | false;
}

export interface ResolvedSse {
  url: (rooms: string[]) => string;
  fetch: FetchLike;
  fallbackAfter: number;
}

export interface ResolvedClientOptions {
  url: string;
  /** Undefined when no WebSocket can be made: SSE from the start. */
  createWebSocket: ((url: string) => WebSocketLike) | undefined;
  sse: ResolvedSse | undefined;
  initialMs: number;
  maxMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  logger: Partial<ClientLogger>;
}

/** Room names are what the hub accepts (the wire's room rule). */
export function checkRoom(room: unknown, call: string): asserts room is string {
  const problem = roomNameProblem(room);
  if (problem !== undefined) {
    throw new TypeError(`${call}: ${problem}, got ${String(room)}`);
  }
}

/** Defaults in one place; a RealtimeClientOptionError for what can never work. */
export function resolveOptions(url: string, options: ClientOptions = {}): ResolvedClientOptions {
  if (typeof url !== 'string' || url.length === 0) {
    fail(`connect() needs the WebSocket URL (ws:// or wss://), got ${String(url)}`);
  }
  if (options.WebSocket !== undefined && options.createWebSocket !== undefined) {
    fail('pass one of WebSocket and createWebSocket, not both');
  }
  const initialMs = options.backoff?.initialMs ?? 500;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  if (!(initialMs > 0 && Number.isFinite(initialMs))) {
    fail(`backoff.initialMs must be a number of ms above 0, got ${initialMs}`);
  }
  if (!(maxMs >= initialMs && Number.isFinite(maxMs))) {
    fail(`backoff.maxMs must be a number of ms of at least initialMs, got ${maxMs}`);
  }
  const pingIntervalMs = options.pingIntervalMs ?? 25_000;
  const pingTimeoutMs = options.pingTimeoutMs ?? 10_000;
  if (!(pingIntervalMs >= 0 && Number.isFinite(pingIntervalMs))) {
    fail(`pingIntervalMs must be a number of ms, 0 for none, got ${pingIntervalMs}`);
  }
  if (!(pingTimeoutMs > 0 && Number.isFinite(pingTimeoutMs))) {
    fail(`pingTimeoutMs must be a number of ms above 0, got ${pingTimeoutMs}`);
  }
  const sse = options.sse === undefined ? undefined : resolveSse(options.sse);
  const createWebSocket = webSocketFactory(options);
  if (createWebSocket === undefined && sse === undefined) {
    fail(
      'no WebSocket here: pass WebSocket (in Node 20, `ws`\'s: import { WebSocket } from "ws"), createWebSocket, or sse',
    );
  }
  const logger = options.logger === false || options.logger === undefined ? {} : options.logger;
  return {
    url,
    createWebSocket,
    sse,
    initialMs,
    maxMs,
    pingIntervalMs,
    pingTimeoutMs,
    logger,
  };
}

function webSocketFactory(options: ClientOptions): ((url: string) => WebSocketLike) | undefined {
  if (options.createWebSocket !== undefined) {
    if (typeof options.createWebSocket !== 'function') fail('createWebSocket must be a function');
    return options.createWebSocket;
  }
  const Ctor =
    options.WebSocket ??
    (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket ??
    undefined;
  if (Ctor === undefined) return undefined;
  if (typeof Ctor !== 'function') fail("WebSocket must be a class, like ws's WebSocket");
  return (url) => new Ctor(url);
}

function resolveSse(sse: SseFallbackOptions): ResolvedSse {
  const { url } = sse;
  if (typeof url !== 'function' && (typeof url !== 'string' || url.length === 0)) {
    fail('sse.url must be the URL of the stream, or a function (rooms) => URL');
  }
  const given = sse.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (typeof given !== 'function') fail('sse needs fetch: none here, pass sse.fetch');
  const fallbackAfter = sse.fallbackAfter ?? 3;
  if (!(Number.isInteger(fallbackAfter) && fallbackAfter >= 1)) {
    fail(`sse.fallbackAfter must be a whole number of at least 1, got ${fallbackAfter}`);
  }
  return {
    url: typeof url === 'function' ? url : (rooms) => withRooms(url, rooms),
    // Called as a plain function: a browser's fetch refuses to run as a method of another object.
    fetch: (target, init) => given(target, init),
    fallbackAfter,
  };
}

function withRooms(base: string, rooms: string[]): string {
  if (rooms.length === 0) return base;
  const query = rooms.map((room) => `room=${encodeURIComponent(room)}`).join('&');
  return `${base}${base.includes('?') ? '&' : '?'}${query}`;
}

function fail(message: string): never {
  throw new RealtimeClientOptionError(message);
}
