import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Rejection } from './connection-gate.js';

/** A request turned away: the HTTP status, a short JSON body, and when to try again. */
export interface Refusal {
  status: number;
  /** A stable code, the body's `error`. */
  error: string;
  message: string;
  /** Seconds; sent as `Retry-After` and in the body. */
  retryAfter?: number;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const GATE_MESSAGES: Record<Rejection['reason'], string> = {
  'per-ip': 'Too many connections from this address.',
  total: 'This server is at its connection limit.',
  unavailable: 'Not accepted right now; try again shortly.',
};

/** A connection gate's rejection as the answer it gets. */
export function refusalOf(rejection: Rejection): Refusal {
  return {
    status: rejection.status,
    error: rejection.reason,
    message: GATE_MESSAGES[rejection.reason],
    retryAfter: rejection.retryAfter,
  };
}

function bodyOf({ error, message, retryAfter }: Refusal): string {
  return JSON.stringify(
    retryAfter === undefined ? { error, message } : { error, message, retryAfter },
  );
}

/**
 * Answers a WebSocket upgrade with a plain HTTP response, before any upgrade, so that the
 * client sees the status, then closes the socket.
 */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const text = bodyOf(refusal);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? 'Error'}\r\n` +
        (refusal.retryAfter === undefined ? '' : `Retry-After: ${refusal.retryAfter}\r\n`) +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(text)}\r\n` +
        'Connection: close\r\n\r\n' +
        text,
    );
  }
  // end() lets the response flush; a peer that never reads must not keep the socket open.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Answers a plain HTTP request (an SSE request) with the refusal. */
export function refuseRequest(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = bodyOf(refusal);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  };
  if (refusal.retryAfter !== undefined) headers['Retry-After'] = String(refusal.retryAfter);
  res.writeHead(refusal.status, headers);
  res.end(text);
}
