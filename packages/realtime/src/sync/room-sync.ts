import { describeRedisError, type ThrottledLog } from '@bancada/internal';
import {
  type Envelope,
  EVERYONE,
  encodeEnvelope,
  gapMarkBody,
  isGapMark,
} from '@bancada/internal/wire';
import type { RedisBus } from '../bus/redis-bus.js';
import type { HubCounters } from '../counters.js';
import type { Members } from '../members/members.js';
import { Outgoing } from '../members/outgoing.js';
import type { HubTracing } from '../tracing/hub-tracing.js';
import type { FanoutMode } from '../types.js';
import { Delivered } from './delivered.js';
import { GapCounter } from './gap-counter.js';
import type { HistoryReader } from './history.js';

/** Rooms remembered as having events that bypassed their history (see `taint`). */
const MAX_TAINTED_ROOMS = 10_000;
/**
 * How far before the moment Redis was seen lost a quiet room's history is looked at: a loss
 * is noticed a little late, and history positions come from Redis's clock, not ours.
 */
const LOSS_MARGIN_MS = 10_000;

export interface RoomSyncParts {
  instanceId: string;
  members: Members;
  bus: RedisBus | undefined;
  history: HistoryReader | undefined;
  counters: HubCounters;
  log: ThrottledLog;
  fanout(): FanoutMode;
  closing(): boolean;
  /** Seconds from an event's `ts` to its write on the last local socket of its room. */
  observeLatency(seconds: number): void;
  /** Spans of deliveries, for envelopes published in a trace; undefined: no tracing. */
  tracing: HubTracing | undefined;
}

/**
 * Room synchronisation: every event this instance delivers comes in here, from a local
 * publish, from Redis or from a room's history, and goes out to the room's members in one
 * place (`deliver`). A room with history is delivered in the order of its positions, by
 * every instance alike (its own events too, when they come back from Redis); a hole in what
 * arrives is filled from the history, or told to the room's clients as `gap` when it cannot
 * be; the one rule against duplicates is `Delivered`'s.
 */
export class RoomSync {
  private readonly delivered = new Delivered();
  private readonly gaps = new GapCounter();
  /** Rooms being caught up from their history; live events of them wait here. */
  private readonly catchingUp = new Map<string, Envelope[]>();
  /** Rooms with history whose events went out while Redis was away (see `taint`). */
  private readonly tainted = new Set<string>();
  /** When Redis was lost (this machine's clock), until the hub has recovered from it. */
  private lostAt: number | undefined;

  constructor(private readonly p: RoomSyncParts) {}

  keepsHistory(room: string): boolean {
    return this.p.history?.keeps(room) ?? false;
  }

  /**
   * A local publish. Local clients get it at once and the other instances through Redis,
   * except in a room with history: there it is appended and published in one step, and
   * every instance, this one included, delivers it when it comes back from Redis, in the
   * order of the history. Never rejects.
   */
  async publish(envelope: Envelope, body: string): Promise<Envelope> {
    this.p.counters.published++;
    const bus = this.p.fanout() === 'off' ? undefined : this.p.bus;
    const room = envelope.room;
    if (bus && this.keepsHistory(room)) {
      if (bus.usable) {
        this.markBeforeNext(room, bus);
        try {
          return { ...envelope, id: await bus.append(room, body) };
        } catch {
          // Not in the history, and perhaps nowhere else: this instance's clients get it
          // now, and the other instances are told of a gap once Redis answers again.
          this.p.counters.fanoutDropped++;
          this.taint(room);
          this.deliver(envelope);
          this.delivered.withoutPosition(envelope); // its append may still turn up late
          return envelope;
        }
      }
      this.taint(room);
    }
    // Redis first: the other instances then write to their clients while this one does.
    bus?.publish(room, encodeEnvelope(envelope));
    this.deliver(envelope);
    return envelope;
  }

