export type { RestaurantPrincipal } from '@bancada/internal';
export type { ClientEvent, ErrorCode, HubNotice } from '@bancada/internal/wire';
export { EVERYONE } from '@bancada/internal/wire';
export type { RoomsOf } from './admission/request-rooms.js';
export { anonymous, firstOf } from './auth/compose.js';
export { anyOf, publicRooms } from './auth/rooms.js';
export { type SignTokenOptions, signToken } from './auth/sign-token.js';
export {
  type TokenAuthenticatorOptions,
  tokenAuthenticator,
} from './auth/token-authenticator.js';
export type { TokenSecret } from './auth/token-key.js';
export { TOKEN_PROTOCOL_PREFIX, type TokenSource } from './auth/token-source.js';
export { createHub } from './create-hub.js';
export { HubClosedError, RealtimeArgumentError, RealtimeOptionError } from './errors.js';
export type {
  Decode,
  Encode,
  FormatOptions,
  HubRequest,
  Notices,
} from './formats/format-options.js';
export type { SseEvents } from './formats/sse-events.js';
export type { AttachOptions, Hub, SseOptions } from './hub.js';
export type { HubOptions } from './options.js';
export { restaurantRoom, restaurantRooms } from './policy.js';
export type { HistoryOptions } from './sync/history.js';
export type {
  Authenticate,
  Authorize,
  ConnectionGate,
  Envelope,
  FanoutMode,
  HubEvent,
  HubStats,
  Lease,
  Logger,
  MessageQuota,
  Principal,
  Rejection,
} from './types.js';
