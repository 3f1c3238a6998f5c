import { CacheArgumentError } from './errors.js';

/** Escapes Redis glob metacharacters so a literal string (our key prefix) matches only itself. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Compiles a Redis-style glob (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`) to a RegExp with
 * the same meaning, so the local tier deletes exactly the keys Redis's SCAN MATCH finds.
 */
export function globToRegExp(glob: string): RegExp {
  if (typeof glob !== 'string' || glob.length === 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_PATTERN',
      `pattern must be a non-empty glob string, got ${describe(glob)}`,
    );
  }
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) source += escapeRegExp(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        source += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}
