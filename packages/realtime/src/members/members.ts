import { atMost } from '@bancada/internal';
import type { Member } from './member.js';
import type { Roomless } from './roomless.js';

/**
 * How long a join waits for its room's Redis subscription before it is answered anyway (a
 * cluster's shard subscriber being made again after a failover): a client told `joined`
 * gets every event published from then on.
 */
const FOLLOW_WAIT_MS = 5000;

/**
 * Who is connected to this instance, and who is in which room. The first member of a room
 * and the last to leave are reported, so that the Redis side follows a room's channel only
 * while it has clients here.
 */
export class Members {
  readonly everyone = new Set<Member>();
  private readonly byRoom = new Map<string, Set<Member>>();
  private readonly byTransport = { websocket: 0, sse: 0 };
  /** Rooms whose first member joined and whose Redis subscription is still being made. */
  private readonly following = new Map<string, Promise<void>>();

  constructor(
    /** Resolves once the room's events reach this instance. */
    private readonly onFirstJoin: (room: string) => Promise<void> | undefined,
    private readonly onLastLeave: (room: string) => void,
    /** Told who is in no room; undefined when nobody watches (`roomlessAfterMs: false`). */
    private readonly roomless: Roomless | undefined,
  ) {}

  /** Rooms with at least one member here. */
  get rooms(): number {
    return this.byRoom.size;
  }

  connections(): { websocket: number; sse: number } {
    return { ...this.byTransport };
  }

  add(member: Member): void {
    if (this.everyone.has(member)) return;
    this.everyone.add(member);
    this.byTransport[member.transport]++;
    if (member.rooms.size === 0) this.roomless?.entered(member);
  }

  has(member: Member): boolean {
    return this.everyone.has(member);
  }

  /** Removes the member from every room and from `everyone`. */
  remove(member: Member): void {
    if (this.everyone.delete(member)) this.byTransport[member.transport]--;
    for (const room of [...member.rooms]) this.leave(member, room);
    this.roomless?.left(member);
  }

  /** True if the member was not in the room yet. */
  join(member: Member, room: string): boolean {
    let members = this.byRoom.get(room);
    if (members === undefined) {
      members = new Set();
      this.byRoom.set(room, members);
      this.follow(room);
    }
    if (members.has(member)) return false;
    members.add(member);
    member.rooms.add(room);
    if (member.rooms.size === 1) this.roomless?.left(member);
    return true;
  }

  /** True if the member was in the room. */
  leave(member: Member, room: string): boolean {
    const members = this.byRoom.get(room);
    if (members === undefined || !members.delete(member)) return false;
    member.rooms.delete(room);
    if (member.rooms.size === 0 && this.everyone.has(member)) this.roomless?.entered(member);
    if (members.size === 0) {
      this.byRoom.delete(room);
      this.onLastLeave(room);
    }
    return true;
  }

  /** Resolves once the room's events reach this instance (at most FOLLOW_WAIT_MS). */
  followed(room: string): Promise<void> {
    return this.following.get(room) ?? Promise.resolve();
  }

  private follow(room: string): void {
    const subscribing = this.onFirstJoin(room);
    if (subscribing === undefined) return;
    const followed = atMost(subscribing, FOLLOW_WAIT_MS).finally(() => {
      if (this.following.get(room) === followed) this.following.delete(room);
    });
    this.following.set(room, followed);
  }

  of(room: string): Set<Member> | undefined {
    return this.byRoom.get(room);
  }

  roomNames(): IterableIterator<string> {
    return this.byRoom.keys();
  }
}
