import { POSITIONED_CLOSE, POSITIONED_OPEN } from '@bancada/internal/wire';

/**
 * Appends an event to its room's history and publishes it in one step, so that the id
 * clients see is its position in the history, and no instance can see it before it is
 * there (two instances' publishes would otherwise cross, and a receiver skip the earlier).
 * The stream keeps the envelope body (its JSON without the id); the published line is the
 * wire format's positioned line, built from the same two pieces (`positionedLine`).
 * KEYS: stream, channel. ARGV: maxLen, maxAgeMs, body.
 *
 * `publish` is PUBLISH on one node (or Sentinel) and SPUBLISH on a Redis Cluster, where the
 * stream and the channel share a hash slot (RedisNames), so the script runs on one node and
 * the event goes to the subscribers of that shard only.
 */
export function appendAndPublish(publish: 'PUBLISH' | 'SPUBLISH'): string {
  return `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3])
local now = redis.call('TIME')
local oldest = (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) - tonumber(ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('${publish}', KEYS[2], '${POSITIONED_OPEN}' .. id .. '${POSITIONED_CLOSE}' .. ARGV[3])
return id
`;
}
