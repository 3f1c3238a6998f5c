import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ThrottledLog, upgradeThrough } from '@bancada/internal';
import { WebSocketServer } from 'ws';
import type { HubCounters } from '../counters.js';
import type { Identity } from '../identity.js';
import type { Members } from '../members/members.js';
import { WsMember, type WsMemberHost } from '../members/ws-member.js';
import type { MessageQuota, Principal } from '../types.js';
import type { Admission } from './admission.js';
import { pathOf, UnclaimedUpgrades } from './unclaimed-upgrades.js';

/** What `attach()` takes. */
export interface AttachOptions {
  /** The URL path that WebSocket upgrades use (exactly: `/ws/` and `/wsx` are not it). @default '/ws' */
  path?: string;
  /**
   * An upgrade to another path is answered 404 at once when the server has no 'upgrade'
   * listener of the app's own; when it has, that listener gets this long to take the socket
   * (answer or close it) before the hub answers 404. Either way a client that hangs up is
   * let go at once: an upgrade nobody takes never holds a socket. Set by the first `attach()`
   * to a server.
   * @default 10_000
   */
  unclaimedTimeoutMs?: number;
}

export interface WebSocketDoorParts {
  admission: Admission;
  members: Members;
  host: WsMemberHost;
  messageQuota: MessageQuota | undefined;
  maxPayloadBytes: number;
  counters: HubCounters;
  log: ThrottledLog;
  identityOf(principal: Principal, req: IncomingMessage): Identity;
  /** A client admitted as the drain begins: sent away at once. */
  draining(): boolean;
  retryAfterMs(): number;
}

/**
 * Where WebSocket clients come in: the upgrade of the paths `attach()` serves, through the
 * admission, into a member; and the guard that answers upgrades nobody serves.
 */
export class WebSocketDoor {
  private readonly wss: WebSocketServer;
  private readonly attached: Array<{ server: Server; path: string }> = [];

  constructor(private readonly p: WebSocketDoorParts) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: p.maxPayloadBytes,
      // Compression would make every frame per client: events are framed once per room.
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  attach(server: Server, options: AttachOptions): void {
    const path = options.path ?? '/ws';
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new TypeError(`attach() path must start with "/", got ${JSON.stringify(path)}`);
    }
    const timeoutMs = options.unclaimedTimeoutMs ?? 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2_147_483_647) {
      throw new TypeError(
        `attach() unclaimedTimeoutMs must be a whole number of milliseconds, got ${timeoutMs}`,
      );
    }
    UnclaimedUpgrades.attach(
      server,
      {
        path,
        listener: (req, socket, head) => {
          if (pathOf(req) === path) void this.upgrade(req, socket, head);
        },
        onUnclaimed: (why) => {
          this.p.counters.upgradesUnclaimed++;
          this.p.log.warn(
            'unclaimed',
            `realtime: answered 404 to a WebSocket upgrade of a path nobody serves (${why}; counted in upgradesUnclaimed)`,
          );
        },
      },
      timeoutMs,
    );
    this.attached.push({ server, path });
  }

  /** Stops serving every path: the servers are as they were before `attach()`. */
  close(): void {
    for (const { server, path } of this.attached.splice(0)) UnclaimedUpgrades.detach(server, path);
    this.wss.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    await upgradeThrough(
      this.wss,
      req,
      socket,
      head,
      () => this.p.admission.admit(req),
      (ws, { principal, release }) => {
        const member = new WsMember(
          ws,
          this.p.identityOf(principal, req),
          this.p.host,
          this.p.messageQuota?.forConnection(),
          release,
        );
        this.p.members.add(member);
        if (this.p.draining()) void member.sendAway('restart', this.p.retryAfterMs());
      },
    );
  }
}
