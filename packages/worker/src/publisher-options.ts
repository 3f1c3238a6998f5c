import { checkRedisSource, checkWholeNumbers } from '@bancada/internal';
import { WorkerOptionError } from './errors.js';
import type { EventPublisherOptions } from './event-publisher.js';
import { MAX_PARTITIONS } from './partitions.js';

const invalid = (message: string) => new WorkerOptionError(message);

/** The publisher's options with defaults; throws a WorkerOptionError for what cannot work. */
export function resolvePublisherOptions(
  options: EventPublisherOptions,
  env: NodeJS.ProcessEnv = process.env,
): Required<Omit<EventPublisherOptions, 'maxLen' | 'logger'>> &
  Pick<EventPublisherOptions, 'maxLen' | 'logger'> {
  if (typeof options !== 'object' || options === null) {
    throw invalid('createEventPublisher() needs an options object with at least `stream`');
  }
  const given = Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as EventPublisherOptions;
  const o = {
    redis: given.redis ?? (env.REDIS_URL || ''),
    stream: given.stream,
    partitions: given.partitions ?? 1,
    field: given.field ?? 'e',
    maxLen: given.maxLen,
    logger: given.logger,
  };
  if (typeof o.stream !== 'string' || o.stream.length === 0) {
    throw invalid('stream is required: the name of the Redis Stream the workers persist');
  }
  if (o.redis === '') {
    throw invalid('redis is required: pass a URL, an ioredis client or options, or set REDIS_URL');
  }
  checkRedisSource(o.redis, invalid);
  if (!Number.isInteger(o.partitions) || o.partitions < 1 || o.partitions > MAX_PARTITIONS) {
    throw invalid(
      `partitions must be a whole number from 1 to ${MAX_PARTITIONS}, got ${o.partitions}`,
    );
  }
  if (o.partitions > 1 && /[{}]/.test(o.stream)) {
    throw invalid(
      `stream must not contain { or } with partitions above 1, got ${JSON.stringify(o.stream)}`,
    );
  }
  if (typeof o.field !== 'string' || o.field.length === 0) {
    throw invalid('field must be a non-empty string');
  }
  if (o.maxLen !== undefined) checkWholeNumbers(o, ['maxLen'], invalid);
  return o;
}
