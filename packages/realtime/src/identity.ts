import type { IncomingMessage } from 'node:http';
import type { Principal } from './types.js';

/** How many slices the clients are checked in: one slice per `reauthenticateMs / SLICES`. */
export const REAUTH_SLICES = 10;

let nextSlice = 0;

/**
 * Who a connection belongs to, and the request that said so: `authenticate` runs on it again
 * now and then, so a session that ended (logout, expiry, a revoked user) stops receiving on
 * every instance without any instance telling the others.
 */
export class Identity {
  /** Which slice of the re-check this connection falls in: spread evenly. */
  readonly slice = nextSlice++ % REAUTH_SLICES;

  constructor(
    public principal: Principal,
    /**
     * What the re-check reads of the upgrade or SSE request (`keepForRecheck`), not the
     * request itself; undefined when nothing is re-checked.
     */
    readonly request: IncomingMessage | undefined,
  ) {}
}
