import { RealtimeArgumentError, RealtimeOptionError } from '../errors.js';
import { loadJose, resolveTokenKey, TOKEN_CLAIMS, type TokenSecret } from './token-key.js';

/** Options of `signToken()`. */
export interface SignTokenOptions {
  /** A secret of 32 characters or more (the same on every instance), or a private key. */
  secret: TokenSecret;
  /**
   * How long the token may be used to open a connection: seconds, or `'30s'`, `'15m'`, `'2h'`,
   * `'1d'`. A connection outlives its token; a reconnect needs a token still valid.
   * @default '15m'
   */
  expiresIn?: number | string;
  /**
   * With a secret: `'HS256'`, `'HS384'` or `'HS512'`. With a key pair, required: `'ES256'`,
   * `'EdDSA'`, `'RS256'`, ...
   * @default 'HS256'
   */
  algorithm?: string;
  /**
   * The token's `aud` claim; `tokenAuthenticator` accepts only its own, so a token the app
   * signs with the same secret for something else is refused.
   * @default 'bancada-realtime'
   */
  audience?: string;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Signs `principal` (for example `{ id, name, restaurantId }`) into a short-lived token for a
 * client to connect with (`tokenAuthenticator` on the hub reads it back, field for field). Give
 * it to the client in the page or an API response. Throws a TypeError for what cannot be
 * signed; resolves the token (a JWT).
 */
export function signToken(principal: object, options: SignTokenOptions): Promise<string> {
  const key = resolveTokenKey(options, 'sign', 'signToken');
  const seconds = expirySeconds(options.expiresIn ?? '15m');
  const claims = claimsOf(principal);
  return (async () => {
    const { SignJWT } = await loadJose();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.algorithm, typ: 'JWT' })
      .setIssuedAt(now)
      .setExpirationTime(now + seconds)
      .setAudience(key.audience)
      .sign(key.key);
  })();
}

function claimsOf(principal: unknown): Record<string, unknown> {
  if (typeof principal !== 'object' || principal === null || Array.isArray(principal)) {
    throw new RealtimeArgumentError(
      `signToken(): principal must be an object such as { id, name, restaurantId }, got ${principal === null ? 'null' : typeof principal}`,
    );
  }
  const taken = TOKEN_CLAIMS.filter((claim) => Object.hasOwn(principal, claim));
  if (taken.length > 0) {
    throw new RealtimeArgumentError(
      `signToken(): the principal may not have ${taken.join(', ')}: the token sets them itself`,
    );
  }
  try {
    // What the token carries is what JSON carries: the principal comes back as JSON made it.
    return JSON.parse(JSON.stringify(principal)) as Record<string, unknown>;
  } catch (error) {
    throw new RealtimeArgumentError('signToken(): the principal must be JSON', { cause: error });
  }
}

function expirySeconds(expiresIn: unknown): number {
  if (typeof expiresIn === 'number' && Number.isInteger(expiresIn) && expiresIn >= 1) {
    return expiresIn;
  }
  const match = typeof expiresIn === 'string' ? /^(\d+) ?([smhd])$/.exec(expiresIn) : null;
  const seconds = match ? Number(match[1]) * UNITS[match[2]!]! : 0;
  if (!(seconds >= 1 && Number.isSafeInteger(seconds))) {
    throw new RealtimeOptionError(
      `signToken(): expiresIn must be a whole number of seconds (at least 1) or a string such as '30s', '15m', '2h', '1d', got ${String(expiresIn)}`,
    );
  }
  return seconds;
}
