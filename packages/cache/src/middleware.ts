import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { CacheArgumentError } from './errors.js';
import { isPositive } from './options.js';
import type { Cache } from './types.js';

/** Options of `cacheResponse()`. */
export interface CacheResponseOptions {
  /**
   * How long a response is kept.
   * @default the cache's defaultTtlSeconds
   */
  ttlSeconds?: number;
  /**
   * The cache key of a request; return undefined to pass it through uncached. The default,
   * the URL alone, is right only when the response is the same for every user: include the
   * tenant or user in the key otherwise.
   * @default (req) => `response:${req.originalUrl ?? req.url}`
   */
  key?: (req: IncomingMessage & { originalUrl?: string }) => string | undefined;
  /**
   * Responses with a larger body are sent but not cached.
   * @default 1_048_576
   */
  maxBodyBytes?: number;
}

/** What is stored per response: JSON-safe, so it travels through Redis like any value. */
interface StoredResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string; // base64
  storedAt: number;
}

type Request = IncomingMessage & { originalUrl?: string };
type Next = (error?: unknown) => void;

// Headers that describe one transfer, not the resource: never replayed from the cache.
const NOT_STORED = new Set([
  'connection',
  'content-length',
  'date',
  'keep-alive',
  'transfer-encoding',
  'x-cache',
  'age',
]);

/**
 * Express middleware that caches successful GET responses (status, headers that matter,
 * body) in `cache`, and answers `X-Cache: HIT` or `X-Cache: MISS`. Never caches a response
 * that sets a cookie, says `Cache-Control: no-store` or `private`, or has `Vary: *`.
 *
 * @example
 * app.get('/api/menu', cacheResponse(cache, { ttlSeconds: 60 }), menuHandler);
 */
export function cacheResponse(cache: Cache, options: CacheResponseOptions = {}) {
  if (typeof cache !== 'object' || cache === null || typeof cache.get !== 'function') {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_OPTION',
      'cacheResponse(cache, options) needs the cache from createCache() as its first argument',
    );
  }
  const ttlSeconds = options.ttlSeconds;
  if (ttlSeconds !== undefined && !isPositive(ttlSeconds)) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_TTL',
      `ttlSeconds must be a positive number, got ${ttlSeconds}`,
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_OPTION',
      `maxBodyBytes must be a whole number of bytes, got ${maxBodyBytes}`,
    );
  }
  const keyOf = options.key ?? ((req: Request) => `response:${req.originalUrl ?? req.url}`);

  return async function cacheResponseMiddleware(req: Request, res: ServerResponse, next: Next) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    try {
      const key = keyOf(req);
      if (key === undefined) return next();
      const stored = await cache.get<StoredResponse>(key);
      if (stored !== undefined) return replay(req, res, stored);
      res.setHeader('X-Cache', 'MISS');
      // A HEAD response has no body to keep; only GET fills the cache.
      if (req.method === 'GET')
        capture(res, maxBodyBytes, (entry) => cache.set(key, entry, ttlSeconds));
      next();
    } catch (error) {
      next(error);
    }
  };
}

function replay(req: Request, res: ServerResponse, stored: StoredResponse): void {
  const body = Buffer.from(stored.body, 'base64');
  res.statusCode = stored.status;
  // Headers this request already has (CORS set by earlier middleware) are its own: keep them.
  for (const [name, value] of Object.entries(stored.headers)) {
    if (!res.hasHeader(name)) res.setHeader(name, value);
  }
  res.setHeader('X-Cache', 'HIT');
  res.setHeader('Age', String(Math.max(0, Math.floor((Date.now() - stored.storedAt) / 1000))));
  const etag = stored.headers.etag;
  const ifNoneMatch = req.headers['if-none-match'];
  if (typeof etag === 'string' && ifNoneMatch !== undefined && matchesEtag(ifNoneMatch, etag)) {
    res.statusCode = 304;
    res.removeHeader('content-type');
    res.end();
    return;
  }
  res.setHeader('Content-Length', body.length);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Tees what the handler writes; stores it once the response has gone out, if cacheable. */
function capture(
  res: ServerResponse,
  maxBodyBytes: number,
  store: (entry: StoredResponse) => Promise<void>,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  const collect = (chunk: unknown, encoding: unknown) => {
    if (overflow || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const buffer =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size > maxBodyBytes) {
      overflow = true;
      chunks.length = 0;
    } else chunks.push(buffer);
  };
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    collect(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    collect(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
  res.once('finish', () => {
    if (overflow || !isCacheable(res)) return;
    const entry: StoredResponse = {
      status: res.statusCode,
      headers: storedHeaders(res.getHeaders()),
      body: Buffer.concat(chunks).toString('base64'),
      storedAt: Date.now(),
    };
    // The client already has its response; a failure to store is only a missed cache fill.
    store(entry).catch(() => {});
  });
}

function isCacheable(res: ServerResponse): boolean {
  if (res.statusCode !== 200) return false;
  if (res.getHeader('set-cookie') !== undefined) return false;
  // A compression middleware below us encodes later: we saw the plain body, not the encoded one.
  if (res.getHeader('content-encoding') !== undefined) return false;
  const cacheControl = String(res.getHeader('cache-control') ?? '').toLowerCase();
  if (/(^|[\s,])(no-store|private)([\s,=]|$)/.test(cacheControl)) return false;
  const vary = String(res.getHeader('vary') ?? '');
  return !vary.split(',').some((v) => v.trim() === '*');
}

function storedHeaders(headers: OutgoingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_STORED.has(name)) continue;
    kept[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return kept;
}

function matchesEtag(ifNoneMatch: string, etag: string): boolean {
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(etag));
}
