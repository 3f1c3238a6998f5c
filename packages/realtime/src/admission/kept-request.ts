import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Headers the re-check never needs: the handshake's own and what a browser says of itself.
 * Everything else stays (the cookie, `Authorization`, a token's subprotocol, the proxy's
 * `X-Forwarded-*`, an app's own header), so that an `authenticate` reads the same request
 * the second time as the first.
 */
const NOT_KEPT = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'connection',
  'pragma',
  'priority',
  'referer',
  'sec-websocket-extensions',
  'sec-websocket-key',
  'sec-websocket-version',
  'upgrade',
  'user-agent',
]);

/**
 * What a connection keeps of its upgrade or SSE request for the session re-check: the URL,
 * the headers that can say who the client is, and its socket (for the addresses). The request
 * itself (its raw headers, stream state and parser leftovers) would cost about 1.6 KB more
 * per connection, for the life of the connection.
 */
class KeptRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly headers: IncomingHttpHeaders;
  /**
   * The connection's own socket, alive as long as the connection anyway: its addresses (and
   * `encrypted`, for express-session's `secure` rule) read from it cost nothing to keep.
   */
  readonly socket: Socket;
  /** Express's view, when the request went through Express (an SSE route). */
  readonly secure: boolean | undefined;
  readonly ip: string | undefined;

  constructor(req: IncomingMessage) {
    this.method = req.method;
    this.url = req.url;
    this.httpVersion = req.httpVersion;
    this.httpVersionMajor = req.httpVersionMajor;
    this.httpVersionMinor = req.httpVersionMinor;
    const headers: IncomingHttpHeaders = {};
    for (const name in req.headers) {
      if (!NOT_KEPT.has(name)) headers[name] = req.headers[name];
    }
    this.headers = headers;
    this.socket = req.socket;
    const express = req as { secure?: unknown; ip?: unknown };
    this.secure = typeof express.secure === 'boolean' ? express.secure : undefined;
    this.ip = typeof express.ip === 'string' ? express.ip : undefined;
  }

  /** The old name of `socket`, which express-session still reads. */
  get connection(): Socket {
    return this.socket;
  }
}

/**
 * The part of a request that `authenticate` is given again at each re-check, as a request
 * (typed as one: `Authenticate` takes an `IncomingMessage`). It has no body, no events and
 * no response; an `authenticate` that only reads it, as session and token readers do, reads
 * it exactly as the original.
 */
export function keepForRecheck(req: IncomingMessage): IncomingMessage {
  return new KeptRequest(req) as unknown as IncomingMessage;
}

/** Whether `req` is what a connection kept of its request: `authenticate` runs on it again. */
export function isKeptRequest(req: IncomingMessage): boolean {
  return (req as unknown) instanceof KeptRequest;
}
