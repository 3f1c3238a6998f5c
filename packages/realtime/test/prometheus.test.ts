import { checkMetricsText, familiesWithoutSamples } from '@bancada/testkit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { joinedClient, openSse, startInstances } from './helpers/hubs.js';

describe('the hub metrics', () => {
  it("pass Prometheus's own linter (promtool check metrics), every family with samples", async () => {
    const registry = new Registry();
    const [running] = await startInstances(1, { history: true, registry });
    const { hub, wsUrl, httpUrl } = running!;
    const user = { name: 'ana', restaurantId: 'a' };
    const ws = await joinedClient(wsUrl, user, 'restaurant:a');
    const sse = await openSse(`${httpUrl}/events?room=restaurant:a`, user);
    expect(sse.status).toBe(200);
    await hub.toRestaurant('a', { eventType: 'order-created' });
    await ws.next((m) => m.type === 'event', 'the event');

    const text = await registry.metrics();
    expect(familiesWithoutSamples(text)).toEqual([]);
    expect(text).toMatch(/bancada_realtime_connections\{transport="sse"\} 1/);
    expect(text).toMatch(/bancada_realtime_broadcast_latency_seconds_count [1-9]/);
    await checkMetricsText(text);
  });
});
