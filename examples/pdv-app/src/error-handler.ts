import type { ErrorRequestHandler } from 'express';
import { HttpError } from './http-error.js';
import type { Logger } from './logger.js';

/** HttpErrors become their status and `{ error, message }`; anything else a logged 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    if (error instanceof HttpError) {
      res
        .status(error.status)
        .set(error.headers)
        .json({ error: error.code, message: error.message });
      return;
    }
    // express.json's own errors (bad JSON, too large) carry a 4xx status.
    const status = (error as { status?: number }).status;
    if (status !== undefined && status >= 400 && status < 500) {
      res.status(status).json({ error: 'invalid_request', message: (error as Error).message });
      return;
    }
    // Text Postgres cannot store (a NUL character): the schemas refuse it first; this is in
    // case a field ever slips past them.
    if (['22021', '22P05'].includes((error as { code?: string })?.code ?? '')) {
      res.status(400).json({
        error: 'invalid_request',
        message: 'text must not contain the NUL character (U+0000) or invalid characters',
      });
      return;
    }
    const unavailable = isDatabaseUnavailable(error);
    if (!unavailable) logger.error(`request failed: ${(error as Error)?.stack ?? error}`);
    res
      .status(unavailable ? 503 : 500)
      .set(unavailable ? { 'Retry-After': '5' } : {})
      .json(
        unavailable
          ? { error: 'unavailable', message: 'the database is not reachable; try again shortly' }
          : { error: 'internal', message: 'something went wrong' },
      );
  };
}

// Connection refused/reset/timeouts from pg, and the server's own timeouts (57014: the
// statement_timeout, 25P03: idle_in_transaction_session_timeout): the database is away or
// too slow, not a bug.
const UNAVAILABLE_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  '57014',
  '25P03',
  '57P01',
  '57P03',
  '08006',
  '08001',
];

function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    UNAVAILABLE_CODES.includes(e?.code ?? '') ||
    /timeout|terminated|Connection terminated/i.test(e?.message ?? '')
  );
}
