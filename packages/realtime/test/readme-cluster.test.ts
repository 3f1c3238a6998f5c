import { fileURLToPath } from 'node:url';
import { readmeCode, runReadmeApp, startCluster, startSentinel } from '@bancada/testkit';
import { describe, it } from 'vitest';
import { WebSocket } from 'ws';
import { afterThisTest, waitFor } from './helpers/hubs.js';

// The README's Cluster and Sentinel examples, run as pasted: two instances of each on a
// local cluster (or Sentinel set-up); an order posted to one reaches a client of the other.

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const README = `${PACKAGE}README.md`;
const sources = { '@bancada/realtime': `${PACKAGE}src/index.ts` };

async function orderCrossesInstances(section: string, redisUrl: string): Promise<void> {
  const code = readmeCode(README, section);
  const one = await runReadmeApp(PACKAGE, code, { sources, env: { REDIS_URL: redisUrl } });
  const two = await runReadmeApp(PACKAGE, code, { sources, env: { REDIS_URL: redisUrl } });

  const ws = new WebSocket(`${two.url.replace('http', 'ws')}/ws`, {
    headers: { 'x-demo-user': 'ana' },
  });
  afterThisTest(() => ws.terminate());
  const messages: Array<{ type: string; eventType?: string; payload?: unknown }> = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'auth', restaurantId: 'a' }));
  await waitFor('joined', () => messages.some((m) => m.type === 'joined'));

  // The instances connect to Redis in their own time: post until one order crosses.
  await waitFor(
    'an order to reach the other instance',
    async () => {
      await fetch(`${one.url}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orderId: 7 }),
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      return messages.some((m) => m.type === 'event' && m.eventType === 'order-created');
    },
    20_000,
  );
}

describe('the README examples on a Redis Cluster and on Sentinel', () => {
  it('Redis Cluster: an order posted to one instance reaches a client of another', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    await orderCrossesInstances('## Redis Cluster', cluster.url);
  }, 90_000);

  it('Redis Sentinel: an order posted to one instance reaches a client of another', async () => {
    const sentinel = await startSentinel({ replicas: 1 });
    afterThisTest(() => sentinel.stop());
    await orderCrossesInstances('## Redis Sentinel', sentinel.url);
  }, 90_000);
});
