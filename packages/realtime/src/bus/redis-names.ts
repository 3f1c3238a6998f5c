import { EVERYONE } from '@bancada/internal/wire';

/**
 * The hub's names in Redis, in one place. Channels: `<prefix>ws:broadcast` (every client),
 * `<prefix>ws:restaurant` (the envelope names its room) and `<prefix>ws:room:<room>`; a room's
 * history is the stream `<prefix>ws:history:<room>`.
 *
 * On a Redis Cluster (`hashTags`) the room goes in braces, `<prefix>ws:room:{<room>}` and
 * `<prefix>ws:history:{<room>}`: a room's channel and its history then share one hash slot,
 * so the script that appends and publishes runs on one node, and rooms spread over the
 * masters. One node and Sentinel keep the names without braces that outside publishers know.
 */
export class RedisNames {
  readonly broadcastChannel: string;
  readonly restaurantChannel: string;
  private readonly roomChannelPrefix: string;
  private readonly historyPrefix: string;
  private readonly open: string;
  private readonly close: string;

  constructor(prefix: string, { hashTags = false }: { hashTags?: boolean } = {}) {
    this.broadcastChannel = `${prefix}ws:broadcast`;
    this.restaurantChannel = `${prefix}ws:restaurant`;
    this.roomChannelPrefix = `${prefix}ws:room:`;
    this.historyPrefix = `${prefix}ws:history:`;
    this.open = hashTags ? '{' : '';
    this.close = hashTags ? '}' : '';
  }

  channelOf(room: string): string {
    return room === EVERYONE ? this.broadcastChannel : this.roomChannelPrefix + this.tagged(room);
  }

  historyKeyOf(room: string): string {
    return this.historyPrefix + this.tagged(room);
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
    if (!this.isRoomChannel(channel)) return null;
    const tagged = channel.slice(this.roomChannelPrefix.length);
    if (!tagged.startsWith(this.open) || !tagged.endsWith(this.close)) return null;
    return tagged.slice(this.open.length, tagged.length - this.close.length);
  }

  private tagged(room: string): string {
    return this.open + room + this.close;
  }
}
