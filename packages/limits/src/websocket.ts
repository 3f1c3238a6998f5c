import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { rejectUpgrade } from './http.js';
import { type ConnectionGate, isRejection } from './types.js';

/** The part of a `ws` WebSocketServer (noServer mode) this helper uses. */
export interface UpgradeTarget<
  Socket extends { once(event: 'close', listener: () => void): unknown },
> {
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: (client: Socket, req: IncomingMessage) => void,
  ): void;
}

/**
 * Runs a WebSocket upgrade through the gate: a rejected client gets its 429/503 as a plain
 * HTTP response; an accepted one holds its slot until its socket closes, however that
 * happens (a normal close, an error, a terminate(), a server shutdown), and a client that
 * goes away while the slot is being acquired gives it back at once.
 * Resolves the new WebSocket, or undefined when there is none.
 */
export async function upgradeWithLimit<
  Socket extends { once(event: 'close', listener: () => void): unknown },
>(
  gate: ConnectionGate,
  wss: UpgradeTarget<Socket>,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<Socket | undefined> {
  // Errors on a socket that is being rejected or dropped are the client's business.
  socket.on('error', () => {});
  let result: Awaited<ReturnType<ConnectionGate['acquire']>>;
  try {
    result = await gate.acquire(req);
  } catch {
    // Never an unhandled rejection in the caller's 'upgrade' handler: this client goes away.
    rejectUpgrade(socket, { status: 503, reason: 'unavailable', retryAfter: 1 });
    return undefined;
  }
  if (isRejection(result)) {
    rejectUpgrade(socket, result);
    return undefined;
  }
  if (socket.destroyed || !socket.writable) {
    result.release();
    return undefined;
  }
  // If the upgrade itself fails (bad handshake), ws destroys the socket: release then.
  const releaseOnClose = () => result.release();
  socket.once('close', releaseOnClose);
  return new Promise((resolve) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      socket.off('close', releaseOnClose);
      client.once('close', () => result.release());
      resolve(client);
    });
    socket.once('close', () => resolve(undefined));
  });
}
