import { RequestType } from '@bancada/internal/wire';
import { openEventStream } from './event-stream-link.js';
import { HubReplies } from './hub-replies.js';
import type { Link, LinkEnd, LinkEvents } from './link.js';
import { endErrors, ReconnectPlan, unauthorizedEnd } from './link-end.js';
import { LinkWatch } from './link-watch.js';
import { Listeners } from './listeners.js';
import { Membership } from './membership.js';
import {
  type ClientOptions,
  checkRoom,
  type ResolvedClientOptions,
  resolveOptions,
} from './options.js';
import type { ClientEventMap, ClientState, StateChange, TransportKind } from './types.js';
import { openWebSocket } from './websocket-link.js';

/** A connection to the hub that keeps itself up: see `connect()`. */
export interface RealtimeClient {
  /** Where the connection is; `state` listeners hear every change. */
  readonly state: ClientState;
  /** The link in use now; `sse` after a fallback, for the rest of the client's life. */
  readonly transport: TransportKind;
  /** The rooms the client is in, or will be once connected. */
  readonly rooms: readonly string[];
  /**
   * Joins a room, now or as soon as the link is up, and again after every reconnect
   * (resuming after the last event seen in it). A room the hub refuses (`forbidden`,
   * `invalid_room`, `too_many_rooms`) is forgotten and reported to `error` listeners.
   */
  join(room: string): void;
  /** Leaves a room: no event of it is emitted from now on. */
  leave(room: string): void;
  /** Listens; returns the function that stops listening. */
  on<K extends keyof ClientEventMap>(
    name: K,
    listener: (value: ClientEventMap[K]) => void,
  ): () => void;
  /** Closes the link and stops for good: no reconnect, no timer left. */
  close(): void;
}

/**
 * Connects to the hub at `url` (`ws://` or `wss://`) and stays connected: it reconnects
 * with backoff, joins its rooms again and resumes each after the last event it saw, emits
 * every event once, and falls back to Server-Sent Events where WebSocket cannot work.
 */
