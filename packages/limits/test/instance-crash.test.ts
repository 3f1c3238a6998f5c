import { fileURLToPath } from 'node:url';
import {
  bundleScripts,
  cleanupPrefix,
  keyPrefix,
  type RunningProcess,
  recordingLogger,
  redisUrl,
  runNode,
  waitFor,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectionLimit, isRejection, type Lease } from '../src/index.js';
import { fakeRequest } from './helpers/fake-request.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function holder(url: string, prefix: string, ip: string, count: number) {
  const scripts = await bundleScripts(fileURLToPath(new URL('..', import.meta.url)), {
    'slot-holder': 'test/helpers/slot-holder.ts',
  });
  cleanups.push(() => scripts.remove());
  const child: RunningProcess = runNode(scripts.paths['slot-holder']!, [
    url,
    prefix,
    ip,
    String(count),
  ]);
  cleanups.push(() => {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
    }
  });
  await waitFor(
    `the child to hold ${count} slots`,
    () => {
      if (child.process.exitCode !== null) throw new Error(`child exited: ${child.stderr}`);
      return child.stdout.includes(`holding ${count}`);
    },
    10_000,
  );
  return child;
}

describe('an instance that crashes', () => {
  it('gives its slots back within seconds, with the default settings, to the clients that reconnect elsewhere', async () => {
    const url = await redisUrl();
    const prefix = keyPrefix('limits-crash');
    cleanups.push(() => cleanupPrefix(url, prefix));
    const ip = '198.51.100.60';
    // 40 screens of one restaurant (one address) on an instance that is then SIGKILLed.
    const crashing = await holder(url, prefix, ip, 40);
    const logger = recordingLogger();
    const survivor = connectionLimit({ redis: url, prefix, maxPerIp: 40, logger });
    cleanups.push(() => survivor.close());
    expect(await survivor.acquire(fakeRequest(ip))).toMatchObject({ status: 429 });

    crashing.process.kill('SIGKILL');
    await crashing.exited;
    const killedAt = Date.now();
    // A crashed instance is not forgotten at once: a slow instance is not a dead one.
    expect(await survivor.acquire(fakeRequest(ip))).toMatchObject({ status: 429 });

    // The 40 screens reconnect to the survivor, retrying as clients do, and all get in.
    const leases: Lease[] = [];
    await waitFor(
      'all 40 reconnecting screens to get a slot',
      async () => {
        const result = await survivor.acquire(fakeRequest(ip));
        if (!isRejection(result)) leases.push(result);
        return leases.length === 40;
      },
      20_000,
    );
    // Within ~5 s of the crash on a quiet machine (30 s before the instances' heartbeat key);
    // 20 s leaves room for a machine loaded by the other suites, and still tells the two apart.
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    // And the limit still holds: the 41st is refused.
    expect(await survivor.acquire(fakeRequest(ip))).toMatchObject({ status: 429 });
    // Said once, not once per screen.
    expect(logger.lines.filter((line) => line.includes('stopped renewing'))).toHaveLength(1);
  }, 45_000);

  it('reads a live holder’s heartbeat once, not once per client it turns away', async () => {
    const url = await redisUrl();
    const prefix = keyPrefix('limits-crash');
    cleanups.push(() => cleanupPrefix(url, prefix));
    const ip = '198.51.100.61';
    const holder = connectionLimit({ redis: url, prefix, maxPerIp: 3, logger: false });
    cleanups.push(() => holder.close());
    for (let i = 0; i < 3; i++)
      expect(isRejection(await holder.acquire(fakeRequest(ip)))).toBe(false);
    const client = new Redis(url);
    cleanups.push(() => client.disconnect());
    const other = connectionLimit({ redis: client, prefix, maxPerIp: 3, logger: false });
    cleanups.push(() => other.close());
    const reads = vi.spyOn(client, 'pttl');

    // A burst, then a stream, of refused attempts: the holder is alive for its key's ttl.
    const burst = await Promise.all(
      Array.from({ length: 100 }, () => other.acquire(fakeRequest(ip))),
    );
    expect(burst.every((r) => isRejection(r) && r.status === 429)).toBe(true);
    for (let i = 0; i < 100; i++) {
      expect(await other.acquire(fakeRequest(ip))).toMatchObject({ status: 429 });
    }
    // One read; two if this machine took longer than the rest of the key's ttl (over 3 s).
    expect(reads.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(reads.mock.calls.length).toBeLessThanOrEqual(2);
  });
});
