import { cleanupPrefix, keyPrefix, recordingLogger, redisUrl, startRedis } from '@bancada/testkit';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AttemptLimitOptions,
  attemptLimit,
  closeRateLimits,
  LimitsOptionError,
  RateLimitUnavailableError,
} from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await closeRateLimits();
});

function limit(options: AttemptLimitOptions) {
  const made = attemptLimit({ logger: false, ...options });
  cleanups.push(() => made.close());
  return made;
}

describe('attemptLimit', () => {
  it('counts only what is recorded: any number of checks in flight count nothing', async () => {
    const failures = limit({ redis: false, limit: 3, windowMs: 60_000 });
    const checks = await Promise.all(Array.from({ length: 12 }, () => failures.check('ip-1')));
    expect(checks.every((verdict) => verdict.allowed && verdict.count === 0)).toBe(true);
    await failures.record('ip-1');
    await failures.record('ip-1');
    expect((await failures.check('ip-1')).allowed).toBe(true);
    const third = await failures.record('ip-1');
    expect(third).toMatchObject({ allowed: false, count: 3 });
    const refused = await failures.check('ip-1');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect((await failures.check('ip-2')).allowed).toBe(true); // another key
    await failures.reset('ip-1');
    expect((await failures.check('ip-1')).count).toBe(0);
  });

  it('shares its counts between instances through Redis', async () => {
    const url = await redisUrl();
    const shared = { redis: url, prefix: keyPrefix('attempts'), limit: 2 };
    cleanups.push(() => cleanupPrefix(url, shared.prefix));
    const [one, two] = [limit(shared), limit(shared)];
    expect(await two.check('ana')).toMatchObject({ allowed: true, count: 0 });
    await one.record('ana');
    await two.record('ana');
    expect(await one.check('ana')).toMatchObject({ allowed: false, count: 2 });
    expect(await two.check('ana')).toMatchObject({ allowed: false, count: 2 });
  });

  it('counts per instance while Redis is gone, and rejects when told to fail closed', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const logger = recordingLogger();
    const prefix = keyPrefix('a-l');
    const local = limit({ redis: server.url, prefix, limit: 2, logger });
    const closed = limit({
      redis: server.url,
      prefix: keyPrefix('a-c'),
      limit: 2,
      onRedisError: 'closed',
      name: 'closed',
    });
    await local.record('ip');
    await server.kill();
    await local.record('ip'); // counted here meanwhile
    await local.record('ip');
    expect((await local.check('ip')).allowed).toBe(false);
    // Named after its prefix (without the trailing ':'), so the line says which limit it is.
    expect(logger.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^warn limits: redis unavailable .*"${prefix.slice(0, -1)}" counts per instance`,
        ),
      ),
    );
    await expect(closed.check('ip')).rejects.toBeInstanceOf(RateLimitUnavailableError);
  });

  it('counts its refusals in the bancada_limits metrics, under its name', async () => {
    const registry = new Registry();
    const failures = limit({ redis: false, limit: 1, name: 'login', registry });
    await failures.record('ip');
    await failures.check('ip');
    expect(await registry.metrics()).toMatch(
      /bancada_limits_rejections_total\{limiter="login",reason="rate"\} 1/,
    );
  });

  it('is named after its prefix by default, apart from a rate limit on the same registry', async () => {
    const registry = new Registry();
    const failures = limit({ redis: false, limit: 1, prefix: 'login:fail:', registry });
    const other = limit({ redis: false, limit: 1, registry });
    await failures.record('ip');
    await failures.check('ip');
    await other.record('ip');
    await other.check('ip');
    const text = await registry.metrics();
    expect(text).toContain('bancada_limits_rejections_total{limiter="login:fail",reason="rate"} 1');
    expect(text).toContain(
      'bancada_limits_rejections_total{limiter="bancada:attempts",reason="rate"} 1',
    );
    expect(() => attemptLimit({ redis: false, prefix: 'login:fail:', registry })).toThrow(
      /a limiter named "login:fail" already reports to this registry.*the name comes from the prefix "login:fail:"/,
    );
  });

  it('refuses options that cannot work, naming them', () => {
    for (const [options, message] of [
      [{ limit: 0 }, /limit/],
      [{ windowMs: 10 }, /windowMs/],
      [{ onRedisError: 'maybe' }, /onRedisError/],
      [{ redis: 'http://x' }, /redis URL/],
      [{ name: '' }, /name must be a non-empty string/],
      [{ prefix: 1 }, /prefix must be a string/],
    ] as const) {
      const make = () => attemptLimit({ ...(options as object), logger: false });
      expect(make).toThrow(LimitsOptionError);
      expect(make).toThrow(message);
    }
  });
});
