import { type Link, type LinkEnd, type LinkEvents, parseObject } from './link.js';
import type { FetchLike, FetchResponseLike } from './types.js';

/**
 * Opens one Server-Sent Events stream with fetch and reads it. Not with EventSource: the hub
 * names each message after its eventType (`event: order-created`), and EventSource delivers
 * a named message only to a listener for that very name, with no catch-all; fetch also lets
 * a new stream resume (`Last-Event-ID`), and shows the status of a refusal.
 */
export function openEventStream(
  fetch: FetchLike,
  url: string,
  lastEventId: string | undefined,
  events: LinkEvents,
): Link {
  const abort = new AbortController();
  let done = false;
  let opened = false;
  let retryMs: number | undefined;
  const end = (info: LinkEnd) => {
    if (done) return;
    done = true;
    abort.abort();
    events.ended(info);
  };

  let buffer = '';
  let data: string[] = [];
  const line = (text: string) => {
    if (text === '') {
      const message = data.length > 0 ? parseObject(data.join('\n')) : undefined;
      data = [];
      if (message !== undefined) events.frame(message);
      return;
    }
    const colon = text.indexOf(':');
    if (colon === 0) return; // a comment: the heartbeat
    const field = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? '' : text.slice(text[colon + 1] === ' ' ? colon + 2 : colon + 1);
    // `id:` and `event:` are not needed: the JSON in `data:` has the id, room and type.
    if (field === 'data') data.push(value);
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
  };

  const read = async () => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    let res: FetchResponseLike;
    try {
      res = await fetch(url, { headers, signal: abort.signal, cache: 'no-store' });
    } catch {
      end({ opened: false });
      return;
    }
    if (done) return;
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok || !type.includes('text/event-stream') || res.body === null) {
      const info: LinkEnd = { opened: false, status: res.status };
      const wait = Number(res.headers.get('retry-after') ?? Number.NaN);
      if (wait >= 0) info.retryAfterMs = wait * 1000;
      end(info);
      return;
    }
    opened = true;
    events.opened();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const chunk = await reader.read();
        if (done) return;
        if (chunk.done) break;
        events.heard();
        buffer += decoder.decode(chunk.value, { stream: true });
        // A CR at the very end may be the first half of a CRLF: it waits for the next chunk.
        const lines = buffer.split(/\r\n|\n|\r(?!$)/);
        buffer = lines.pop() ?? '';
        for (const text of lines) {
          line(text);
          if (done) return;
        }
      }
    } catch {
      // The connection dropped: as if the stream had ended.
    }
    end(retryMs === undefined ? { opened } : { opened, retryAfterMs: retryMs });
  };
  read().catch(() => end({ opened }));

  return {
    send() {}, // the stream's rooms are in its URL
    close() {
      if (done) return;
      done = true;
      abort.abort();
    },
  };
}
