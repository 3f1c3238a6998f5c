import { attemptLimit } from '@bancada/limits';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.js';
import { PasswordGate } from './password-gate.js';
import { describeRedisUrl, openRedisClient } from './redis-client.js';
import type { LoginGuards } from './routes/auth.js';

export interface LoginGuardSettings {
  redisUrl: string | undefined;
  prefix: string;
  /** Failed logins allowed per client address in 15 minutes. */
  perIp: number;
  /** Logins, good or bad, allowed per account in 15 minutes. */
  perAccount: number;
  /** Password hashes at once, and logins that may wait for one. */
  hashes: number;
  queued: number;
  registry: Registry;
  logger: Logger;
}

/**
 * What stands between a login and the password hash: failures per address, logins per
 * account (across instances with Redis) and the hashes this instance runs at once.
 */
export function createLoginGuards(s: LoginGuardSettings): {
  guards: LoginGuards;
  close(): Promise<void>;
} {
  const { prefix, registry, logger } = s;
  // Our own connection for the login limiter, so that closing this app closes it (a Cluster
  // client on a Redis Cluster).
  const rateLimitRedis = s.redisUrl
    ? openRedisClient(s.redisUrl, { maxRetriesPerRequest: 0, commandTimeout: 500 })
    : undefined;
  rateLimitRedis?.on('error', () => {}); // while Redis is away the limiter counts per instance
  // A Cluster client where REDIS_URL names a Redis Cluster: the limits take either.
  const redis = (rateLimitRedis ?? false) as NonNullable<
    Parameters<typeof attemptLimit>[0]
  >['redis'];
  const loginGuards: LoginGuards = {
    // Checked before a login and counted after a failed one only: a busy restaurant logs in
    // often, and valid logins in flight at once must not count as failures.
    failures: attemptLimit({
      windowMs: 15 * 60_000,
      limit: s.perIp,
      redis,
      prefix: `${prefix}rl:login:`,
      name: 'login',
      registry,
      logger,
    }),
    perAccount: attemptLimit({
      windowMs: 15 * 60_000,
      limit: s.perAccount,
      redis,
      prefix: `${prefix}rl:login-account:`,
      name: 'login-account',
      registry,
      logger,
    }),
    hashes: new PasswordGate(s.hashes, s.queued),
  };
  passwordGateMetrics(loginGuards.hashes, registry);
  logger.info(
    `login rate limit: ${s.redisUrl ? `${describeRedisUrl(s.redisUrl)} (counted across instances)` : 'memory (per instance)'}`,
  );
  return {
    guards: loginGuards,
    async close() {
      await Promise.allSettled([
        loginGuards.failures.close(),
        loginGuards.perAccount.close(),
        rateLimitRedis?.quit(),
      ]);
    },
  };
}

/** `pdv_password_hashes{state}` and `pdv_password_hash_refusals_total`, read when scraped. */
function passwordGateMetrics(gate: PasswordGate, registry: Registry): void {
  new Gauge({
    name: 'pdv_password_hashes',
    help: 'Password hashes running, and logins waiting for one, on this instance.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { running, queued } = gate.stats();
      this.set({ state: 'running' }, running);
      this.set({ state: 'queued' }, queued);
    },
  });
  new Counter({
    name: 'pdv_password_hash_refusals_total',
    help: 'Logins answered 503 because the password hash queue was full.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(gate.refused);
    },
  });
}