export function connect(url: string, options?: ClientOptions): RealtimeClient {
  return new Client(resolveOptions(url, options));
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Keeps one link up at a time: opens it, asks for the rooms once it is open, drops it when
 * it dies and schedules the next. The rest is delegated: the rooms to `Membership`, the
 * hub's replies to `HubReplies`, the link's timers to `LinkWatch`, when and over what to
 * reconnect to `ReconnectPlan`, listeners to `Listeners`.
 */
class Client implements RealtimeClient {
  state: ClientState = 'connecting';
  transport: TransportKind;
  private readonly membership = new Membership();
  private readonly listeners: Listeners;
  private readonly replies: HubReplies;
  private readonly watch: LinkWatch;
  private readonly reconnects: ReconnectPlan;
  private link: Link | undefined;
  /** Bumped for each link: callbacks of an older one are ignored. */
  private generation = 0;
  private linkOpen = false;
  /** The rooms in the current SSE stream's URL. */
  private streamRooms = '';
  private restreaming = false;
  private retryTimer: Timer | undefined;

  constructor(private readonly o: ResolvedClientOptions) {
    this.listeners = new Listeners(o.logger);
    this.replies = new HubReplies(this.membership, this.listeners);
    this.reconnects = new ReconnectPlan(o);
    this.watch = new LinkWatch(o, {
      ping: () => this.link?.send({ type: RequestType.ping }),
      dead: (why) => this.dead(why),
    });
    this.transport = o.createWebSocket ? 'websocket' : 'sse';
    // Rooms joined right after connect() go in the first SSE stream's URL.
    queueMicrotask(() => this.openLink());
  }

  get rooms(): string[] {
    return [...this.membership.names()];
  }

  join(room: string): void {
    checkRoom(room, 'join()');
    if (this.state === 'closed' || !this.membership.join(room)) return;
    if (!this.linkOpen) return; // asked for once the link opens
    if (this.transport === 'websocket') this.ask(room);
    else this.restream();
  }

  leave(room: string): void {
    checkRoom(room, 'leave()');
    if (!this.membership.forget(room) || !this.linkOpen) return;
    this.membership.awaitLeft(room);
    if (this.transport === 'websocket') this.link?.send({ type: RequestType.unsubscribe, room });
    else this.restream();
  }

  on<K extends keyof ClientEventMap>(
    name: K,
    listener: (value: ClientEventMap[K]) => void,
  ): () => void {
    return this.listeners.on(name, listener);
  }

  close(): void {
    if (this.state === 'closed') return;
    this.dropLink(false);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState('closed');
  }

  // --- the link --------------------------------------------------------------------------

  private openLink(): void {
    this.retryTimer = undefined;
    if (this.state === 'closed') return;
    const generation = ++this.generation;
    const mine = () => generation === this.generation;
    const events: LinkEvents = {
      opened: () => mine() && this.opened(),
      frame: (message) => mine() && this.replies.handle(message),
      heard: () => {
        if (mine()) this.watch.heard();
      },
      ended: (end) => mine() && this.ended(end),
    };
    this.membership.newLink();
    const { createWebSocket, sse } = this.o;
    if (this.transport === 'websocket' && createWebSocket) {
      this.link = openWebSocket(createWebSocket, this.o.url, events);
    } else if (sse) {
      const rooms = this.rooms;
      this.streamRooms = rooms.join('\n');
      let url: string;
      try {
        url = sse.url(rooms);
      } catch (error) {
        this.o.logger.error?.(`realtime client: sse.url() threw: ${(error as Error)?.message}`);
        queueMicrotask(() => events.ended({ opened: false }));
        return;
      }
      this.link = openEventStream(sse.fetch, url, this.membership.streamSince(), events);
    }
    this.watch.opening();
  }

  private opened(): void {
    this.linkOpen = true;
    this.reconnects.opened(this.transport);
    if (this.transport === 'websocket') {
      this.watch.startPinging();
      for (const room of this.membership.names()) this.ask(room);
    } else {
      this.watch.heard();
      if (this.rooms.join('\n') !== this.streamRooms) {
        this.restream(); // rooms changed while the stream was opening
        return;
      }
      this.watch.watchSilence();
      const resumed = this.membership.streamSince() !== undefined;
      for (const room of this.membership.names()) {
        this.replies.confirmed(room, this.membership.streamed(room, resumed));
      }
    }
    this.setState('open');
  }

  /** Asks the hub for a room: a resume after its last event, when there is one. */
  private ask(room: string): void {
    const request = this.membership.request(room);
    if (request !== undefined) this.link?.send(request);
  }

  /** Opens a new SSE stream for the rooms as they are now, once per burst of joins and leaves. */
  private restream(): void {
    if (this.restreaming) return;
    this.restreaming = true;
    queueMicrotask(() => {
      this.restreaming = false;
      // Closed, or waiting to reconnect: the next stream is made with the rooms as they are.
      if (this.state === 'closed' || this.retryTimer !== undefined) return;
      this.dropLink(false);
      this.openLink();
    });
  }

  private dead(why: string): void {
    this.o.logger.info?.(`realtime client: the ${this.transport} link ${why}; dropping it`);
    const opened = this.linkOpen;
    this.dropLink(true);
    this.ended({ opened });
  }

  /** Drops the current link, if any, without reporting its end. */
  private dropLink(hard: boolean): void {
    this.generation++;
    this.link?.close(hard);
    this.link = undefined;
    this.linkOpen = false;
    this.watch.stop();
  }

  private ended(end: LinkEnd): void {
    this.dropLink(false);
    if (this.state === 'closed') return;
    const unauthorized = unauthorizedEnd(end);
    if (unauthorized !== undefined) {
      this.listeners.emit('error', unauthorized);
      this.close();
      return;
    }
    for (const error of endErrors(end)) this.listeners.emit('error', error);
    // An error listener may have closed the client meanwhile.
    if ((this.state as ClientState) === 'closed') return;
    const { transport, delayMs: delay } = this.reconnects.next(end, this.transport);
    this.transport = transport;
    const { code } = end;
    this.o.logger.info?.(
      `realtime client: disconnected${code === undefined ? '' : ` (${code})`}; again in ${delay} ms`,
    );
    // Not unref()ed, unlike the link's timers: in Node, a client waiting to reconnect is
    // what keeps a process that only listens alive, as its socket does once connected.
    this.retryTimer = setTimeout(() => this.openLink(), delay);
    const change: Partial<StateChange> = { retryInMs: delay };
    if (code !== undefined) change.closeCode = code;
    this.setState('reconnecting', change);
  }

  /** Tells `state` listeners of a change, and of each new reconnect delay. */
  private setState(state: ClientState, extra: Partial<StateChange> = {}): void {
    const previous = this.state;
    if (state === previous && state !== 'reconnecting') return;
    this.state = state;
    this.listeners.emit('state', { ...extra, state, previous, transport: this.transport });
  }
}
