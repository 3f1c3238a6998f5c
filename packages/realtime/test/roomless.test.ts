import { recordingLogger } from '@bancada/testkit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { connectClient, waitFor } from './helpers/hubs.js';
import { servePaths, vendor7, vendorOfUrl } from './helpers/wire-paths.js';

const AFTER_MS = 200;
const roomlessLines = (lines: string[]) => lines.filter((l) => l.includes('joined no room'));

describe('connections that receive nothing', () => {
  it('counts and logs, once per interval, an old dashboard connected to a path that reads no room from its URL', async () => {
    const logger = recordingLogger();
    const registry = new Registry();
    const { hub, ws } = await servePaths({ roomlessAfterMs: AFTER_MS, logger, registry }, [
      { path: '/ws' }, // forgot `rooms`: the dashboard's ?vendorId=7 means nothing here
      { path: '/fixed', rooms: vendorOfUrl },
    ]);
    await connectClient(ws('/fixed?vendorId=7'), vendor7);
    const connectedAt = performance.now();
    await connectClient(ws('/ws?vendorId=7'), vendor7);
    expect(hub.stats().roomless).toBe(0); // not yet: a client gets time to join
    await waitFor('the warning', () => roomlessLines(logger.lines).length > 0);
    expect(performance.now() - connectedAt).toBeGreaterThanOrEqual(AFTER_MS);
    expect(hub.stats().roomless).toBe(1);
    expect(await registry.metrics()).toMatch(/^bancada_realtime_roomless_connections 1$/m);
    expect(roomlessLines(logger.lines)).toEqual([
      expect.stringMatching(/^warn realtime: 1 connection\(s\) joined no room within 200 ms/),
    ]);
    // Several checks later, still one line: the log says it at most once per 10 s.
    const firstAt = performance.now();
    await waitFor('three more checks', () => performance.now() - firstAt > 3 * AFTER_MS);
    expect(roomlessLines(logger.lines)).toHaveLength(1);
  });

  it('stops counting a connection once it joins, and counts it again after it left its last room', async () => {
    const { hub, ws } = await servePaths({ roomlessAfterMs: AFTER_MS }, [{ path: '/ws' }]);
    const client = await connectClient(ws('/ws'), vendor7);
    await waitFor('it to count', () => hub.stats().roomless === 1);
    client.send({ type: 'subscribe', room: 'vendor:7' });
    await client.next((m) => m.type === 'joined', 'joined');
    expect(hub.stats().roomless).toBe(0);
    const leftAt = performance.now();
    client.send({ type: 'unsubscribe', room: 'vendor:7' });
    await client.next((m) => m.type === 'left', 'left');
    expect(hub.stats().roomless).toBe(0); // the bound starts again from the leave
    await waitFor('it to count again', () => hub.stats().roomless === 1);
    expect(performance.now() - leftAt).toBeGreaterThanOrEqual(AFTER_MS);
    client.ws.close();
    await waitFor('it to go', () => hub.stats().connections.websocket === 0);
    expect(hub.stats().roomless).toBe(0);
  });
});
