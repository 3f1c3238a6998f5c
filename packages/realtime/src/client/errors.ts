import type { ClientErrorCode } from './types.js';

/**
 * What `error` listeners receive: an `error` frame of the hub (its `code`, and the `room`
 * it is about when there is one), or a failure of the link the client could identify.
 */
export class RealtimeClientError extends Error {
  readonly code: ClientErrorCode;
  /** The room the error is about, when the hub named one. */
  readonly room: string | undefined;
  /** The HTTP status of a refused upgrade or stream, when it could be seen. */
  readonly status: number | undefined;

  constructor(
    code: ClientErrorCode,
    message: string,
    details: { room?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RealtimeClientError';
    this.code = code;
    this.room = details.room;
    this.status = details.status;
  }
}

/** `connect()` options that can never work; a `TypeError` with a stable code. */
export class RealtimeClientOptionError extends TypeError {
  readonly code = 'BANCADA_REALTIME_CLIENT_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'RealtimeClientOptionError';
  }
}
