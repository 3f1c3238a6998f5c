import type { IncomingMessage } from 'node:http';
import { RealtimeOptionError } from '../errors.js';

/**
 * Where a request carries its token:
 * - `'query'`: the URL's `?token=` (browsers: WebSocket and EventSource alike);
 * - `'authorization'`: an `Authorization: Bearer <token>` header (Node clients, `fetch`);
 * - `'protocol'`: a WebSocket subprotocol `bancada.token.<token>` (browsers cannot set headers
 *   on a WebSocket, but can offer subprotocols: `new WebSocket(url, ['bancada', 'bancada.token.' + token])`);
 * - a function that finds it (undefined or null: none).
 */
export type TokenSource =
  | 'query'
  | 'authorization'
  | 'protocol'
  | ((req: IncomingMessage) => string | null | undefined);

/** The subprotocol that carries a token: `bancada.token.<token>`. */
export const TOKEN_PROTOCOL_PREFIX = 'bancada.token.';

type Reader = (req: IncomingMessage) => string | undefined;

const READERS: Record<string, Reader> = {
  query(req) {
    try {
      return new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined;
    } catch {
      return undefined; // a request line no URL can be made of carries no token
    }
  },
  authorization(req) {
    const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    return match?.[1];
  },
  protocol(req) {
    const offered = req.headers['sec-websocket-protocol'] ?? '';
    for (const entry of offered.split(',')) {
      const protocol = entry.trim();
      if (protocol.startsWith(TOKEN_PROTOCOL_PREFIX)) {
        return protocol.slice(TOKEN_PROTOCOL_PREFIX.length);
      }
    }
    return undefined;
  },
};

/**
 * Reads a request's token from the first of `from` that has one. A token found there and found
 * bad is not looked for elsewhere: a bad token is a refusal, not a reason to try another.
 */
export function tokenReader(from: TokenSource | TokenSource[]): Reader {
  const sources = Array.isArray(from) ? from : [from];
  if (sources.length === 0) {
    throw new RealtimeOptionError('tokenAuthenticator(): from must name at least one source');
  }
  const readers = sources.map(readerOf);
  return (req) => {
    for (const read of readers) {
      const token: unknown = read(req);
      if (typeof token === 'string' && token.length > 0) return token;
    }
    return undefined;
  };
}

function readerOf(source: TokenSource): Reader {
  if (typeof source === 'function') return (req) => source(req) ?? undefined;
  const reader =
    typeof source === 'string' && Object.hasOwn(READERS, source) ? READERS[source] : undefined;
  if (reader === undefined) {
    throw new RealtimeOptionError(
      `tokenAuthenticator(): from must be 'query', 'authorization', 'protocol', a function (req) => token, or a list of them, got ${String(source)}`,
    );
  }
  return reader;
}
