import { fileURLToPath } from 'node:url';
import { bundleScripts, type RunningProcess, runNode } from '@bancada/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  afterThisTest,
  gaps,
  type Run,
  sharedRedis,
  startInstances,
  waitFor,
} from './helpers/jobs.js';

/** See every-once.test.ts: how much closer two runs a period apart can look. */
const SLACK = 250;
const SLOW = 20_000;

let script: string;
beforeAll(async () => {
  const scripts = await bundleScripts(fileURLToPath(new URL('..', import.meta.url)), {
    'job-child': 'test/helpers/job-child.ts',
  });
  script = scripts.paths['job-child']!;
  return () => scripts.remove();
});

/** An instance of the app in a process of its own, killed after the test if still alive. */
function startChild(args: {
  redis: string;
  prefix: string;
  name: string;
  everyMs: number;
  leaseMs: number;
}) {
  const child = runNode(
    script,
    [args.redis, args.prefix, args.name, String(args.everyMs), String(args.leaseMs), 'child'],
    {},
    { ipc: true },
  );
  afterThisTest(() => {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
    }
  });
  return child;
}

/** The runs the child printed. */
function childRuns(child: RunningProcess): Run[] {
  return [...child.stdout.matchAll(/^ran (\d+)$/gm)].map((m) => ({
    by: 'child',
    at: Number(m[1]),
  }));
}

describe('an instance that leads the job', () => {
  it('is replaced within about the lease time when its process is killed, and the period still holds', async () => {
    const { redis, prefix } = await sharedRedis();
    const everyMs = 5000;
    const leaseMs = 2000;
    const child = startChild({ redis, prefix, name: 'nightly', everyMs, leaseMs });
    await waitFor('the child to run the job', () => childRuns(child).length === 1, SLOW);
    const runs: Run[] = [];
    const [survivor] = startInstances(1, 'nightly', everyMs, runs, { redis, prefix, leaseMs });
    await waitFor(
      'the survivor to follow the child',
      () => survivor!.stats().leaderId === 'child',
      SLOW,
    );

    child.process.kill('SIGKILL');
    await child.exited;
    const killedAt = Date.now();
    await waitFor('the survivor to lead', () => survivor!.stats().leader, SLOW);
    // The lease runs out at most leaseMs after the child's last renewal; a little for a busy machine.
    expect(Date.now() - killedAt).toBeLessThan(leaseMs + 2000);

    await waitFor('the survivor to run the job', () => runs.length === 1, SLOW);
    const [childRun] = childRuns(child);
    // Not at takeover: a period after the dead instance's run, as recorded in Redis...
    expect(runs[0]!.at - childRun!.at).toBeGreaterThanOrEqual(everyMs - SLACK);
    // ...and late by at most about the lease.
    expect(runs[0]!.at - childRun!.at).toBeLessThan(everyMs + leaseMs + 3000);
  });

  it('does not run the job after its event loop stalled past its lease and another instance took over', async () => {
    const { redis, prefix } = await sharedRedis();
    const everyMs = 3000;
    const leaseMs = 1000;
    const child = startChild({ redis, prefix, name: 'stall', everyMs, leaseMs });
    await waitFor('the child to run the job', () => childRuns(child).length === 1, SLOW);
    const runs: Run[] = [];
    const [survivor] = startInstances(1, 'stall', everyMs, runs, { redis, prefix, leaseMs });
    await waitFor(
      'the survivor to follow the child',
      () => survivor!.stats().leaderId === 'child',
      SLOW,
    );

    // Blocked past its lease and past its next run's time: when it wakes, its timers are all due.
    child.process.send({ stall: everyMs + 2 * leaseMs });
    await waitFor('the survivor to run the job', () => runs.length === 1, SLOW);
    await waitFor('the child to wake up', () => child.stdout.includes('woke'), SLOW);
    await waitFor('the survivor to run the job again', () => runs.length === 2, SLOW);

    expect(childRuns(child)).toHaveLength(1);
    expect(child.stdout).toContain('lost the leader lease');
    for (const gap of gaps([...childRuns(child), ...runs])) {
      expect(gap).toBeGreaterThanOrEqual(everyMs - SLACK);
    }
  });
});
