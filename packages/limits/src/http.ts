import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { refusalOf, refuseRequest, refuseUpgrade } from '@bancada/internal';
import type { Rejection } from './types.js';

/** Answers an HTTP request with the rejection: status, Retry-After and a short JSON body. */
export function sendRejection(res: ServerResponse, rejection: Rejection): void {
  refuseRequest(res, refusalOf(rejection));
}

/**
 * Answers a WebSocket upgrade with a plain HTTP response before any upgrade, so the client
 * sees the status (429 or 503) and Retry-After, then closes the socket.
 */
export function rejectUpgrade(socket: Duplex, rejection: Rejection): void {
  refuseUpgrade(socket, refusalOf(rejection));
}
