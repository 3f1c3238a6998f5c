/**
 * The delay before reconnect attempt `attempt` (0 for the first): "full jitter", a random
 * delay between 0 and min(maxMs, initialMs * 2^attempt), so that clients dropped together
 * (a deploy) come back spread out instead of all at once.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.random() * ceiling);
}
