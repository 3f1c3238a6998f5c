import { EVERYONE } from '@bancada/internal/wire';

/**
 * The hub's names in Redis, in one place. Channels: `<prefix>ws:broadcast` (every client),
 * `<prefix>ws:restaurant` (the envelope names its room) and `<prefix>ws:room:<room>`; a room's
 * history is the stream `<prefix>ws:history:<room>`.
 */
export class RedisNames {
  readonly broadcastChannel: string;
  readonly restaurantChannel: string;
  private readonly roomChannelPrefix: string;
  private readonly historyPrefix: string;

  constructor(prefix: string) {
    this.broadcastChannel = `${prefix}ws:broadcast`;
    this.restaurantChannel = `${prefix}ws:restaurant`;
    this.roomChannelPrefix = `${prefix}ws:room:`;
    this.historyPrefix = `${prefix}ws:history:`;
  }

  channelOf(room: string): string {
    return room === EVERYONE ? this.broadcastChannel : this.roomChannelPrefix + room;
  }

  historyKeyOf(room: string): string {
    return this.historyPrefix + room;
  }

  /** True for a room's own channel (not the broadcast nor the restaurant one). */
  isRoomChannel(channel: string): boolean {
    return channel.startsWith(this.roomChannelPrefix);
  }

  /**
   * The room a message on `channel` is for: `EVERYONE`, a room, undefined when the envelope
   * names it (the restaurant channel), null when the channel is none of ours.
   */
  roomOf(channel: string): string | undefined | null {
    if (channel === this.broadcastChannel) return EVERYONE;
    if (channel === this.restaurantChannel) return undefined;
    if (this.isRoomChannel(channel)) return channel.slice(this.roomChannelPrefix.length);
    return null;
  }
}
