import type { ThrottledLog } from '@bancada/internal';
import { type ProtocolError, roomNameProblem } from '@bancada/internal/wire';
import type { Authorize, Principal } from '../types.js';
import type { Member } from './member.js';
import type { Members } from './members.js';

/**
 * Who may be in which room: every join is asked of `authorize`, within `maxRooms`, whether
 * a connected client asks for it or its request named it when it connected.
 */
export class RoomAccess {
  constructor(
    private readonly members: Members,
    private readonly authorize: Authorize,
    private readonly maxRooms: number,
    private readonly log: ThrottledLog,
  ) {}

  /** Authorizes and joins; resolves the error to send, or undefined once joined (or gone). */
  async join(
    member: Member,
    principal: Principal,
    room: string,
  ): Promise<ProtocolError | undefined> {
    if (member.rooms.has(room)) return undefined;
    if (member.rooms.size >= this.maxRooms) return this.tooMany(room);
    const refused = await this.refusal(principal, room);
    if (refused !== undefined) return refused;
    if (!this.members.has(member)) return undefined; // gone while authorizing
    // A check of the session ran meanwhile and changed who this is: ask for that one.
    if (member.identity.principal !== principal) {
      return this.join(member, member.identity.principal, room);
    }
    if (member.rooms.size >= this.maxRooms) return this.tooMany(room);
    this.members.join(member, room);
    // Answered once the room's events reach this instance, not before.
    await this.members.followed(room);
    return undefined;
  }

  leave(member: Member, room: string): boolean {
    return this.members.leave(member, room);
  }

  /**
   * Whether a connection may start in all of `rooms` (named by its request: SSE, or an
   * upgrade's URL), checked as joins are: the first refusal, or undefined.
   */
  async permits(
    principal: Principal,
    rooms: readonly unknown[],
  ): Promise<ProtocolError | undefined> {
    if (rooms.length > this.maxRooms) return this.tooMany(undefined);
    for (const room of rooms) {
      const problem = roomNameProblem(room);
      if (problem !== undefined) return { code: 'invalid_room', message: problem };
    }
    for (const room of rooms as string[]) {
      const refused = await this.refusal(principal, room);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  /** What `authorize` says of the room: undefined when allowed. */
  private async refusal(principal: Principal, room: string): Promise<ProtocolError | undefined> {
    let allowed: boolean;
    try {
      allowed = await this.authorize(principal, room);
    } catch (error) {
      this.log.warn('authorize', `realtime: authorize failed: ${(error as Error)?.message}`);
      return { code: 'unavailable', message: 'could not check this room now; try again', room };
    }
    if (allowed !== true) return { code: 'forbidden', message: 'not allowed in this room', room };
    return undefined;
  }

  private tooMany(room: string | undefined): ProtocolError {
    const error: ProtocolError = {
      code: 'too_many_rooms',
      message: `at most ${this.maxRooms} rooms per connection`,
    };
    if (room !== undefined) error.room = room;
    return error;
  }
}
