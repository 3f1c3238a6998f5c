export { RealtimeClientError, RealtimeClientOptionError } from './errors.js';
export type { BackoffOptions, ClientOptions, SseFallbackOptions } from './options.js';
export { connect, type RealtimeClient } from './realtime-client.js';
export type {
  ClientErrorCode,
  ClientEventMap,
  ClientLogger,
  ClientState,
  FetchInit,
  FetchLike,
  FetchResponseLike,
  GapNotice,
  JoinedNotice,
  RealtimeEvent,
  ServerErrorCode,
  StateChange,
  TransportKind,
  WebSocketConstructorLike,
  WebSocketLike,
} from './types.js';
