import { startSentinel } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import { failoverUnderTraffic } from './helpers/failover.js';
import { afterThisTest } from './helpers/hubs.js';

describe('a Sentinel failover under traffic', () => {
  it('gives every client every event in order, or a gap where events were lost, and resumes after the promotion', async () => {
    const sentinel = await startSentinel();
    afterThisTest(() => sentinel.stop());
    const result = await failoverUnderTraffic(sentinel.url, async () => {
      await sentinel.failover();
    });
    console.info(`sentinel failover: ${result.summary}`);
    expect(result.silenceMs).toBeLessThan(15_000);
  }, 120_000);
});
