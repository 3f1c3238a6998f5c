import { keyPrefix, startRedis } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { afterThisTest, startHub, type TestUser, waitFor } from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
/** How long Redis stays dead. BANCADA_OUTAGE_MS shortens it for a quick local run. */
const OUTAGE_MS = Number(process.env.BANCADA_OUTAGE_MS ?? 60_000);
const RATE = 500; // events per second

/** A client that keeps only the sequence numbers it receives (so it adds nothing to the heap). */
async function sequenceClient(url: string) {
  const ws = new WebSocket(url, { headers: { 'x-test-user': JSON.stringify(alice) } });
  afterThisTest(() => ws.terminate());
  const seqs: number[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { type: string; payload?: number };
    if (message.type === 'event') seqs.push(message.payload!);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'subscribe', room: 'restaurant:a' }));
  return seqs;
}

function heapAfterGc(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

describe('when Redis goes away under traffic', () => {
  it(
    'keeps local delivery whole, never hangs or crashes, bounds memory, and counts what did not cross',
    async () => {
      const redis = await startRedis();
      afterThisTest(() => redis.stop());
      const prefix = keyPrefix('realtime-outage');
      const one = await startHub({ redis: redis.url, prefix, instanceId: 'hub-1' });
      const two = await startHub({ redis: redis.url, prefix, instanceId: 'hub-2' });
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      afterThisTest(() => process.off('unhandledRejection', onUnhandled));

      const local = await sequenceClient(one.wsUrl);
      const remote = await sequenceClient(two.wsUrl);
      await waitFor('both clients in the room', () =>
        [one, two].every(({ hub }) => hub.stats().rooms === 1),
      );

      // RATE events per second from hub 1, in ticks of 10 ms, until told to stop.
      let sent = 0;
      let publishErrors = 0;
      let running = true;
      const traffic = (async () => {
        const started = Date.now();
        while (running && Date.now() - started < OUTAGE_MS + 60_000) {
          const due = Math.floor(((Date.now() - started) * RATE) / 1000);
          for (; sent < due; sent++) {
            try {
              one.hub.toRestaurant('a', { eventType: 'tick', payload: sent });
            } catch {
              publishErrors++;
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();

      await waitFor('traffic to cross', () => remote.length > 200);
      await redis.kill();
      await waitFor(
        'both hubs to say degraded',
        () => one.hub.stats().degraded && two.hub.stats().degraded,
      );
      const heapAtStart = heapAfterGc();
      let heapPeak = heapAtStart;
      const outageEnds = Date.now() + OUTAGE_MS;
      while (Date.now() < outageEnds) {
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(5000, outageEnds - Date.now())),
        );
        heapPeak = Math.max(heapPeak, heapAfterGc());
      }
      const sentDuringOutage = sent;

      await redis.restart();
      const restartedAt = Date.now();
      await waitFor(
        'events to cross again',
        () => remote.some((seq) => seq >= sentDuringOutage),
        10_000,
      );
      const crossingAgainMs = Date.now() - restartedAt;
      await waitFor('both hubs to be distributed again', () =>
        [one, two].every(({ hub }) => !hub.stats().degraded),
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      running = false;
      await traffic;
      await waitFor('local delivery to finish', () => local.length === sent);

      // Local clients got everything, in order.
      expect(publishErrors).toBe(0);
      expect(local).toEqual([...Array(sent).keys()]);
      // Across instances: never twice, never out of order, and every gap is counted.
      for (let i = 1; i < remote.length; i++) expect(remote[i]).toBeGreaterThan(remote[i - 1]!);
      await waitFor('the last events to cross', () => remote.at(-1) === sent - 1);
      const dropped = one.hub.stats().fanoutDropped;
      const missed = two.hub.stats().fanoutMissed;
      expect(dropped).toBeGreaterThan(0); // the publisher knows what it could not send
      expect(missed).toBe(sent - remote.length); // the receiver knows exactly what it lacks
      // No queue grows with the outage.
      expect(heapPeak - heapAtStart).toBeLessThan(16 * 1024 * 1024);
      expect(unhandled).toEqual([]);
      console.log(
        `outage ${OUTAGE_MS} ms at ${RATE}/s: sent ${sent}, crossed ${remote.length}, ` +
          `dropped by hub 1 ${dropped}, missed by hub 2 ${missed}, ` +
          `heap +${((heapPeak - heapAtStart) / 1024 / 1024).toFixed(1)} MiB, crossing again ${crossingAgainMs} ms after restart`,
      );
    },
    OUTAGE_MS + 90_000,
  );
});
