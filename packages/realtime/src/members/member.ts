import type { PathFormat } from '../formats/path-format.js';
import type { Identity } from '../identity.js';
import type { Outgoing } from './outgoing.js';
import type { ReplayHolds } from './replay-holds.js';
import type { WriteBatch } from './write-batch.js';

/** Why a client is sent away: the server restarts, its session ended, or a room is no longer its. */
export type AwayReason = 'restart' | 'session-ended' | 'no-longer-allowed';

/** A connected client of either transport: a WebSocket or an SSE stream. */
export interface Member {
  readonly transport: 'websocket' | 'sse';
  readonly rooms: Set<string>;
  /** Who the connection belongs to, checked again now and then. */
  readonly identity: Identity;
  /** Its replays of rooms' history and the live events held meanwhile (made on first use). */
  readonly holds: ReplayHolds;
  /** Its holds if it ever replayed: what room sync asks before it writes a live event. */
  readonly replaying: ReplayHolds | undefined;
  /**
   * Writes an event now; false when the client did not get it: closed, closed as slow, or
   * its path's format skips the event.
   */
  write(event: Outgoing): boolean;
  /** Bytes written to the connection that its client has not taken yet (held back ones too). */
  readonly bufferedBytes: number;
  /** Tells the client that events of the room were lost: it should reload what it shows. */
  sendGap(room: string): void;
  /** Called every heartbeat: lets go of a client that stopped answering or reading. */
  heartbeat(): void;
  /** Closes the connection, saying why and when to come back; resolves once it is closed. */
  sendAway(reason: AwayReason, retryAfterMs: number): Promise<void>;
  /** Gives back the connection's slot (its lease from the connection gate); idempotent. */
  readonly releaseSlot: () => void;
}

/**
 * What a member of either transport needs from the hub: one per attached path (or SSE
 * handler), shared by its members.
 */
export interface MemberHost {
  readonly maxBufferedBytes: number;
  /** Gathers each member's writes of a turn (or of the write delay) into one. */
  readonly batch: WriteBatch;
  /** How the member's path speaks: events, notices, requests. */
  readonly format: PathFormat;
  /** The member is gone (any way): leave every room, give its slot back. */
  gone(member: Member): void;
  /** The member was closed for not reading. */
  slow(member: Member): void;
}
