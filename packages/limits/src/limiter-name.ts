import { LimitsOptionError } from './errors.js';

/**
 * A rate limiter's name: the one given, else its prefix without the trailing separator
 * (`rl:login:` is `rl:login`), so that limiters with prefixes of their own are told apart in
 * logs and metrics without naming each. Two limiters on one prefix count together anyway,
 * and share the name too: a registry refuses the second (see `limitsMetrics`).
 */
export function limiterName(
  name: unknown,
  prefix: unknown,
  defaultPrefix: string,
): { name: string; fromPrefix: string | undefined } {
  if (prefix !== undefined && typeof prefix !== 'string') {
    throw new LimitsOptionError(`prefix must be a string, got ${typeof prefix}`);
  }
  if (name !== undefined) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new LimitsOptionError(
        `name must be a non-empty string (the limiter label of logs and metrics), got ${JSON.stringify(name)}`,
      );
    }
    return { name, fromPrefix: undefined };
  }
  const from = prefix ?? defaultPrefix;
  const trimmed = from.replace(/[:/._-]+$/, '');
  return { name: trimmed.length > 0 ? trimmed : from, fromPrefix: from };
}
