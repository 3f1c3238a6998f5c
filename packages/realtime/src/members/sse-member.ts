import type { ServerResponse } from 'node:http';
import { notice, sseDataMessage, sseMessage } from '@bancada/internal/wire';
import type { Identity } from '../identity.js';
import type { AwayReason, Member, MemberHost } from './member.js';
import type { Outgoing } from './outgoing.js';
import { ReplayHolds } from './replay-holds.js';
import { type Batched, MAX_BATCH_BYTES } from './write-batch.js';

const ignore = () => {};

/** As for WebSocket members: one shared listener that finds its member on the response. */
const MEMBER = Symbol('bancada.sseMember');
type OwnedResponse = ServerResponse & { [MEMBER]: SseMember };
function onClose(this: OwnedResponse): void {
  this[MEMBER].closed();
}

/** Heartbeats across which a stream's unsent bytes may sit before its peer counts as gone. */
const STUCK_BEATS = 2;

/**
 * One Server-Sent Events stream: `id:`, `event:` and `data:` lines per event, a comment
 * line as heartbeat (it also lets the server notice a dead peer), `retry:` to steer the
 * browser's reconnect.
 */
export class SseMember implements Member, Batched {
  readonly transport = 'sse' as const;
  readonly rooms = new Set<string>();
  private replayHolds: ReplayHolds | undefined;
  private open = true;
  private judging = false;
  /** Bytes still unsent at the last heartbeat, and heartbeats since which none went out. */
  private unsentAtLastBeat = 0;
  private stuckBeats = 0;
  /** Messages held back until the batch flushes: one `res.write` (one chunk) per turn. */
  private pending = '';

  constructor(
    private readonly res: ServerResponse,
    private readonly host: MemberHost,
    readonly identity: Identity,
    readonly releaseSlot: () => void,
  ) {
    (res as OwnedResponse)[MEMBER] = this;
    res.on('close', onClose); // comes once; `once` would cost a wrapper per connection
    res.on('error', ignore);
  }

  /** The stream closed, any way. (Called by the response's shared listener.) */
  closed(): void {
    this.left();
  }

  /** Made on the first resume: most connections never need one. */
  get holds(): ReplayHolds {
    this.replayHolds ??= new ReplayHolds();
    return this.replayHolds;
  }

  get replaying(): ReplayHolds | undefined {
    return this.replayHolds;
  }

  write(event: Outgoing): boolean {
    if (!this.open) return false;
    const encoded = event.in(this.host.format);
    if (encoded === null) return false;
    if (this.res.writableLength > this.host.maxBufferedBytes) this.judgeAfterThisTick();
    this.hold(encoded.sseMessage);
    return true;
  }

  sendGap(room: string): void {
    if (!this.open) return;
    const gap = notice.gap(room);
    const text = this.host.format.notice(gap);
    if (text === undefined) return;
    // The hub's notices are named (`event: gap`); an app's own are plain messages, as its events.
    this.hold(
      this.host.format.hubNotices ? sseMessage(gap.type, text) : sseDataMessage(undefined, text),
    );
  }

  get bufferedBytes(): number {
    return this.res.writableLength + this.pending.length;
  }

  /** Writes the messages held back, in one piece. */
  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending;
    this.pending = '';
    if (this.open) this.res.write(text);
  }

  /**
   * Writes the heartbeat comment, and lets go of a peer that stopped reading. Its unsent
   * bytes stay below `maxBufferedBytes` when no events flow, so that bound never trips:
   * here, bytes that sat unsent across STUCK_BEATS heartbeats without shrinking do.
   */
  heartbeat(): void {
    if (!this.open) return;
    const unsent = this.res.writableLength;
    this.stuckBeats = unsent > 0 && unsent >= this.unsentAtLastBeat ? this.stuckBeats + 1 : 0;
    this.unsentAtLastBeat = unsent;
    if (this.stuckBeats >= STUCK_BEATS) {
      this.dropAsSlow();
      return;
    }
    this.res.write(': ping\n\n');
  }

  /** Ends the stream, telling the browser when to reconnect (its reconnect is checked anew). */
  sendAway(_reason: AwayReason, retryAfterMs: number): Promise<void> {
    if (this.open) {
      this.flush();
      this.res.end(`retry: ${Math.round(retryAfterMs)}\n\n`);
      this.left();
    }
    return Promise.resolve();
  }

  /** Keeps a message for the batch's flush; a batch that reaches MAX_BATCH_BYTES goes at once. */
  private hold(message: string): void {
    if (this.pending.length === 0) this.host.batch.add(this);
    this.pending += message;
    if (this.pending.length >= MAX_BATCH_BYTES) this.flush();
  }

  /**
   * An HTTP response keeps its socket corked until the next tick, so whatever was written
   * in this tick counts as unsent even to a client that reads well. Only what the kernel
   * still has not taken once the tick is over says the client is slow.
   */
  private judgeAfterThisTick(): void {
    if (this.judging) return;
    this.judging = true;
    setImmediate(() => {
      this.judging = false;
      if (!this.open || this.res.writableLength <= this.host.maxBufferedBytes) return;
      this.dropAsSlow();
    });
  }

  private dropAsSlow(): void {
    this.left();
    this.host.slow(this);
    this.res.destroy();
  }

  private left(): void {
    if (!this.open) return;
    this.open = false;
    this.pending = ''; // nobody to write it to
    this.host.gone(this);
  }
}