  /**
   * A room that lost events gets its gap mark before its next event: publishing can work
   * again before `recovered` runs (the commanding connection back before the subscriber),
   * and a mark after the events that follow the hole would tell the other instances late.
   * Sent before the event on the same connection, so the history has them in this order.
   */
  private markBeforeNext(room: string, bus: RedisBus): void {
    if (!this.tainted.delete(room)) return;
    const mark = gapMarkBody(room, this.p.instanceId, Date.now());
    bus.append(room, mark).catch(() => this.taint(room));
  }

  /** An envelope from Redis. */
  arrive(envelope: Envelope): void {
    const room = envelope.room;
    const own = envelope.origin === this.p.instanceId;
    if (own && !this.keepsHistory(room)) return; // delivered when it was published
    let missed = 0;
    if (envelope.origin !== undefined && envelope.seq !== undefined) {
      // Counted in every mode, so that a switch to `on` does not look like a loss. Own
      // echoes are this instance's delivery of them: a hole there (echoes lost while
      // resubscribing) is filled too, but it is not another instance's event missed here.
      missed = this.gaps.note(room, envelope.origin, envelope.seq);
      if (!own) this.p.counters.fanoutMissed += missed;
    }
    if (this.p.closing() || this.p.fanout() === 'off') return;
    if (this.p.fanout() === 'dry-run' && !own) {
      this.p.counters.dryRunSkipped += this.membersOf(room)?.size ?? 0;
      return;
    }
    const waiting = this.catchingUp.get(room);
    if (waiting !== undefined) {
      waiting.push(envelope);
      return;
    }
    if (missed > 0) {
      if (this.keepsHistory(room) && this.delivered.lastOf(room) !== undefined) {
        // What went missing is in the history: fetch it, then go on from there.
        this.catchingUp.set(room, [envelope]);
        void this.catchUp(room);
        return;
      }
      this.gapTo(room);
    }
    this.deliver(envelope);
  }

  /** Redis was lost: from here on, events may bypass the history or go by unheard. */
  lost(): void {
    this.lostAt ??= Date.now();
  }

  /** Redis is back: mark the gaps this instance caused, and fill those it suffered. */
  recovered(): void {
    const { bus, history } = this.p;
    if (bus === undefined || history === undefined || this.p.closing()) return;
    for (const room of [...this.tainted]) {
      this.tainted.delete(room);
      const mark = gapMarkBody(room, this.p.instanceId, Date.now());
      bus.append(room, mark).catch(() => this.taint(room));
    }
    for (const room of this.delivered.rooms()) {
      if (!this.catchingUp.has(room)) void this.catchUp(room);
    }
    const lostAt = this.lostAt;
    this.lostAt = undefined;
    for (const room of this.p.members.roomNames()) {
      if (
        this.keepsHistory(room) &&
        this.delivered.lastOf(room) === undefined &&
        !this.catchingUp.has(room)
      ) {
        void this.checkUnheard(room, lostAt);
      }
    }
  }

  /**
   * On a cluster, the rooms' subscriptions are moving to another master (their slot moved):
   * their live events wait from now on, until `subscribed` resolves and what they missed
   * meanwhile has been read from their history (`gap` where it cannot be).
   */
  resubscribing(rooms: string[], subscribed: Promise<unknown>): void {
    const history = this.p.history;
    if (history === undefined) return;
    for (const room of rooms) {
      const last = this.delivered.lastOf(room);
      if (!this.keepsHistory(room) || last === undefined || this.catchingUp.has(room)) continue;
      void this.withLiveEventsHeld(room, async () => {
        await subscribed;
        const { entries, complete } = await history.since(room, last);
        if (!complete) this.gapTo(room);
        for (const entry of entries) this.deliver(entry);
      });
    }
  }

  /** The room lost its last local member: what it misses from now on is nobody's here. */
  forget(room: string): void {
    this.gaps.forget(room);
    this.delivered.forget(room);
  }

