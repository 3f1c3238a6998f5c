import { CloseCode } from '@bancada/internal/wire';
import { type Link, type LinkEnd, type LinkEvents, parseObject } from './link.js';
import type { WebSocketLike } from './types.js';

const OPEN = 1;

/** Opens one WebSocket and reports what happens to it. */
export function openWebSocket(
  create: (url: string) => WebSocketLike,
  url: string,
  events: LinkEvents,
): Link {
  let done = false;
  let opened = false;
  let status: number | undefined;
  const end = (info: LinkEnd) => {
    if (done) return;
    done = true;
    events.ended(info);
  };
  let ws: WebSocketLike;
  try {
    ws = create(url);
  } catch {
    // A URL the platform refuses, a blocked scheme: a failed attempt like any other.
    queueMicrotask(() => end({ opened: false }));
    return {
      send() {},
      close() {
        done = true;
      },
    };
  }
  ws.onopen = () => {
    if (done) return;
    opened = true;
    events.opened();
  };
  ws.onmessage = (event) => {
    if (done) return;
    events.heard();
    const message = typeof event.data === 'string' ? parseObject(event.data) : undefined;
    if (message !== undefined) events.frame(message);
  };
  // Kept even when done: `ws` throws an 'error' event that has no listener.
  ws.onerror = (event) => {
    status ??= refusalStatus(event);
  };
  ws.onclose = (event) => {
    const info: LinkEnd = { opened, code: event.code };
    // 4401/4403: the hub found the session ended, or the room no longer allowed, while open.
    if (event.code === CloseCode.sessionEnded || event.code === CloseCode.noLongerAllowed)
      status ??= event.code - 4000;
    if (status !== undefined) info.status = status;
    if (event.code === CloseCode.restart) {
      const wait = retryAfterOf(event.reason);
      if (wait !== undefined) info.retryAfterMs = wait;
    }
    end(info);
  };
  return {
    send(message) {
      if (!done && ws.readyState === OPEN) ws.send(JSON.stringify(message));
    },
    close(hard) {
      if (done) return;
      done = true;
      try {
        if (hard && ws.terminate) ws.terminate();
        else ws.close(1000);
      } catch {
        // Already closing: nothing more to do.
      }
    },
  };
}

/**
 * The HTTP status of a refused upgrade. Browsers never show it; `ws` says
 * "Unexpected server response: 401" in its error event.
 */
function refusalStatus(event: unknown): number | undefined {
  const e = event as { message?: unknown; error?: { message?: unknown } } | null;
  const text = `${e?.message ?? ''} ${e?.error?.message ?? ''}`;
  const match = /Unexpected server response: (\d{3})/.exec(text);
  return match ? Number(match[1]) : undefined;
}

function retryAfterOf(reason: string): number | undefined {
  const wait = parseObject(reason)?.retryAfterMs;
  return typeof wait === 'number' && wait >= 0 && Number.isFinite(wait) ? wait : undefined;
}
