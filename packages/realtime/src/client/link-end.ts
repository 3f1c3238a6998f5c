import { CloseCode } from '@bancada/internal/wire';
import { backoffDelay } from './backoff.js';
import { RealtimeClientError } from './errors.js';
import type { LinkEnd } from './link.js';
import type { ResolvedClientOptions } from './options.js';
import type { TransportKind } from './types.js';

/** A connection counts as stable, and resets the backoff, after this long. */
const STABLE_MS = 5000;

/** The `unauthorized` error of a link the server refused for who we are: the client stops. */
export function unauthorizedEnd(end: LinkEnd): RealtimeClientError | undefined {
  const { status } = end;
  if (status !== 401 && status !== 403) return undefined;
  return new RealtimeClientError('unauthorized', `the server refused the connection (${status})`, {
    status,
  });
}

/** What else a link's end tells `error` listeners: a refusal, a close for a broken rule. */
export function endErrors(end: LinkEnd): RealtimeClientError[] {
  const { status, code } = end;
  const errors: RealtimeClientError[] = [];
  if (status !== undefined) {
    errors.push(new RealtimeClientError('refused', `the server answered ${status}`, { status }));
  }
  if (code === CloseCode.policy || code === CloseCode.tooBig) {
    errors.push(
      new RealtimeClientError('closed_by_server', `the server closed the connection (${code})`),
    );
  }
  return errors;
}

/** The next link: over which transport, and after how long. */
export interface NextLink {
  transport: TransportKind;
  delayMs: number;
}

/**
 * When to open the next link, and over what: backoff with the server's retry hint as a
 * floor, and the move to SSE when WebSocket never got through.
 */
export class ReconnectPlan {
  /** Reconnect attempts since the last stable connection. */
  private attempt = 0;
  private webSocketFailures = 0;
  private webSocketOpened = false;
  private openedAt = 0;

  constructor(private readonly o: ResolvedClientOptions) {}

  opened(transport: TransportKind): void {
    this.openedAt = Date.now();
    if (transport === 'websocket') {
      this.webSocketOpened = true;
      this.webSocketFailures = 0;
    }
  }

  /** The link over `transport` ended (and the client goes on). */
  next(end: LinkEnd, transport: TransportKind): NextLink {
    if (end.opened && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    if (!end.opened && transport === 'websocket') this.webSocketFailures++;
    if (this.fallBack(transport)) {
      this.o.logger.warn?.(
        `realtime client: WebSocket failed ${this.webSocketFailures} times in a row; using SSE`,
      );
      transport = 'sse';
      this.attempt = 0;
    }
    let delayMs = backoffDelay(this.attempt++, this.o.initialMs, this.o.maxMs);
    if (end.retryAfterMs !== undefined) {
      delayMs = Math.max(delayMs, Math.min(end.retryAfterMs, this.o.maxMs));
    }
    return { transport, delayMs };
  }

  /**
   * Whether to move to SSE for good: WebSocket failed `fallbackAfter` times in a row and never
   * opened (a proxy that blocks upgrades). Once it has worked, failures are outages, which SSE
   * would not fix.
   */
  private fallBack(transport: TransportKind): boolean {
    const { sse } = this.o;
    return (
      sse !== undefined &&
      transport === 'websocket' &&
      !this.webSocketOpened &&
      this.webSocketFailures >= sse.fallbackAfter
    );
  }
}
