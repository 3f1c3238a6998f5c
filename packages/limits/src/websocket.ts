import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type ClosingSocket,
  refusalOf,
  type UpgradeTarget,
  upgradeThrough,
} from '@bancada/internal';
import { type ConnectionGate, isRejection } from './types.js';

export type { UpgradeTarget };

/**
 * Runs a WebSocket upgrade through the gate: a rejected client gets its 429/503 as a plain
 * HTTP response; an accepted one holds its slot until its socket closes, however that
 * happens (a normal close, an error, a terminate(), a server shutdown), and a client that
 * goes away while the slot is being acquired gives it back at once.
 * Resolves the new WebSocket, or undefined when there is none.
 */
export function upgradeWithLimit<Socket extends ClosingSocket>(
  gate: ConnectionGate,
  wss: UpgradeTarget<Socket>,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<Socket | undefined> {
  return upgradeThrough(wss, req, socket, head, async () => {
    const result = await gate.acquire(req);
    return isRejection(result) ? refusalOf(result) : result;
  });
}
