import type { IncomingMessage } from 'node:http';

/** Any logger with these three methods: console, pino, winston. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

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

/** What `@bancada/realtime` (or any long-lived route) asks before opening a connection. */
export interface ConnectionGate {
  acquire(req: IncomingMessage): Promise<Lease | Rejection>;
  /** Stops renewing leases and releases every slot this gate holds. */
  close(): Promise<void>;
}

/** True when `acquire` said no. */
export function isRejection(result: Lease | Rejection): result is Rejection {
  return (result as Rejection).status !== undefined;
}
