export type { RestaurantPrincipal } from '@bancada/internal';
export { type Authenticate, type Principal, sessionAuthenticator } from './authenticator.js';
export { createSession, type SessionMiddleware } from './create-session.js';
export { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
export { SessionOptionError } from './errors.js';
export { login, logout } from './login.js';
export type { SessionOptions } from './options.js';
export {
  CROSS_ORIGIN_REFUSED,
  type OriginPolicy,
  type SameOriginOptions,
  sameOriginOnly,
} from './same-origin.js';
export type { Logger } from './types.js';
