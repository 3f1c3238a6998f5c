import type { ThrottledLog } from '@bancada/internal';
import type { HubCounters } from './counters.js';
import { REAUTH_SLICES } from './identity.js';
import type { Member } from './members/member.js';
import type { Members } from './members/members.js';
import type { Authenticate, Authorize, Principal } from './types.js';

/** Re-checks of one slice that run at once: a burst must not take every database connection. */
const REAUTH_CONCURRENCY = 8;

export interface SessionCheckParts {
  authenticate: Authenticate;
  authorize: Authorize;
  members: Members;
  counters: HubCounters;
  log: ThrottledLog;
  retryAfterMs(): number;
}

/**
 * Reads each open connection's session again every `intervalMs`, a tenth of the connections
 * at a time, so that a logout, an expiry or a revoked user ends its connections on every
 * instance without any instance telling the others. A store that fails keeps them.
 */
export class SessionCheck {
  private readonly timer: NodeJS.Timeout;
  private tick = 0;
  /** The slice being checked now, if any. */
  private round: Promise<void> | undefined;

  constructor(
    private readonly p: SessionCheckParts,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.checkNextSlice(), intervalMs / REAUTH_SLICES);
    this.timer.unref();
  }

  /** Stops checking; resolves once a check in flight is over (it reads a store the app may close next). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.round;
  }

  private async checkNextSlice(): Promise<void> {
    // The last slice is still at it (a slow store): this tick is skipped, and its slice
    // comes next, so that no slice is skipped for good.
    if (this.round) return;
    const slice = this.tick++ % REAUTH_SLICES;
    this.round = this.checkSlice(slice).finally(() => {
      this.round = undefined;
    });
    await this.round;
  }

  private async checkSlice(slice: number): Promise<void> {
    const due: Member[] = [];
    for (const member of this.p.members.everyone) {
      if (member.identity.slice === slice) due.push(member);
    }
    const worker = async () => {
      for (let member = due.pop(); member; member = due.pop()) await this.check(member);
    };
    await Promise.all(Array.from({ length: REAUTH_CONCURRENCY }, worker));
  }

  private async check(member: Member): Promise<void> {
    const { request } = member.identity;
    if (request === undefined || !this.p.members.has(member)) return;
    let verdict: Principal | 'session-ended' | 'no-longer-allowed';
    try {
      verdict = await this.verdictOn(member, request);
    } catch (error) {
      // The store is away: keep serving, as at any other moment of an outage; check next time.
      this.p.log.warn(
        'reauthenticate',
        `realtime: could not check a session again: ${(error as Error)?.message}`,
      );
      return;
    }
    if (!this.p.members.has(member)) return;
    if (verdict === 'session-ended' || verdict === 'no-longer-allowed') {
      this.p.counters.sessionEndCloses++;
      // An SSE stream just ends: its reconnect gets the 401 or 403.
      void member.sendAway(verdict, this.p.retryAfterMs());
      return;
    }
    member.identity.principal = verdict;
  }

  /** The member's principal as its session says now, or why it may no longer be here. */
  private async verdictOn(
    member: Member,
    request: NonNullable<Member['identity']['request']>,
  ): Promise<Principal | 'session-ended' | 'no-longer-allowed'> {
    const principal = await this.p.authenticate(request);
    if (principal === null || principal === undefined) return 'session-ended';
    for (const room of member.rooms) {
      if ((await this.p.authorize(principal, room)) !== true) return 'no-longer-allowed';
    }
    return principal;
  }
}
