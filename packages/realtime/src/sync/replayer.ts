import { describeRedisError, type ThrottledLog } from '@bancada/internal';
import { isGapMark, parseStreamId, type StreamId } from '@bancada/internal/wire';
import type { HubCounters } from '../counters.js';
import type { Member } from '../members/member.js';
import { Outgoing } from '../members/outgoing.js';
import type { HistoryReader } from './history.js';

/**
 * Replays a room's history to one client that resumes (WebSocket `resume`, SSE
 * `Last-Event-ID`): what came after the last event it saw, or `gap` where that cannot be
 * told. The client's live events of the room wait meanwhile (its ReplayHolds).
 */
export class Replayer {
  constructor(
    private readonly history: HistoryReader | undefined,
    private readonly counters: HubCounters,
    private readonly log: ThrottledLog,
  ) {}

  /** Replays the room after `since` to the member (or tells it of a gap), then lets live events through. */
  async replay(member: Member, room: string, since: string): Promise<void> {
    let last: StreamId | undefined = parseStreamId(since);
    const history = this.history;
    try {
      if (history === undefined || !history.keeps(room)) {
        member.sendGap(room); // nothing kept to replay from
        return;
      }
      if (!member.holds.mayReplay(room, Date.now(), history.options.minReplayIntervalMs)) {
        this.counters.replaysRefused++;
        this.log.warn(
          'replay-refused',
          'realtime: a client resumed a room again too soon; answered gap (counted in replaysRefused)',
        );
        last = undefined; // it is told gap: it reloads, then takes every live event
        member.sendGap(room);
        return;
      }
      const { entries, complete, ahead } = await history.since(room, since);
      // A position we never made says nothing of what the client missed, and must not
      // hold back live events until the room gets that far.
      if (ahead) last = undefined;
      if (!complete || ahead) member.sendGap(room);
      for (const entry of entries) {
        if (isGapMark(entry)) member.sendGap(room);
        else if (member.write(new Outgoing(entry))) this.counters.delivered++;
        last = parseStreamId(entry.id);
      }
    } catch (error) {
      this.log.warn('replay', `realtime: could not read history: ${describeRedisError(error)}`);
      member.sendGap(room);
    } finally {
      // What waited meanwhile, after the last event replayed (see ReplayHolds).
      for (const event of member.holds.end(room, last)) member.write(event);
    }
  }
}
