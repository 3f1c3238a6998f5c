import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BUFFER_SAMPLE_MAX, reportBuffers } from '../src/members/buffered.js';
import type { Member } from '../src/members/member.js';
import { joinedClient, startHub, type TestUser, waitFor } from './helpers/hubs.js';
import { stuckClient } from './helpers/stuck-client.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

/** The value of one sample line of a scrape. */
function sample(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  if (found === undefined) throw new Error(`no sample ${line} in:\n${text}`);
  return Number(found.slice(line.length + 1));
}

describe('slow consumers in the metrics', () => {
  it('shows a client that stopped reading before maxBufferedBytes closes it', async () => {
    const registry = new Registry();
    const maxBufferedBytes = 4 * 1024 * 1024;
    const { server, hub, wsUrl } = await startHub({ redis: false, maxBufferedBytes, registry });
    const port = (server.address() as { port: number }).port;
    const fast = await joinedClient(wsUrl, alice, 'restaurant:a');
    await stuckClient(port, alice, 'restaurant:a');
    await waitFor('both in the room', () => hub.stats().connections.websocket === 2);

    let text = await registry.metrics();
    expect(sample(text, 'bancada_realtime_slow_connections')).toBe(0);
    expect(sample(text, 'bancada_realtime_buffered_bytes_count')).toBe(2);

    // One event at a time until the stuck client's unsent bytes pass half the bound: the
    // kernel's buffers fill first, then the server's.
    const payload = 'x'.repeat(64 * 1024);
    let sent = 0;
    while (sample(text, 'bancada_realtime_slow_connections') === 0) {
      expect(sent).toBeLessThan(1000);
      hub.toRestaurant('a', { eventType: 'big', payload });
      sent++;
      await new Promise((resolve) => setImmediate(resolve));
      text = await registry.metrics();
    }
    expect(hub.stats().slowConsumerCloses).toBe(0);
    expect(sample(text, 'bancada_realtime_buffered_bytes_count')).toBe(2);
    // The fast client has (about) nothing unsent, the stuck one more than half the bound.
    expect(sample(text, 'bancada_realtime_buffered_bytes_bucket{le="1048576"}')).toBe(1);
    expect(sample(text, 'bancada_realtime_buffered_bytes_bucket{le="+Inf"}')).toBe(2);
    await waitFor('the fast client', () => fast.events().length === sent);
  });
});

describe('reportBuffers', () => {
  it('counts every connection above half the bound, and samples at most BUFFER_SAMPLE_MAX of them', () => {
    // Stand-ins: only their unsent bytes are read.
    const members = new Set<Member>();
    for (let i = 0; i < 50_000; i++) {
      members.add({ bufferedBytes: i % 100 === 0 ? 900 : 10 } as Member);
    }
    const { sample, aboveHalf } = reportBuffers(members, 1000);
    expect(aboveHalf).toBe(500);
    expect(sample.length).toBeLessThanOrEqual(BUFFER_SAMPLE_MAX);
    expect(sample.length).toBeGreaterThan(BUFFER_SAMPLE_MAX / 2);
  });
});
