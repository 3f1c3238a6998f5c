import {
  closeOwnConnection,
  type Logger,
  openOwnClient,
  type RedisSource,
  resolveLogger,
} from '@bancada/internal';
import { restaurantRoom } from '@bancada/internal/wire';
import type { Cluster, Redis } from 'ioredis';
import { WorkerOptionError } from './errors.js';
import { partitionCountKey, partitionOf, partitionStreams } from './partitions.js';
import { resolvePublisherOptions } from './publisher-options.js';

/** Options of `createEventPublisher()`. */
export interface EventPublisherOptions {
  /**
   * The Redis of the stream, in any form the worker takes (a URL of the kit's forms, an
   * ioredis client, `Cluster` or options): a client is a template, the publisher opens its
   * own connection.
   * @default process.env.REDIS_URL
   */
  redis?: RedisSource;
  /** The stream the workers persist (their `stream` option). */
  stream: string;
  /** The workers' `partitions`: must be the same number. @default 1 */
  partitions?: number;
  /** The entry field that holds the envelope (the workers' `field`). @default 'e' */
  field?: string;
  /** Each partition is trimmed to about this many entries (XADD MAXLEN ~); none when absent. */
  maxLen?: number;
  /** @default console; false for none */
  logger?: Logger | false;
}

/** What `createEventPublisher()` returns. */
export interface EventPublisher {
  /**
   * XADDs `envelope` (one JSON line) to the partition of its room (`room`, else
   * `restaurant:<restaurantId>`, else its `id`), so that one room's events keep their order.
   * Resolves the stream and the entry id; rejects when Redis cannot take it now.
   */
  publish(envelope: Record<string, unknown>): Promise<{ stream: string; id: string }>;
  /** The stream `envelope` goes to. */
  streamOf(envelope: Record<string, unknown>): string;
  /** Closes the publisher's connection. */
  close(): Promise<void>;
}

/**
 * A publisher of envelopes into the stream (or partitioned stream) that the persistence
 * workers read. Any service may XADD the entries itself instead: partition `partitionOf(room,
 * N)` of `partitionStreams(stream, N)`, the envelope in the field `e`.
 */
export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const o = resolvePublisherOptions(options);
  const logger = resolveLogger(o.logger, (message) => new WorkerOptionError(message));
  const streams = partitionStreams(o.stream, o.partitions);
  const client: Redis | Cluster = openOwnClient(
    o.redis,
    // A publish made while a connection is being (re)opened waits for it, as ioredis does
    // by default, but only for one retry: the caller hears of an outage at once after that.
    { name: 'bancada-publisher', extra: { enableOfflineQueue: true, maxRetriesPerRequest: 1 } },
    { enableOfflineQueue: true },
  );
  client.on('error', () => {}); // each publish reports its own failure
  let checked = false;

  const streamOf = (envelope: Record<string, unknown>): string => {
    if (typeof envelope !== 'object' || envelope === null) {
      throw new TypeError('publish() takes an envelope object');
    }
    return streams[partitionOf(keyOf(envelope), o.partitions)]!;
  };

  /** Once: warns when the workers recorded another number of partitions. */
  const checkPartitions = async () => {
    checked = true;
    const key = partitionCountKey(o.stream);
    const recorded = await client.get(key).catch(() => null);
    if (recorded !== null && Number(recorded) !== o.partitions) {
      logger.error(
        `event publisher [BANCADA_WORKER_PARTITIONS_MISMATCH]: this publisher writes ${o.stream} ` +
          `in ${o.partitions} partition(s), but the workers recorded ${recorded} (${key}): ` +
          'events may go to streams that no worker reads',
      );
    }
  };

  return {
    streamOf,
    async publish(envelope) {
      const stream = streamOf(envelope);
      if (!checked) void checkPartitions();
      const trim = o.maxLen === undefined ? [] : ['MAXLEN', '~', o.maxLen];
      const id = await client.call('XADD', stream, ...trim, '*', o.field, JSON.stringify(envelope));
      return { stream, id: String(id) };
    },
    close: () => closeOwnConnection(client),
  };
}

/** What a room's events are ordered by: the room, else the restaurant's room, else the id. */
function keyOf(envelope: Record<string, unknown>): string {
  const { room, restaurantId, id } = envelope;
  if (typeof room === 'string' && room.length > 0) return room;
  if (typeof restaurantId === 'string' || typeof restaurantId === 'number') {
    return restaurantRoom(restaurantId);
  }
  return String(id ?? '');
}
