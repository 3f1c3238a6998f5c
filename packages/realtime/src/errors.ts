/** An option that can never work; a `TypeError` with a stable code. */
export class RealtimeOptionError extends TypeError {
  readonly code = 'BANCADA_REALTIME_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'RealtimeOptionError';
  }
}

/** A call with an argument that can never work: a bad room, event or payload. */
export class RealtimeArgumentError extends TypeError {
  readonly code = 'BANCADA_REALTIME_INVALID_ARGUMENT' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RealtimeArgumentError';
  }
}

/** The hub was used after `close()`. */
export class HubClosedError extends Error {
  readonly code = 'BANCADA_REALTIME_CLOSED' as const;

  constructor() {
    super('The hub is closed: create a new one with createHub().');
    this.name = 'HubClosedError';
  }
}
