import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Refusal, refuseUpgrade } from './refusal.js';

/** What a WebSocket must have here: a 'close' event (ws's WebSocket has it). */
export interface ClosingSocket {
  on(event: 'close', listener: () => void): unknown;
}

/** The part of a `ws` WebSocketServer (noServer mode) that an upgrade needs. */
export interface UpgradeTarget<Socket extends ClosingSocket> {
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: (client: Socket, req: IncomingMessage) => void,
  ): void;
}

/** What an admission grants: at least a slot to give back. */
export interface Admitted {
  release(): void;
}

/**
 * Takes a WebSocket upgrade through `admit`: a refusal is answered on the socket as a plain
 * HTTP response; an admitted client is handed to `wss`, and `onOpen` gets its WebSocket.
 * Every way it ends gives the slot back: a client that hangs up while it is admitted (the
 * server keeps half-open sockets, so its socket is closed here), a failed handshake, the
 * WebSocket's close. An `admit` that throws is a 503. Resolves the WebSocket, or undefined.
 */
export async function upgradeThrough<Socket extends ClosingSocket, A extends Admitted>(
  wss: UpgradeTarget<Socket>,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  admit: () => Promise<A | Refusal>,
  onOpen: (client: Socket, admitted: A) => void = () => {},
): Promise<Socket | undefined> {
  socket.on('error', ignore); // a client that vanishes mid-handshake is its own business
  const hungUp = () => socket.destroy();
  socket.once('end', hungUp);
  let admitted: A | Refusal;
  try {
    admitted = await admit();
  } catch {
    admitted = { status: 503, error: 'unavailable', message: 'Try again shortly.', retryAfter: 1 };
  }
  socket.off('end', hungUp);
  if ('status' in admitted) {
    refuseUpgrade(socket, admitted);
    return undefined;
  }
  const granted = admitted;
  if (socket.destroyed || !socket.writable) {
    granted.release();
    return undefined;
  }
  return new Promise((resolve) => {
    // A handshake that fails (ws answers 400 and destroys the socket) gives its slot back.
    const failed = () => {
      granted.release();
      resolve(undefined);
    };
    socket.once('close', failed);
    wss.handleUpgrade(req, socket, head, (client) => {
      // Nothing of this scope may outlive the handshake: its closures hold the request.
      socket.off('close', failed);
      releaseOnClose(client, granted);
      onOpen(client, granted);
      resolve(client);
    });
  });
}

/**
 * Listeners that outlive the handshake are made out here, so that they hold no more than they
 * need: one made inside `upgradeThrough` would keep its whole scope (the request, its head)
 * for as long as the connection lives.
 */
function ignore(): void {}

/** Gives the slot back when the WebSocket closes (`on`: 'close' comes once, and `once` costs a wrapper per connection). */
function releaseOnClose(client: ClosingSocket, slot: Admitted): void {
  client.on('close', () => slot.release());
}
