import { keyPrefix, recordingLogger, serveHub, startCluster } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import { createHub } from '../src/index.js';
import {
  caughtUp,
  longestSilence,
  problemsOf,
  type RecordingClient,
  recordingClient,
  tally,
  traffic,
} from './helpers/failover.js';
import { afterThisTest, headerAuthenticate, waitFor } from './helpers/hubs.js';

const RATE = 200; // events per second, over the three hubs
const CLIENTS_PER_HUB = 2;

describe('a Redis Cluster master failing under traffic', () => {
  it('gives every client every event in order, or a gap where events were lost, and resumes after the promotion', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    afterThisTest(() => process.off('unhandledRejection', onUnhandled));

    const prefix = keyPrefix('realtime-cluster-failover');
    const loggers = [0, 1, 2].map(() => recordingLogger());
    const running = [];
    for (const [i, logger] of loggers.entries()) {
      running.push(
        await serveHub(
          createHub({
            authenticate: headerAuthenticate,
            logger,
            redis: cluster.url,
            prefix,
            instanceId: `hub-${i + 1}`,
            history: true,
          }),
        ),
      );
    }
    const hubs = running.map((r) => r.hub);
    const clients: RecordingClient[] = [];
    for (const [i, r] of running.entries()) {
      for (let c = 0; c < CLIENTS_PER_HUB; c++) clients.push(await recordingClient(r.wsUrl, i));
    }
    await waitFor('every client joined', () => clients.every((c) => c.joined()));

    const load = traffic(hubs, RATE, 60_000);
    await waitFor('traffic on every client', () => clients.every((c) => tally(c).events > 50));
    const owner = await cluster.masterOf(`${prefix}ws:history:{restaurant:a}`);
    const killedAt = Date.now();
    await cluster.failover(owner);
    const promotedAt = Date.now();
    // Traffic goes on well after the promotion, then every client must have it all.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await load.stop();
    const stoppedAt = Date.now();
    await waitFor(
      'every client has the last event of every hub',
      () => clients.every((c) => caughtUp(c, load.sent)),
      15_000,
    );

    const problems = clients.flatMap((c) => problemsOf(c, hubs.length));
    expect(problems).toEqual([]);
    const silences = clients.map((c) => longestSilence(c, killedAt, stoppedAt));
    const resumedAfterPromotion = Math.max(...silences) - (promotedAt - killedAt);
    console.info(
      `cluster failover: promotion ${promotedAt - killedAt} ms after the kill; longest cross-instance silence of a client ${Math.max(...silences)} ms (${resumedAfterPromotion} ms past the promotion); ` +
        `events per client ${clients.map((c) => tally(c).events).join('/')}, gaps ${clients.map((c) => tally(c).gaps).join('/')}, sent ${load.sent.reduce((a, b) => a + b, 0)}`,
    );
    expect(Math.max(...silences)).toBeLessThan(15_000);
    expect(unhandled).toEqual([]);
    expect(load.failures).toEqual([]);
    for (const logger of loggers) {
      expect(logger.lines.filter((l) => l.includes('redis is back')).length).toBeGreaterThan(0);
    }
  }, 120_000);
});
