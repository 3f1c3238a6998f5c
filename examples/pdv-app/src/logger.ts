import pino from 'pino';

/** What the Bancada packages and the app log through: pino's `info(message)` fits it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** JSON lines on stdout, one per event, tagged with the instance. */
export function createLogger(instanceId: string | undefined): Logger {
  return pino({ base: { instance: instanceId ?? null }, level: 'info' });
}
