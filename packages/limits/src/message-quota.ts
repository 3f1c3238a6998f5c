import { LimitsOptionError } from './errors.js';

/** Options of `messageQuota()`. */
export interface MessageQuotaOptions {
  /** Messages a connection may send per `perMs` (a token bucket of this size). */
  points: number;
  /** The window the points refill over, evenly. */
  perMs: number;
  /**
   * Over-budget messages tolerated (each answered with an error) before the connection
   * should be closed with 1008.
   * @default 10
   */
  strikes?: number;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

/** The verdict on one inbound message. */
export type QuotaVerdict = 'ok' | 'over' | 'close';

/** One connection's budget. */
export interface MessageBudget {
  /** Spends a point: `'ok'`, `'over'` (reply with an error, drop it) or `'close'` (close 1008). */
  take(): QuotaVerdict;
}

/**
 * A per-connection budget for inbound WebSocket messages: `points` per `perMs`, refilled
 * evenly (a token bucket, so short bursts up to `points` are fine). Create one budget per
 * connection with `quota.forConnection()`.
 *
 * @example
 * const quota = messageQuota({ points: 20, perMs: 1000 });
 * wss.on('connection', (ws) => {
 *   const budget = quota.forConnection();
 *   ws.on('message', (data) => {
 *     const verdict = budget.take();
 *     if (verdict === 'close') return ws.close(1008, 'message quota exceeded');
 *     if (verdict === 'over') return ws.send(JSON.stringify({ type: 'error', code: 'rate_limited' }));
 *     handle(data);
 *   });
 * });
 */
export function messageQuota(options: MessageQuotaOptions) {
  const { points, perMs } = options;
  const strikes = options.strikes ?? 10;
  const now = options.now ?? Date.now;
  if (!(Number.isFinite(points) && points > 0)) {
    throw new LimitsOptionError(`points must be a positive number, got ${points}`);
  }
  if (!(Number.isFinite(perMs) && perMs > 0)) {
    throw new LimitsOptionError(`perMs must be a positive number of milliseconds, got ${perMs}`);
  }
  if (!Number.isInteger(strikes) || strikes < 0) {
    throw new LimitsOptionError(`strikes must be a whole number, got ${strikes}`);
  }
  const refillPerMs = points / perMs;
  return {
    forConnection(): MessageBudget {
      let tokens = points;
      let last = now();
      let over = 0;
      return {
        take() {
          const t = now();
          tokens = Math.min(points, tokens + (t - last) * refillPerMs);
          last = t;
          if (tokens >= 1) {
            tokens -= 1;
            return 'ok';
          }
          over++;
          return over > strikes ? 'close' : 'over';
        },
      };
    },
  };
}
