import type { IncomingMessage } from 'node:http';
import { isKeptRequest } from '../admission/kept-request.js';
import type { Authenticate, Principal } from '../types.js';
import {
  loadJose,
  resolveTokenKey,
  TOKEN_CLAIMS,
  type TokenKey,
  type TokenSecret,
} from './token-key.js';
import { type TokenSource, tokenReader } from './token-source.js';

/** Options of `tokenAuthenticator()`. */
export interface TokenAuthenticatorOptions {
  /** The secret `signToken` used (the same on every instance), or the public key of its pair. */
  secret: TokenSecret;
  /**
   * Where a request carries its token (see `TokenSource`); a list is read in order, the first
   * source that has a token decides. Browsers: `'query'` (WebSocket and SSE) or `'protocol'`
   * (WebSocket only); they cannot set headers on either.
   * @default 'query' (`?token=`)
   */
  from?: TokenSource | TokenSource[];
  /**
   * The one algorithm accepted, as `signToken` was told.
   * @default 'HS256'
   */
  algorithm?: string;
  /**
   * The `aud` claim a token must have, as `signToken` was told.
   * @default 'bancada-realtime'
   */
  audience?: string;
}

/**
 * The hub's `authenticate` for tokens made by `signToken`: the principal they carry, or null
 * (a 401 before the upgrade) for a missing, expired, forged, tampered or unsigned one. A token
 * is checked when its connection opens: the hub's later checks of that connection
 * (`reauthenticateMs`) get the principal it was admitted as, so a connection outlives its
 * token, while a reconnect needs a token that is still valid.
 */
export function tokenAuthenticator(options: TokenAuthenticatorOptions): Authenticate {
  const key = resolveTokenKey(options, 'verify', 'tokenAuthenticator');
  const read = tokenReader(options.from ?? 'query');
  // Keyed by the request: a check of a connection that keeps it gets what it was admitted as.
  const admitted = new WeakMap<IncomingMessage, Principal>();
  return async (req) => {
    const known = admitted.get(req);
    if (known !== undefined) return known;
    const token = read(req);
    if (token === undefined) return null;
    // The hub's later checks are given what the connection kept of its request, not the
    // request itself: its token was valid when it opened, so it outlives its expiry there.
    const principal = await verify(token, key, isKeptRequest(req));
    if (principal !== null) admitted.set(req, principal);
    return principal;
  };
}

async function verify(
  token: string,
  key: TokenKey,
  outlivesExpiry: boolean,
): Promise<Principal | null> {
  const { jwtVerify, errors } = await loadJose();
  try {
    const { payload } = await jwtVerify(token, key.key, {
      algorithms: [key.algorithm],
      audience: key.audience,
      requiredClaims: ['exp'],
    });
    return principalOf(payload);
  } catch (error) {
    // jose checks the expiry last, after the signature and every other claim.
    if (outlivesExpiry && error instanceof errors.JWTExpired) return principalOf(error.payload);
    // A bad token is nobody. Anything else (a key that does not suit the algorithm) is a
    // fault of the set-up: thrown, so the hub answers 503 and logs it.
    if (error instanceof errors.JOSEError) return null;
    throw error;
  }
}

function principalOf(payload: object): Principal {
  const principal: Record<string, unknown> = { ...payload };
  for (const claim of TOKEN_CLAIMS) delete principal[claim];
  return principal;
}
