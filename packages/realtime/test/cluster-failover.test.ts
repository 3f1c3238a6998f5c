import { startCluster } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import { failoverUnderTraffic } from './helpers/failover.js';
import { afterThisTest } from './helpers/hubs.js';

describe('a Redis Cluster master failing under traffic', () => {
  it('gives every client every event in order, or a gap where events were lost, and resumes after the promotion', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const result = await failoverUnderTraffic(cluster.url, async (prefix) => {
      await cluster.failover(await cluster.masterOf(`${prefix}ws:history:{restaurant:a}`));
    });
    console.info(`cluster failover: ${result.summary}`);
    expect(result.silenceMs).toBeLessThan(15_000);
  }, 120_000);
});
