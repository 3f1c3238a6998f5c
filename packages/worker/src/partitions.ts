/**
 * A partitioned stream: `partitions` streams instead of one, so that several Redis Cluster
 * masters share the work. Publisher and worker must compute the same names and pick the same
 * partition for a room, so both live here, and both are exported.
 */

/** The most partitions a stream may have. */
export const MAX_PARTITIONS = 256;

/** Redis Cluster's slots. */
const SLOTS = 16_384;

/**
 * The names of the `partitions` streams of `stream`, partition 0 first. One partition is
 * `stream` itself, as without partitions. Several are `<stream>:{<i>-<k>}`: the hash tag
 * `<i>-<k>` puts partition `i` in the middle of the `i`-th N-th of Redis Cluster's slots (`k`
 * is the smallest whole number that does), so that N partitions spread evenly over masters
 * that share the slots evenly (as `redis-cli --cluster create` makes them).
 */
export function partitionStreams(stream: string, partitions: number): string[] {
  if (partitions === 1) return [stream];
  return partitionTags(partitions).map((tag) => `${stream}:{${tag}}`);
}

/**
 * The dead-letter streams of each partition: the partition's hash tag again, so that a
 * partition and its dead letters live on one master. One partition: `deadLetterStream`.
 */
export function deadLetterStreams(deadLetterStream: string, partitions: number): string[] {
  if (partitions === 1) return [deadLetterStream];
  return partitionTags(partitions).map((tag) => `${deadLetterStream}:{${tag}}`);
}

/**
 * Where workers record the number of partitions of `stream`, so that a publisher or a worker
 * configured with another number can tell (a plain string key).
 */
export function partitionCountKey(stream: string): string {
  return `${stream}:partitions`;
}

/**
 * The partition of a room (or any key): FNV-1a (32 bits) of its UTF-8 bytes, modulo
 * `partitions`. Stable across processes and versions, so one room's events always go to one
 * stream and keep their order.
 */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

const tagsByCount = new Map<number, string[]>();

function partitionTags(partitions: number): string[] {
  let tags = tagsByCount.get(partitions);
  if (tags === undefined) {
    tags = Array.from({ length: partitions }, (_, i) => tagOf(i, partitions));
    tagsByCount.set(partitions, tags);
  }
  return tags;
}

/** The first `<i>-<k>` whose slot falls in the middle half of partition i's share of slots. */
function tagOf(i: number, partitions: number): string {
  const low = Math.floor(((4 * i + 1) * SLOTS) / (4 * partitions));
  const high = Math.max(low + 1, Math.floor(((4 * i + 3) * SLOTS) / (4 * partitions)));
  for (let k = 0; ; k++) {
    const slot = keySlot(`${i}-${k}`);
    if (slot >= low && slot < high) return `${i}-${k}`;
  }
}

/** Redis Cluster's slot of a key with no hash tag: CRC16 (XMODEM) of its bytes, modulo 16384. */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of new TextEncoder().encode(key)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % SLOTS;
}
