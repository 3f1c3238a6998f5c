/** Any logger with these three methods: console, pino, winston. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = Object.freeze({ info() {}, warn() {}, error() {} });

/**
 * The logger an option names: console when absent, nothing for `false`. Anything without
 * the three methods is refused with the error `invalid` makes (each package its own class).
 */
export function resolveLogger(
  logger: Logger | false | undefined,
  invalid: (message: string) => Error,
): Logger {
  const resolved = logger === false ? silentLogger : (logger ?? console);
  const partial = resolved as Partial<Logger>;
  if (
    typeof partial.info !== 'function' ||
    typeof partial.warn !== 'function' ||
    typeof partial.error !== 'function'
  ) {
    throw invalid('logger must have info, warn and error methods, or be false');
  }
  return resolved;
}
