import { roomNameProblem } from '@bancada/internal/wire';
import { RealtimeArgumentError } from '../errors.js';

/**
 * A room pattern as a test of room names. Rooms are read as segments separated by `:`; a
 * pattern matches a room with as many segments, each matching the pattern's segment in the
 * same place, where `*` stands for one or more characters of that segment (never a `:`) and
 * everything else for itself. So `order:*` matches `order:42` but not `order:`,
 * `order:42:notes` or `orders:42`; `menu-*` matches `menu-lunch`; `lobby` only `lobby`.
 */
export function roomPattern(pattern: unknown): (room: string) => boolean {
  if (typeof pattern !== 'string' || roomNameProblem(pattern) !== undefined) {
    throw new RealtimeArgumentError(
      `publicRooms(): a pattern must be a room name, with * for any part of a segment, got ${String(pattern)}`,
    );
  }
  if (pattern.includes('**')) {
    throw new RealtimeArgumentError(
      `publicRooms(): ** in "${pattern}": a * already stands for one or more characters, and never crosses a ':'`,
    );
  }
  if (!pattern.includes('*')) return (room) => room === pattern;
  const segments = pattern.split(':').map((segment) => segment.split('*'));
  return (room) => {
    const parts = room.split(':');
    return parts.length === segments.length && parts.every((part, i) => fits(part, segments[i]!));
  };
}

/**
 * Whether `text` is the pieces of a segment (its text between `*`s) with one or more
 * characters in place of each `*`. Each piece is taken at its first place after the one before
 * (which leaves the most room for the rest) and never reconsidered: no regular expression that
 * a room name crafted by a client could make backtrack.
 */
function fits(text: string, pieces: string[]): boolean {
  if (pieces.length === 1) return text === pieces[0];
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  const end = text.length - last.length; // where the last piece starts
  let at = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    const found = text.indexOf(piece, at + 1); // the * before it takes at least one character
    if (found === -1 || found + piece.length > end - 1) return false;
    at = found + piece.length;
  }
  return end - at >= 1; // and the last * too
}
