import type { IncomingMessage } from 'node:http';
import { isRejection, type Refusal, refusalOf, type ThrottledLog } from '@bancada/internal';
import type { Authenticate, ConnectionGate, Principal } from '../types.js';
import { originAllowed } from './origin.js';

/** A connection let in: who it is, and its slot to give back (idempotent). */
export interface Admitted {
  principal: Principal;
  release: () => void;
}

export interface AdmissionOptions {
  authenticate: Authenticate | false;
  allowedOrigins: string[] | ((origin: string) => boolean) | undefined;
  connectionGate: ConnectionGate | undefined;
  log: ThrottledLog;
  draining(): boolean;
  /** A reconnect delay in the configured range, different per client. */
  retryAfterMs(): number;
}

const ANONYMOUS: Principal = Object.freeze({ anonymous: true });
/** The slot of a connection when there is no connection gate: nothing to give back. */
const NO_SLOT = () => {};

/**
 * Who may open a WebSocket or an SSE stream, the same for both: not while draining, only
 * from an allowed origin, only with a slot from the connection gate, only as a principal
 * that `authenticate` reads from the server side. A principal and its slot, or a refusal.
 */
export class Admission {
  constructor(private readonly o: AdmissionOptions) {}

  async admit(req: IncomingMessage): Promise<Admitted | Refusal> {
    try {
      return await this.check(req);
    } catch (error) {
      this.o.log.warn('admit', `realtime: admission failed: ${(error as Error)?.message}`);
      return { status: 500, error: 'internal', message: 'Something went wrong.' };
    }
  }

  private async check(req: IncomingMessage): Promise<Admitted | Refusal> {
    if (this.o.draining()) {
      return {
        status: 503,
        error: 'shutting_down',
        message: 'This server is restarting; connect again shortly.',
        retryAfter: Math.ceil(this.o.retryAfterMs() / 1000),
      };
    }
    if (!originAllowed(req, this.o.allowedOrigins)) {
      return { status: 403, error: 'origin_not_allowed', message: 'This origin may not connect.' };
    }
    const release = await this.slotFor(req);
    if (typeof release !== 'function') return release;
    if (this.o.authenticate === false) return { principal: ANONYMOUS, release };
    let principal: Principal | null;
    try {
      principal = await this.o.authenticate(req);
    } catch (error) {
      release();
      this.o.log.warn(
        'authenticate',
        `realtime: authenticate failed: ${(error as Error)?.message}`,
      );
      return {
        status: 503,
        error: 'session_unavailable',
        message: 'Sessions cannot be read right now; try again shortly.',
        retryAfter: 2,
      };
    }
    if (principal === null || principal === undefined) {
      release();
      return { status: 401, error: 'unauthenticated', message: 'Log in first.' };
    }
    return { principal, release };
  }

  /** The connection gate's slot, as a release that counts once; or its refusal. */
  private async slotFor(req: IncomingMessage): Promise<(() => void) | Refusal> {
    const gate = this.o.connectionGate;
    if (gate === undefined) return NO_SLOT;
    let result: Awaited<ReturnType<ConnectionGate['acquire']>>;
    try {
      result = await gate.acquire(req);
    } catch {
      return { status: 503, error: 'unavailable', message: 'Try again shortly.', retryAfter: 1 };
    }
    if (isRejection(result)) return { ...refusalOf(result), message: 'Too many connections.' };
    let released = false;
    return () => {
      if (released) return;
      released = true;
      result.release();
    };
  }
}
