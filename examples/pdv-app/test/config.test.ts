import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_SCHEMA, loadConfig } from '../src/config.js';

const SECRET = 'a'.repeat(32);

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('the configuration schema', () => {
  it('lists every variable the app reads', () => {
    expect(ENV_SCHEMA.map((v) => v.name)).toEqual([
      'NODE_ENV',
      'PORT',
      'REDIS_URL',
      'DATABASE_URL',
      'SESSION_SECRET',
      'SESSION_COOKIE_SECURE',
      'TRUST_PROXY',
      'INSTANCE_ID',
      'BANCADA_FANOUT',
      'PDV_MAX_CONNECTIONS_PER_IP',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    ]);
  });

  it('is the only way the app reads the environment', async () => {
    const sources = await readdir(new URL('../src/', import.meta.url), { recursive: true });
    for (const file of sources.filter((name) => name.endsWith('.ts'))) {
      const text = await readFile(new URL(`../src/${file}`, import.meta.url), 'utf8');
      const reads = text.match(/process\.env\b/g) ?? [];
      // config.ts: the one default argument of loadConfig(); nowhere else.
      expect(reads.length, file).toBe(file === 'config.ts' ? 1 : 0);
    }
  });

  it('runs on nothing at all in development: embedded defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      redisUrl: undefined,
      databaseUrl: undefined,
      sessionSecret: undefined,
      cookieSecure: false,
      trustProxy: false,
      instanceId: undefined,
      fanout: 'on',
      maxConnectionsPerIp: 50,
      production: false,
    });
  });

  it('reads a full production environment', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '10000',
      REDIS_URL: 'rediss://default:pw@kv:6380',
      DATABASE_URL: 'postgresql://u:p@db:5432/pdv',
      SESSION_SECRET: `${SECRET},${'b'.repeat(40)}`,
      TRUST_PROXY: '1',
      INSTANCE_ID: 'web-3',
      BANCADA_FANOUT: 'dry-run',
    });
    expect(config).toMatchObject({
      port: 10000,
      trustProxy: 1,
      fanout: 'dry-run',
      production: true,
      cookieSecure: true,
    });
  });

  it('sends the cookie over plain HTTP in production only when told to', () => {
    const production = {
      NODE_ENV: 'production',
      REDIS_URL: 'redis://kv:6379',
      DATABASE_URL: 'postgres://db/pdv',
      SESSION_SECRET: SECRET,
    };
    expect(loadConfig(production).cookieSecure).toBe(true);
    expect(loadConfig({ ...production, SESSION_COOKIE_SECURE: 'false' }).cookieSecure).toBe(false);
    expect(loadConfig({ SESSION_COOKIE_SECURE: 'true' }).cookieSecure).toBe(true);
  });

  it('names every missing variable at once in production', () => {
    expect(problems({ NODE_ENV: 'production' })).toEqual([
      expect.stringMatching(/^REDIS_URL is required when NODE_ENV=production/),
      expect.stringMatching(/^DATABASE_URL is required/),
      expect.stringMatching(/^SESSION_SECRET is required/),
    ]);
  });

  it('explains each bad value', () => {
    expect(
      problems({
        PORT: 'eighty',
        REDIS_URL: 'localhost:6379',
        DATABASE_URL: 'mysql://root:hunter2@db/pdv',
        SESSION_SECRET: 'short',
        TRUST_PROXY: 'yes please!',
        INSTANCE_ID: 'has spaces',
        BANCADA_FANOUT: 'maybe',
        PDV_MAX_CONNECTIONS_PER_IP: '0',
        NODE_ENV: 'prod',
        SESSION_COOKIE_SECURE: 'yes',
      }),
    ).toEqual([
      'NODE_ENV must be production, development or test, got "prod"',
      'PORT must be a whole number from 0 to 65535, got "eighty"',
      'REDIS_URL must be a URL starting with redis://, rediss://, redis-cluster:// or redis-sentinel://, got "localhost:6379"',
      'DATABASE_URL must be a URL starting with postgres:// or postgresql://, got "mysql://root:***@db/pdv"',
      'SESSION_SECRET each secret must be at least 32 characters (openssl rand -hex 32)',
      'SESSION_COOKIE_SECURE must be true or false, got "yes"',
      'TRUST_PROXY must be true, false, a hop count or addresses, got "yes please!"',
      'INSTANCE_ID must be 1 to 64 letters, digits, ".", "_" or "-"',
      'BANCADA_FANOUT must be on, dry-run or off, got "maybe"',
      'PDV_MAX_CONNECTIONS_PER_IP must be a whole number from 1 to 1000000, got "0"',
    ]);
  });

  it('takes a Redis Cluster or a Sentinel set-up as REDIS_URL, and explains a bad one', () => {
    for (const redis of [
      'redis-cluster://127.0.0.1:7000,127.0.0.1:7001',
      'rediss-cluster://app:secret@10.0.0.1:6379',
      'redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster',
    ]) {
      expect(loadConfig({ REDIS_URL: redis }).redisUrl).toBe(redis);
    }
    expect(problems({ REDIS_URL: 'redis-cluster://' })).toEqual([
      'REDIS_URL must list host:port nodes separated by commas, got "redis-cluster://"',
    ]);
    expect(problems({ REDIS_URL: 'redis-cluster://a:1,b' })).toEqual([
      'REDIS_URL must list host:port nodes separated by commas, got "redis-cluster://a:1,b"',
    ]);
    expect(problems({ REDIS_URL: 'redis-sentinel://:pw@127.0.0.1:26379' })).toEqual([
      'REDIS_URL must end with the master\'s name (redis-sentinel://host:port,…/mymaster), got "redis-sentinel://:***@127.0.0.1:26379"',
    ]);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ REDIS_URL: '', PORT: '' })).toMatchObject({
      redisUrl: undefined,
      port: 3000,
    });
  });

  it('is documented: the README lists every variable', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    for (const { name } of ENV_SCHEMA) expect(readme, name).toContain(`| \`${name}\` |`);
  });
});
