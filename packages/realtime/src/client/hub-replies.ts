import { ReplyType } from '@bancada/internal/wire';
import { RealtimeClientError } from './errors.js';
import type { Listeners } from './listeners.js';
import type { Confirmation, Membership } from './membership.js';
import type { ClientErrorCode, RealtimeEvent } from './types.js';

/** Hub errors after which a room is not asked for again. */
const REFUSED_ROOM = new Set(['forbidden', 'invalid_room', 'too_many_rooms']);

/**
 * What the client does with each reply of the hub (a WebSocket frame, an SSE message's
 * data): events emitted once, joins confirmed, gaps told, refused rooms forgotten.
 */
export class HubReplies {
  constructor(
    private readonly membership: Membership,
    private readonly listeners: Listeners,
  ) {}

  handle(m: Record<string, unknown>): void {
    const room = typeof m.room === 'string' ? m.room : undefined;
    switch (m.type) {
      case ReplyType.event:
        if (room !== undefined && typeof m.eventType === 'string') this.event(m, room);
        return;
      case ReplyType.gap:
        if (room !== undefined && !this.membership.isLeaving(room)) {
          this.listeners.emit('gap', { room });
        }
        return;
      case ReplyType.joined:
        if (room !== undefined) this.confirmed(room, this.membership.confirm(room));
        return;
      case ReplyType.left:
        if (room !== undefined) this.membership.left(room);
        return;
      case ReplyType.error: {
        const code = String(m.code) as ClientErrorCode;
        if (room !== undefined && REFUSED_ROOM.has(code)) this.membership.forget(room);
        const message = typeof m.message === 'string' ? m.message : code;
        this.listeners.emit('error', new RealtimeClientError(code, message, room ? { room } : {}));
      }
    }
  }

  /** Tells `joined` listeners, then `gap` listeners when the join may have missed events. */
  confirmed(room: string, confirmation: Confirmation | undefined): void {
    if (confirmation === undefined) return; // not joined (any more)
    this.listeners.emit('joined', { room, resumed: confirmation.resumed });
    if (confirmation.gap) this.listeners.emit('gap', { room });
  }

  private event(m: Record<string, unknown>, room: string): void {
    const id = typeof m.id === 'string' ? m.id : '';
    if (this.membership.accept(room, id)) {
      this.listeners.emit('event', m as unknown as RealtimeEvent);
    }
  }
}
