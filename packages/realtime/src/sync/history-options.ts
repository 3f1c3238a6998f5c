import { EVERYONE } from '@bancada/internal/wire';
import { RealtimeOptionError } from '../errors.js';

/** The longest delay a Node timer takes; longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** How rooms keep their recent events (`HubOptions.history`). */
export interface HistoryOptions {
  /** Which rooms keep history. @default every room but the broadcast */
  rooms?: (room: string) => boolean;
  /** Events kept per room, at least (Redis trims in whole nodes). @default 1000 */
  maxLen?: number;
  /** Events older than this are trimmed, and an idle room's history expires. @default 3_600_000 (1 h) */
  maxAgeMs?: number;
  /** Events one resume may replay; further back is a gap. @default 1000 */
  maxReplay?: number;
  /**
   * The shortest time between two replays of one room to one connection. A resume that
   * comes sooner (a client looping `resume since 0-0`) joins as usual but gets `gap` instead
   * of a replay, and is counted in `replaysRefused`. The first resume of each room on a
   * connection (a reconnect) is always served.
   * @default 10_000
   */
  minReplayIntervalMs?: number;
}

export interface ResolvedHistory {
  rooms: (room: string) => boolean;
  maxLen: number;
  maxAgeMs: number;
  maxReplay: number;
  minReplayIntervalMs: number;
}

/** `HubOptions.history` with its defaults; throws a RealtimeOptionError for what cannot work. */
export function resolveHistory(
  history: HistoryOptions | boolean | undefined,
): ResolvedHistory | undefined {
  if (history === undefined || history === false) return undefined;
  const given = history === true ? {} : history;
  if (typeof given !== 'object' || given === null) {
    throw new RealtimeOptionError(
      'history must be true, false or { rooms, maxLen, maxAgeMs, maxReplay, minReplayIntervalMs }',
    );
  }
  const resolved: ResolvedHistory = {
    rooms: given.rooms ?? ((room) => room !== EVERYONE),
    maxLen: given.maxLen ?? 1000,
    maxAgeMs: given.maxAgeMs ?? 3_600_000,
    maxReplay: given.maxReplay ?? 1000,
    minReplayIntervalMs: given.minReplayIntervalMs ?? 10_000,
  };
  if (typeof resolved.rooms !== 'function') {
    throw new RealtimeOptionError('history.rooms must be a function (room) => boolean');
  }
  if (
    !Number.isInteger(resolved.minReplayIntervalMs) ||
    resolved.minReplayIntervalMs < 0 ||
    resolved.minReplayIntervalMs > MAX_TIMER_MS
  ) {
    throw new RealtimeOptionError(
      `history.minReplayIntervalMs must be a whole number of milliseconds (0 for no limit), got ${resolved.minReplayIntervalMs}`,
    );
  }
  for (const name of ['maxLen', 'maxAgeMs', 'maxReplay'] as const) {
    if (!Number.isInteger(resolved[name]) || resolved[name] < 1) {
      throw new RealtimeOptionError(
        `history.${name} must be a whole number of at least 1, got ${resolved[name]}`,
      );
    }
  }
  return resolved;
}
