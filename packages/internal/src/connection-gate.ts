import type { IncomingMessage } from 'node:http';

/** A connection slot held by one WebSocket or SSE stream. */
export interface Lease {
  /** Gives the slot back. Safe to call any number of times: it counts once. */
  release(): void;
}

/** Why a connection was turned away. */
export type RejectionReason = 'per-ip' | 'total' | 'unavailable';

/** A connection that may not open: send `status` with `Retry-After: retryAfter`. */
export interface Rejection {
  status: 429 | 503;
  reason: RejectionReason;
  /** Seconds after which trying again makes sense. */
  retryAfter: number;
}

/**
 * What a long-lived route asks before it opens a connection: `@bancada/limits`'s
 * `connectionLimit()` is one, `@bancada/realtime`'s hub takes one as `connectionGate`.
 */
export interface ConnectionGate {
  acquire(req: IncomingMessage): Promise<Lease | Rejection>;
}

/** True when `acquire` said no. */
export function isRejection(result: Lease | Rejection): result is Rejection {
  return (result as Rejection).status !== undefined;
}
