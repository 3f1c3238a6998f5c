import type { HeldRooms } from './held-rooms.js';
import type { Identity } from './identity.js';
import type { Outgoing } from './outgoing.js';

/** A connected client of either transport, as rooms see it. */
export interface Member {
  readonly transport: 'websocket' | 'sse';
  readonly rooms: Set<string>;
  /** Who the connection belongs to, checked again now and then. */
  readonly identity: Identity;
  /** Rooms whose live events wait while their history is replayed to this client. */
  readonly held: HeldRooms;
  /**
   * Writes the event, or keeps it while its room is held; false when the client could not
   * take it (closed, or closed as slow).
   */
  send(event: Outgoing): boolean;
  /** Writes the event even if its room is held (a replayed one). */
  sendNow(event: Outgoing): boolean;
  /** Tells the client that events of the room were lost: it should reload what it shows. */
  sendGap(room: string): void;
  /** Gives back the connection's slot (its lease from the connection gate). */
  readonly lease: () => void;
  /** Ends the hold on `room`: writes what waited and came after `after` (see HeldRooms). */
  release(room: string, after: readonly [number, number] | undefined): void;
}

/**
 * Who is in which room on this instance. The first member of a room and the last to leave
 * are reported, so the Redis side subscribes to a room's channel only while it has clients.
 */
export class Rooms {
  readonly everyone = new Set<Member>();
  private readonly byRoom = new Map<string, Set<Member>>();

  constructor(
    private readonly onFirstJoin: (room: string) => void,
    private readonly onLastLeave: (room: string) => void,
  ) {}

  get size(): number {
    return this.byRoom.size;
  }

  add(member: Member): void {
    this.everyone.add(member);
  }

  /** True if the member was not in the room yet. */
  join(member: Member, room: string): boolean {
    let members = this.byRoom.get(room);
    if (members === undefined) {
      members = new Set();
      this.byRoom.set(room, members);
      this.onFirstJoin(room);
    }
    if (members.has(member)) return false;
    members.add(member);
    member.rooms.add(room);
    return true;
  }

  /** True if the member was in the room. */
  leave(member: Member, room: string): boolean {
    const members = this.byRoom.get(room);
    if (members === undefined || !members.delete(member)) return false;
    member.rooms.delete(room);
    if (members.size === 0) {
      this.byRoom.delete(room);
      this.onLastLeave(room);
    }
    return true;
  }

  /** Removes the member from every room and from `everyone`. */
  remove(member: Member): void {
    for (const room of [...member.rooms]) this.leave(member, room);
    this.everyone.delete(member);
  }

  members(room: string): Set<Member> | undefined {
    return this.byRoom.get(room);
  }

  names(): IterableIterator<string> {
    return this.byRoom.keys();
  }
}
