import type { ThrottledLog } from '@bancada/internal';
import type { ProtocolError } from '@bancada/internal/wire';
import type { Authorize, Principal } from '../types.js';
import type { Member } from './member.js';
import type { Members } from './members.js';

/** Who may be in which room: every join is asked of `authorize`, within `maxRooms`. */
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
    const tooMany: ProtocolError = {
      code: 'too_many_rooms',
      message: `at most ${this.maxRooms} rooms per connection`,
      room,
    };
    if (member.rooms.size >= this.maxRooms) return tooMany;
    let allowed: boolean;
    try {
      allowed = await this.authorize(principal, room);
    } catch (error) {
      this.log.warn('authorize', `realtime: authorize failed: ${(error as Error)?.message}`);
      return { code: 'unavailable', message: 'could not check this room now; try again', room };
    }
    if (allowed !== true) {
      return { code: 'forbidden', message: 'not allowed in this room', room };
    }
    if (!this.members.has(member)) return undefined; // gone while authorizing
    // A check of the session ran meanwhile and changed who this is: ask for that one.
    if (member.identity.principal !== principal) {
      return this.join(member, member.identity.principal, room);
    }
    if (member.rooms.size >= this.maxRooms) return tooMany;
    this.members.join(member, room);
    return undefined;
  }

  leave(member: Member, room: string): boolean {
    return this.members.leave(member, room);
  }
}
