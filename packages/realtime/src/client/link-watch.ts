type Timer = ReturnType<typeof setTimeout>;

/** What the watch does to the link it watches. */
export interface Watched {
  /** Sends a ping over the link. */
  ping(): void;
  /** The link is dead (`why` is for the log): drop it and reconnect. */
  dead(why: string): void;
}

/**
 * The timers of one link: how long it may take to open, then whether it is still alive. A
 * WebSocket must answer its pings; an SSE stream, where nothing is sent, must keep bringing
 * the hub's heartbeats.
 */
export class LinkWatch {
  /** Connect timeout, then ping timeout (WebSocket) or silence timeout (SSE). */
  private deadline: Timer | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  /** On an open WebSocket anything that arrives answers the ping. */
  private pinging = false;

  constructor(
    private readonly timing: { pingIntervalMs: number; pingTimeoutMs: number },
    private readonly link: Watched,
  ) {}

  /** A link is being opened: it has `pingTimeoutMs` to open. */
  opening(): void {
    this.arm(this.timing.pingTimeoutMs, () => this.link.dead('did not open'));
  }

  /** Something arrived on the link, even a heartbeat. */
  heard(): void {
    this.lastHeard = Date.now();
    if (this.pinging) this.disarm();
  }

  /** The WebSocket opened: it is pinged every `pingIntervalMs` (0: never). */
  startPinging(): void {
    this.pinging = true;
    this.heard();
    if (this.timing.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.ping(), this.timing.pingIntervalMs);
      unref(this.pingTimer);
    }
  }

  /** The SSE stream is dead once the hub has been silent for a ping's interval and timeout. */
  watchSilence(): void {
    if (this.timing.pingIntervalMs === 0) {
      this.disarm();
      return;
    }
    const silence = this.timing.pingIntervalMs + this.timing.pingTimeoutMs;
    this.arm(silence - (Date.now() - this.lastHeard), () => {
      if (Date.now() - this.lastHeard >= silence) this.link.dead('went silent');
      else this.watchSilence();
    });
  }

  /** The link is gone: no timer is left. */
  stop(): void {
    this.pinging = false;
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.disarm();
  }

  private ping(): void {
    if (this.deadline !== undefined) return; // the last one is still unanswered
    this.link.ping();
    this.arm(this.timing.pingTimeoutMs, () => this.link.dead('did not answer a ping'));
  }

  private arm(ms: number, fn: () => void): void {
    this.disarm();
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      fn();
    }, ms);
    unref(this.deadline);
  }

  private disarm(): void {
    clearTimeout(this.deadline);
    this.deadline = undefined;
  }
}

/** A dead-link check never holds a Node process open. */
function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
