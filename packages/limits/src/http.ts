import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Rejection } from './types.js';

const MESSAGES: Record<Rejection['reason'], string> = {
  'per-ip': 'Too many connections from this address.',
  total: 'This server is at its connection limit.',
  unavailable: 'Not accepted right now; try again shortly.',
};

function body(rejection: Rejection): string {
  return JSON.stringify({
    error: rejection.reason,
    message: MESSAGES[rejection.reason],
    retryAfter: rejection.retryAfter,
  });
}

/** Answers an HTTP request with the rejection: status, Retry-After and a short JSON body. */
export function sendRejection(res: ServerResponse, rejection: Rejection): void {
  const text = body(rejection);
  res.writeHead(rejection.status, {
    'Retry-After': String(rejection.retryAfter),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

/**
 * Answers a WebSocket upgrade with a plain HTTP response before any upgrade, so the client
 * sees the status (429 or 503) and Retry-After, then closes the socket.
 */
export function rejectUpgrade(socket: Duplex, rejection: Rejection): void {
  const text = body(rejection);
  const reason = rejection.status === 429 ? 'Too Many Requests' : 'Service Unavailable';
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${rejection.status} ${reason}\r\n` +
        `Retry-After: ${rejection.retryAfter}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(text)}\r\n` +
        'Connection: close\r\n\r\n' +
        text,
    );
  }
  // end() lets the response flush; a peer that never reads must not keep the socket open.
  setTimeout(() => socket.destroy(), 1000).unref();
}
