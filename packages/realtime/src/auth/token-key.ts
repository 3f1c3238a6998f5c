import type { KeyObject } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { RealtimeOptionError } from '../errors.js';

/**
 * What signs and checks tokens: a secret shared by every instance (a string or bytes, HS256
 * by default), or a key pair's keys (a `KeyObject` or `CryptoKey`): the private key signs, the
 * public key checks.
 */
export type TokenSecret = string | Uint8Array | KeyObject | CryptoKey;

/** The `aud` claim of the hub's tokens, so that no other token signed with the secret passes. */
export const DEFAULT_AUDIENCE = 'bancada-realtime';

/** Claims of the token itself: set by `signToken`, taken off what `tokenAuthenticator` returns. */
export const TOKEN_CLAIMS: readonly string[] = ['exp', 'iat', 'nbf', 'aud'];

/** RFC 7518 §3.2: an HMAC key at least as long as the hash (HS256: 32 bytes). */
const MIN_SECRET_BYTES = 32;
const WITH_SECRET = ['HS256', 'HS384', 'HS512'];
const WITH_KEY_PAIR = [
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  ...['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
];

/** A secret or key, checked, with the one algorithm it may be used with. */
export interface TokenKey {
  key: Uint8Array | KeyObject | CryptoKey;
  algorithm: string;
  audience: string;
}

interface KeyOptions {
  secret?: unknown;
  algorithm?: unknown;
  audience?: unknown;
}

/**
 * Checks what `call` was given and settles the algorithm: tokens are checked against that one
 * only (never the one a token names, so `alg: none` or a switched algorithm cannot pass).
 */
export function resolveTokenKey(
  options: KeyOptions | undefined,
  use: 'sign' | 'verify',
  call: string,
): TokenKey {
  if (typeof options !== 'object' || options === null) {
    throw new RealtimeOptionError(`${call}() needs an options object with \`secret\``);
  }
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  if (typeof audience !== 'string' || audience.length === 0) {
    throw new RealtimeOptionError(`${call}(): audience must be a non-empty string`);
  }
  const { secret } = options;
  if (typeof secret === 'string' || secret instanceof Uint8Array) {
    const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (key.byteLength < MIN_SECRET_BYTES) {
      throw new RealtimeOptionError(
        `${call}(): secret must have at least ${MIN_SECRET_BYTES} bytes (a random string of 32 ` +
          'characters or more, the same on every instance)',
      );
    }
    return {
      key,
      algorithm: algorithmOf(options.algorithm ?? 'HS256', WITH_SECRET, call),
      audience,
    };
  }
  const type = (secret as { type?: unknown } | null | undefined)?.type;
  if (type === 'secret') {
    const size = (secret as { symmetricKeySize?: number }).symmetricKeySize; // a KeyObject's
    if (size !== undefined && size < MIN_SECRET_BYTES) {
      throw new RealtimeOptionError(
        `${call}(): a secret key must have at least ${MIN_SECRET_BYTES} bytes, got ${size}`,
      );
    }
    return {
      key: secret as KeyObject | CryptoKey,
      algorithm: algorithmOf(options.algorithm ?? 'HS256', WITH_SECRET, call),
      audience,
    };
  }
  if (type === 'private' || type === 'public') {
    const wanted = use === 'sign' ? 'private' : 'public';
    if (type !== wanted) {
      throw new RealtimeOptionError(
        `${call}(): a ${type} key was given; ${use === 'sign' ? 'sign with the private key' : 'check with the public key'}`,
      );
    }
    if (options.algorithm === undefined) {
      throw new RealtimeOptionError(
        `${call}(): a key pair needs \`algorithm\`, one of ${WITH_KEY_PAIR.join(', ')}`,
      );
    }
    return {
      key: secret as KeyObject | CryptoKey,
      algorithm: algorithmOf(options.algorithm, WITH_KEY_PAIR, call),
      audience,
    };
  }
  throw new RealtimeOptionError(
    `${call}(): secret must be a string of at least ${MIN_SECRET_BYTES} characters, bytes, or a KeyObject or CryptoKey, got ${secret === null ? 'null' : typeof secret}`,
  );
}

function algorithmOf(algorithm: unknown, allowed: string[], call: string): string {
  if (typeof algorithm !== 'string' || !allowed.includes(algorithm)) {
    throw new RealtimeOptionError(
      `${call}(): algorithm must be one of ${allowed.join(', ')} with this secret, got ${String(algorithm)}`,
    );
  }
  return algorithm;
}

let jose: Promise<typeof import('jose')> | undefined;

/**
 * jose, loaded on first use: a hub without tokens never loads it, and an `import()` (rather
 * than `require`) works from the CommonJS build on every Node 20, jose being ESM only.
 */
export function loadJose(): Promise<typeof import('jose')> {
  jose ??= import('jose');
  return jose;
}
