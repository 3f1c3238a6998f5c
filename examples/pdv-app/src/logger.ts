import pino from 'pino';

/** What the Bancada packages and the app log through: pino's `info(message)` fits it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * JSON lines on stdout (pino), one per event, tagged with the instance: what a log
 * collector wants. `readable`: plain `level message` lines instead, for a person at a
 * terminal (`npm start`).
 */
export function createLogger(instanceId: string | undefined, readable = false): Logger {
  if (!readable) return pino({ base: { instance: instanceId ?? null }, level: 'info' });
  const line = (level: string) => (message: string) =>
    process.stdout.write(`${level.padEnd(5)} ${message}\n`);
  return { info: line('info'), warn: line('warn'), error: line('error') };
}
