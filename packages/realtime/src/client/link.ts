/** How a link (one WebSocket, or one SSE response) ended. */
export interface LinkEnd {
  /** It opened before it ended. */
  opened: boolean;
  /** The WebSocket close code. */
  code?: number;
  /** The HTTP status of a refusal, when the platform lets it be seen. */
  status?: number;
  /** How long the server asked to wait (1012's reason, `retry:`, `Retry-After`). */
  retryAfterMs?: number;
}

/** What a link reports. None of these is called after `close()`. */
export interface LinkEvents {
  opened(): void;
  /** A JSON object: a WebSocket text frame, or an SSE message's data. */
  frame(message: Record<string, unknown>): void;
  /** Something arrived, even a heartbeat: the link is alive. */
  heard(): void;
  ended(end: LinkEnd): void;
}

/** One connection attempt. */
export interface Link {
  send(message: Record<string, unknown>): void;
  /** Ends it, without a call to `ended()`; `hard` skips any close handshake (a dead link). */
  close(hard: boolean): void;
}

/** The JSON object in `text`, or undefined for anything else. */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
