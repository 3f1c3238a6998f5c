import type { IncomingMessage } from 'node:http';

/** The part of an IncomingMessage the limiter reads, for a client at `address`. */
export function fakeRequest(
  address: string,
  headers: Record<string, string> = {},
): IncomingMessage {
  const socket = { remoteAddress: address };
  return { headers, socket, connection: socket } as unknown as IncomingMessage;
}
