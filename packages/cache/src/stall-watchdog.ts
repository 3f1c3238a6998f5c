import type { Redis } from 'ioredis';

/**
 * Notices a Redis that stopped answering without closing the connection (a hung server, a
 * black-holed network) and reports it; the owner then drops the connection, which rejects
 * every pending command at once, and ioredis reconnects by itself.
 *
 * One timer per connection instead of ioredis's `commandTimeout`, which arms and clears a
 * timer for every command: on the hot path that cost more than the rest of a cache read.
 * A stall is declared when commands have been pending and no byte has arrived for
 * `timeoutMs`, so a call waits at most about 1.25 × timeoutMs.
 */
export class StallWatchdog {
  private lastDataAt = 0;
  private pendingSince: number | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: Redis,
    private readonly timeoutMs: number,
    private readonly onStall: (message: string) => void,
  ) {
    const onData = () => {
      this.lastDataAt = Date.now();
    };
    // The socket is new after every reconnect.
    client.on('connect', () => {
      this.lastDataAt = Date.now();
      client.stream.on('data', onData);
    });
    this.timer = setInterval(() => this.check(), Math.max(1, Math.floor(timeoutMs / 4)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (!this.looksStalled()) return;
    // Timers run before the event loop reads sockets: after the process itself was busy
    // (a long synchronous task, a GC pause) the answer may be waiting unread. Look again
    // once pending I/O has been read, so a slow process is not taken for a slow Redis.
    setImmediate(() => {
      if (!this.looksStalled()) return;
      this.pendingSince = undefined;
      this.onStall(`no answer from Redis within ${this.timeoutMs} ms`);
    });
  }

  private looksStalled(): boolean {
    if (this.client.status !== 'ready' || this.client.commandQueue.length === 0) {
      this.pendingSince = undefined;
      return false;
    }
    const now = Date.now();
    this.pendingSince ??= now;
    return now - Math.max(this.lastDataAt, this.pendingSince) >= this.timeoutMs;
  }
}
