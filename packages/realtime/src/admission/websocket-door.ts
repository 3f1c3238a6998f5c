import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ThrottledLog, upgradeThrough } from '@bancada/internal';
import { WebSocketServer } from 'ws';
import type { HubCounters } from '../counters.js';
import { RealtimeOptionError } from '../errors.js';
import { checkFormatOptions, type Decode, type FormatOptions } from '../formats/format-options.js';
import { PathFormat } from '../formats/path-format.js';
import type { Identity } from '../identity.js';
import type { Members } from '../members/members.js';
import type { RoomAccess } from '../members/room-access.js';
import { WsMember, type WsMemberHost } from '../members/ws-member.js';
import type { MessageQuota, Principal } from '../types.js';
import type { Admission } from './admission.js';
import { type RoomsOf, roomsOfRequest } from './request-rooms.js';
import { pathOf, UnclaimedUpgrades } from './unclaimed-upgrades.js';

/** What `attach()` takes. */
export interface AttachOptions extends FormatOptions {
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
  /**
   * Rooms the connection joins as it opens, read from the upgrade request as `hub.sse()`
   * reads them (`/ws?vendorId=7` as `vendor:7`, say). Each is authorized like any join; a
   * refused one answers the upgrade 403 (an invalid one or too many 400, a failing
   * `authorize` 503) and no WebSocket opens. The client is told `joined` of each (per
   * `notices`).
   * @default none: clients join with messages
   */
  rooms?: RoomsOf;
  /**
   * Reads the path's client messages in the app's own format: returns the hub's requests
   * (`{ type: 'join', room }`, `leave`, `ping`, `{ type: 'resume', room, since }`), or null
   * for a message to ignore on purpose. One that throws or returns anything else is a bad
   * message (an `error` notice, and `maxBadMessages` applies).
   * @default the hub's protocol (`subscribe`, `auth`, `resume`, `unsubscribe`, `ping`)
   */
  decode?: Decode;
}

/** One attached path: how it speaks, and the rooms its upgrades name. */
interface PathDoor {
  host: WsMemberHost;
  roomsOf: RoomsOf | undefined;
}

/** No rooms named at connect time. */
const NO_ROOMS: readonly string[] = Object.freeze([]);

export interface WebSocketDoorParts {
  admission: Admission;
  members: Members;
  /** The hosts of WebSocket members share all but their format. */
  host: Omit<WsMemberHost, 'format'>;
  access: RoomAccess;
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
    if (typeof options !== 'object' || options === null) {
      throw new RealtimeOptionError('attach() takes an options object');
    }
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
    checkFormatOptions(options, 'attach()');
    const { rooms, encode, decode, notices = 'hub' } = options;
    if (rooms !== undefined && typeof rooms !== 'function') {
      throw new RealtimeOptionError(
        'attach() rooms must be a function (req, principal) => room(s)',
      );
    }
    const door: PathDoor = {
      host: { ...this.p.host, format: new PathFormat(encode, decode, notices, this.p.log) },
      roomsOf: rooms,
    };
    UnclaimedUpgrades.attach(
      server,
      {
        path,
        listener: (req, socket, head) => {
          if (pathOf(req) === path) void this.upgrade(req, socket, head, door);
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

  private async upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    door: PathDoor,
  ): Promise<void> {
    // Read by the admission, used once the socket is open; nothing of this scope outlives
    // the handshake (see upgradeThrough), so neither does the request.
    let rooms = NO_ROOMS;
    await upgradeThrough(
      this.wss,
      req,
      socket,
      head,
      async () => {
        const admitted = await this.p.admission.admit(req);
        if ('status' in admitted || door.roomsOf === undefined) return admitted;
        const named = await roomsOfRequest(
          req,
          admitted.principal,
          door.roomsOf,
          this.p.access,
          this.p.log,
        );
        if (!Array.isArray(named)) {
          admitted.release();
          return named;
        }
        rooms = named;
        return admitted;
      },
      (ws, { principal, release }) => {
        const member = new WsMember(
          ws,
          this.p.identityOf(principal, req),
          door.host,
          this.p.messageQuota?.forConnection(),
          release,
        );
        this.p.members.add(member);
        if (this.p.draining()) {
          void member.sendAway('restart', this.p.retryAfterMs());
          return;
        }
        for (const room of rooms) {
          member.joining(room);
          this.p.members.join(member, room);
        }
        // Answered once the rooms' events reach this instance, not before.
        void Promise.all(rooms.map((room) => this.p.members.followed(room))).then(() => {
          for (const room of rooms) member.answerJoined(room);
        });
      },
    );
  }
}
