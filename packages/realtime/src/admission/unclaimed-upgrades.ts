import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { refuseUpgrade } from '@bancada/internal';

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** What a hub attached to a server tells the server's guard. */
export interface GuardedPath {
  path: string;
  listener: UpgradeListener;
  /** Called once for every upgrade the guard had to answer itself. */
  onUnclaimed: (why: 'no_handler' | 'timeout' | 'client_left') => void;
}

/**
 * Answers the WebSocket upgrades that nobody on a server takes. Node hands an upgrade to the
 * 'upgrade' listeners and forgets it: one that no listener takes is never answered, and as
 * an http server allows half-open sockets it stays open (CLOSE-WAIT) after the client hangs
 * up, until the process runs out of file descriptors. Anyone can do that without logging in.
 *
 * One guard per server, shared by the hubs attached to it. An upgrade to a hub's path is the
 * hub's. Any other one: with no other 'upgrade' listener (the app has none of its own), a
 * 404 at once; otherwise the app's own listener gets `timeoutMs` to take the socket (write to
 * it or close it), and a client that hangs up before that has its socket closed at once.
 */
export class UnclaimedUpgrades {
  private static readonly guards = new WeakMap<Server, UnclaimedUpgrades>();
  private readonly paths = new Map<string, GuardedPath>();
  private readonly listener: UpgradeListener = (req, socket) => this.check(req, socket);

  private constructor(
    private readonly server: Server,
    private readonly timeoutMs: number,
  ) {}

  /** Serves `guarded.path` on `server` with the hub's listener; throws if a hub serves it already. */
  static attach(server: Server, guarded: GuardedPath, timeoutMs: number): void {
    let guard = UnclaimedUpgrades.guards.get(server);
    if (guard === undefined) {
      guard = new UnclaimedUpgrades(server, timeoutMs);
      UnclaimedUpgrades.guards.set(server, guard);
      server.on('upgrade', guard.listener);
    }
    if (guard.paths.has(guarded.path)) {
      throw new TypeError(`a hub already serves WebSocket upgrades on ${guarded.path}`);
    }
    guard.paths.set(guarded.path, guarded);
    server.on('upgrade', guarded.listener);
  }

  /** Stops serving `path`; the guard leaves with the server's last hub. */
  static detach(server: Server, path: string): void {
    const guard = UnclaimedUpgrades.guards.get(server);
    const guarded = guard?.paths.get(path);
    if (guard === undefined || guarded === undefined) return;
    server.off('upgrade', guarded.listener);
    guard.paths.delete(path);
    if (guard.paths.size > 0) return;
    server.off('upgrade', guard.listener);
    UnclaimedUpgrades.guards.delete(server);
  }

  private check(req: IncomingMessage, duplex: Duplex): void {
    if (this.paths.has(pathOf(req))) return; // a hub's own
    const socket = duplex as Socket;
    socket.on('error', () => {}); // a client that vanishes is its own business
    if (!this.appListens()) {
      this.answer(socket, 'no_handler');
      return;
    }
    // The app's own listener runs after this one, and may take the socket later (after an
    // await of its own): look again when the client hangs up, and at the latest after the bound.
    const timer = setTimeout(() => {
      if (!taken(socket)) this.answer(socket, 'timeout');
    }, this.timeoutMs);
    timer.unref();
    const clientLeft = () => {
      clearTimeout(timer);
      if (!taken(socket)) {
        socket.destroy();
        this.report('client_left');
      }
    };
    socket.once('end', clientLeft);
    socket.once('close', () => {
      clearTimeout(timer);
      socket.off('end', clientLeft);
    });
  }

  /** True if the server has an 'upgrade' listener that is neither this guard nor a hub's. */
  private appListens(): boolean {
    const ours = new Set<unknown>([this.listener]);
    for (const { listener } of this.paths.values()) ours.add(listener);
    return this.server.listeners('upgrade').some((listener) => !ours.has(listener));
  }

  private answer(socket: Socket, why: 'no_handler' | 'timeout'): void {
    refuseUpgrade(socket, {
      status: 404,
      error: 'not_found',
      message: 'No WebSocket endpoint at this path.',
    });
    this.report(why);
  }

  private report(why: 'no_handler' | 'timeout' | 'client_left'): void {
    for (const guarded of this.paths.values()) guarded.onUnclaimed(why);
  }
}

/** True once something answered on the socket or closed it: the upgrade has an owner. */
function taken(socket: Socket): boolean {
  return socket.destroyed || socket.bytesWritten > 0 || socket.writableLength > 0;
}

/** The path of a request's URL, without its query. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
