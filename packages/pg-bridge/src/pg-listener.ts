import { atMost, type Logger, sleep, TimeoutError, within } from '@bancada/internal';
import pg from 'pg';

export interface PgListenerOptions {
  config: pg.ClientConfig;
  channels: string[];
  healthCheckMs: number;
  /** Names the bridge in logs. */
  id: string;
  logger: Logger;
  onNotification(message: pg.Notification): void;
}

/** Reconnect delays grow from this to MAX_BACKOFF_MS (with jitter), and reset once listening. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
/** Why a session ended when `stop()` ended it: not a loss, nothing to log or back off from. */
const STOPPED = 'stopped';

/**
 * One dedicated Postgres session that LISTENs on the bridge's channels while it is wanted
 * (while this instance leads). A lost connection is replaced with backoff and the channels
 * are LISTENed again; an idle one is checked now and then, since a black-holed connection
 * would otherwise wait for notifications forever. `stop()` closes the session, which is the
 * surest UNLISTEN: nothing more can arrive on it.
 */
export class PgListener {
  /** True while the current session has LISTENed and not been lost. */
  listening = false;
  /** Sessions that got as far as LISTEN: the first and every reconnect. */
  connects = 0;
  private wanted = false;
  private running: Promise<void> | undefined;
  /** Ends the current wait: the session in use, or the pause before the next attempt. */
  private interrupt: (() => void) | undefined;
  private inOutage = false;
  private readonly listenSql: string;

  constructor(private readonly o: PgListenerOptions) {
    this.listenSql = o.channels.map((channel) => `LISTEN ${quoteIdentifier(channel)};`).join(' ');
  }

  start(): void {
    this.wanted = true;
    this.running ??= this.run().finally(() => {
      this.running = undefined;
      // Wanted again while the loop was on its way out.
      if (this.wanted) this.start();
    });
  }

  /** Stops listening at once (nothing more is passed on) and closes the session. */
  stop(): Promise<void> {
    this.wanted = false;
    this.listening = false;
    this.interrupt?.();
    return this.running ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.wanted) {
      const { reason, listened } = await this.session();
      if (!this.wanted) break;
      if (reason === STOPPED) continue; // stopped, then wanted again (leader once more)
      if (listened) failures = 0;
      if (!this.inOutage) {
        this.inOutage = true;
        this.o.logger.warn(
          `pg-bridge: ${this.o.id}: ${listened ? 'lost Postgres' : 'cannot LISTEN'} ` +
            `(${reason}); reconnecting with backoff; notifications sent meanwhile are lost`,
        );
      }
      const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** failures);
      failures++;
      await this.pause(delay * (0.5 + Math.random() / 2));
    }
  }

  /** Connects, LISTENs and waits until the session is lost or stopped; says why it ended. */
  private async session(): Promise<{ reason: string; listened: boolean }> {
    const client = new pg.Client(listenerClientConfig(this.o.config, this.o.healthCheckMs));
    let end: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => {
      end = resolve;
    });
    this.interrupt = () => end(STOPPED);
    client.on('error', (error: Error) => end(error.message));
    client.on('end', () => end('connection ended'));
    client.on('notification', (message: pg.Notification) => {
      if (this.listening) this.o.onNotification(message);
    });
    let health: NodeJS.Timeout | undefined;
    try {
      const opened = client.connect().then(() => client.query(this.listenSql));
      const failed = await Promise.race([
        opened.then(
          () => undefined,
          (error: Error) => error.message,
        ),
        ended,
      ]);
      if (failed !== undefined) return { reason: failed, listened: false };
      if (!this.wanted) return { reason: STOPPED, listened: false };
      this.listening = true;
      this.connects++;
      this.o.logger.info(
        `pg-bridge: ${this.o.id}: listening on ${this.o.channels.join(', ')}` +
          (this.inOutage ? ' again' : ''),
      );
      this.inOutage = false;
      health = this.checkHealth(client, end);
      return { reason: await ended, listened: true };
    } finally {
      clearInterval(health);
      this.listening = false;
      this.interrupt = undefined;
      await closeClient(client);
    }
  }

  private checkHealth(client: pg.Client, end: (reason: string) => void): NodeJS.Timeout {
    const timeoutMs = healthCheckTimeoutMs(this.o.healthCheckMs);
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      within(client.query('SELECT 1'), timeoutMs, 'health check timed out')
        .catch((error: Error) =>
          end(
            error instanceof TimeoutError ? error.message : `health check failed: ${error.message}`,
          ),
        )
        .finally(() => {
          checking = false;
        });
    }, this.o.healthCheckMs);
    timer.unref();
    return timer;
  }

  private pause(ms: number): Promise<void> {
    const woken = new AbortController();
    this.interrupt = () => woken.abort();
    return sleep(ms, woken.signal);
  }
}

/** How long a health check may take before the session is given up: 1 to 5 s. */
function healthCheckTimeoutMs(healthCheckMs: number): number {
  return Math.min(5000, Math.max(1000, healthCheckMs));
}

/**
 * The LISTEN session's settings: the caller's, with the server given the bound the bridge
 * gives up at, so a statement of a session it left (it is never reused) stops there too.
 * Settings of the caller's own win.
 */
export function listenerClientConfig(
  config: pg.ClientConfig,
  healthCheckMs: number,
): pg.ClientConfig {
  const timeoutMs = healthCheckTimeoutMs(healthCheckMs);
  return {
    statement_timeout: timeoutMs,
    idle_in_transaction_session_timeout: timeoutMs,
    ...config,
  };
}

/** LISTEN takes an identifier: quoted, so the name is exactly pg_notify()'s first argument. */
function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Ends a session politely if it answers within a second, else drops its socket. */
async function closeClient(client: pg.Client): Promise<void> {
  await atMost(client.end(), 1000);
  const internals = client as unknown as { connection?: { stream?: { destroy(): void } } };
  internals.connection?.stream?.destroy();
}