  /** Tells this instance's clients of the room that some of its events were lost. */
  gapTo(room: string): void {
    const members = this.p.members.of(room);
    if (members) for (const member of members) member.sendGap(room);
  }

  /**
   * The one way out: an event (or a mark of lost events) to this instance's members of its
   * room, in order, once (see Delivered), encoded once for all of them. A member replaying
   * the room's history gets it after the replay (its ReplayHolds).
   */
  private deliver(envelope: Envelope): void {
    const room = envelope.room;
    if (this.delivered.isLateEcho(envelope, this.p.instanceId)) return;
    const members = this.membersOf(room);
    if (members === undefined || members.size === 0) return;
    if (this.keepsHistory(room) && !this.delivered.advance(room, envelope)) return;
    if (isGapMark(envelope)) {
      // The instance that lost the events delivered them to its own clients.
      if (envelope.origin !== this.p.instanceId) this.gapTo(room);
      return;
    }
    const span =
      envelope.traceparent === undefined
        ? undefined
        : this.p.tracing?.startDelivery(envelope, members.size);
    const event = new Outgoing(envelope);
    let delivered = 0;
    for (const member of members) {
      const route = member.replaying?.route(event) ?? 'send';
      if (route === 'kept' || (route === 'send' && member.write(event))) delivered++;
    }
    this.p.counters.delivered += delivered;
    const latency = (Date.now() - envelope.ts) / 1000;
    this.p.observeLatency(latency);
    span?.end(delivered, latency);
  }

  private membersOf(room: string) {
    return room === EVERYONE ? this.p.members.everyone : this.p.members.of(room);
  }

  /** Fills what this instance missed of a room from its history, then lets live events through. */
  private catchUp(room: string): Promise<void> {
    const last = this.delivered.lastOf(room);
    return this.withLiveEventsHeld(room, async () => {
      if (last === undefined || this.p.history === undefined) return;
      const { entries, complete } = await this.p.history.since(room, last);
      if (!complete) this.gapTo(room);
      for (const entry of entries) this.deliver(entry);
    });
  }

  /**
   * A room whose clients had no event since they joined has no position to catch up from:
   * they get `gap` if its history changed since Redis was lost (or that cannot be told), and
   * nothing if the room was quiet all along. Live events wait meanwhile, behind any gap.
   */
  private checkUnheard(room: string, lostAt: number | undefined): Promise<void> {
    return this.withLiveEventsHeld(room, async () => {
      if (lostAt === undefined || this.p.history === undefined) {
        this.gapTo(room);
        return;
      }
      const since = `${lostAt - LOSS_MARGIN_MS}-0`;
      const { entries, complete, exists } = await this.p.history.since(room, since);
      if (exists && (entries.length > 0 || !complete)) this.gapTo(room);
    });
  }

  /**
   * Runs `work` (a read of the room's history) with the room's live events held back, then
   * lets them through in order; positions already delivered are skipped. Its clients get
   * `gap` if the history cannot be read. Holds from the call on, not from the first await.
   */
  private async withLiveEventsHeld(room: string, work: () => Promise<void>): Promise<void> {
    if (!this.catchingUp.has(room)) this.catchingUp.set(room, []);
    try {
      await work();
    } catch (error) {
      this.p.log.warn('catch-up', `realtime: could not read history: ${describeRedisError(error)}`);
      this.gapTo(room);
    } finally {
      const waiting = this.catchingUp.get(room) ?? [];
      this.catchingUp.delete(room);
      for (const envelope of waiting) this.deliver(envelope);
    }
  }

  /**
   * Remembers that events of a room with history went out while Redis was away: they are
   * in no history, and the other instances never got them. Once Redis answers, a mark of
   * the gap goes into the room's history and to every instance.
   */
  private taint(room: string): void {
    if (this.tainted.size < MAX_TAINTED_ROOMS) this.tainted.add(room);
    else this.p.log.warn('taint', 'realtime: too many rooms lost events to mark them all');
  }
}
