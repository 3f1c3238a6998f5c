import { describe, expect, it } from 'vitest';
import { parseCliConfig } from '../src/cli-config.js';
import { createEventPublisher, partitionOf, partitionStreams } from '../src/index.js';
import { keySlot } from '../src/partitions.js';

describe('partitionStreams', () => {
  it('keeps the stream itself with one partition, as before partitions existed', () => {
    expect(partitionStreams('realtime:events', 1)).toEqual(['realtime:events']);
  });

  it('gives each partition a hash tag in its own N-th of the slots', () => {
    for (const n of [2, 3, 6, 16, 256]) {
      const streams = partitionStreams('realtime:events', n);
      expect(new Set(streams).size).toBe(n);
      streams.forEach((name, i) => {
        expect(name).toMatch(/^realtime:events:\{\d+-\d+\}$/);
        const slot = keySlot(name.slice(name.indexOf('{') + 1, -1));
        expect(slot).toBeGreaterThanOrEqual((i * 16_384) / n);
        expect(slot).toBeLessThan(((i + 1) * 16_384) / n);
      });
    }
  });

  it("computes Redis's slots (CRC16), as CLUSTER KEYSLOT does", () => {
    // Values given by redis-server 7.0's CLUSTER KEYSLOT.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('123456789')).toBe(12739);
  });
});

describe('partitionOf', () => {
  it('is stable: a room always goes to the same partition, whoever computes it', () => {
    expect(partitionOf('restaurant:7', 8)).toBe(partitionOf('restaurant:7', 8));
    // FNV-1a (32 bits) of "restaurant:7" is 0x2e286429: fixed here, since publishers in other
    // languages compute it too and a change would send rooms to other partitions.
    expect([1, 2, 3, 8, 256].map((n) => partitionOf('restaurant:7', n))).toEqual([0, 1, 2, 1, 41]);
  });

  it('spreads many rooms about evenly', () => {
    const counts = new Array(8).fill(0);
    for (let r = 0; r < 8000; r++) counts[partitionOf(`restaurant:${r}`, 8)]++;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });
});

describe('createEventPublisher options', () => {
  it('refuses what cannot work, naming the option', () => {
    const base = { redis: 'redis://127.0.0.1:6379', stream: 's' };
    const refused = (options: Record<string, unknown>, message: RegExp) =>
      expect(() => createEventPublisher({ ...base, ...options } as never)).toThrow(
        expect.objectContaining({
          code: 'BANCADA_WORKER_INVALID_OPTION',
          message: expect.stringMatching(message),
        }),
      );
    refused({ stream: '' }, /stream is required/);
    refused({ partitions: 300 }, /partitions must be a whole number from 1 to 256/);
    refused({ partitions: 2, stream: '{s}' }, /must not contain/);
    refused({ maxLen: 0 }, /maxLen must be a whole number/);
    refused({ redis: 'http://x' }, /redis URL must start with redis:\/\//);
  });
});

describe('bancada-worker --partitions', () => {
  it('reads the number of partitions from the flag or BANCADA_WORKER_PARTITIONS', () => {
    const env = { REDIS_URL: 'redis-cluster://127.0.0.1:7000', DATABASE_URL: 'postgres://x/y' };
    const fromEnv = parseCliConfig(['--stream', 's'], { ...env, BANCADA_WORKER_PARTITIONS: '6' });
    expect(fromEnv).toMatchObject({ options: { partitions: 6, redis: env.REDIS_URL } });
    expect(parseCliConfig(['--stream', 's', '--partitions', '3'], env)).toMatchObject({
      options: { partitions: 3 },
    });
    expect(() => parseCliConfig(['--stream', 's', '--partitions', 'x'], env)).toThrow(
      /--partitions must be a whole number/,
    );
  });
});
