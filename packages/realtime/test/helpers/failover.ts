import { keyPrefix, recordingLogger, serveHub } from '@bancada/testkit';
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import { createHub, type Hub, type HubOptions } from '../../src/index.js';
import { afterThisTest, headerAuthenticate, type TestUser, waitFor } from './hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

/** One published event, as every client should see it. */
interface Tick {
  from: number;
  n: number;
}

/** What a client received, in order: events (with when they arrived) and gaps. */
type Received = { kind: 'event'; tick: Tick; id: string; at: number } | { kind: 'gap'; at: number };

/** A client of restaurant:a on one instance that keeps everything it receives, in order. */
export async function recordingClient(url: string, instance: number) {
  const ws = new WebSocket(url, { headers: { 'x-test-user': JSON.stringify(alice) } });
  afterThisTest(() => ws.terminate());
  const received: Received[] = [];
  let joined = false;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as {
      type: string;
      id?: string;
      payload?: Tick;
      room?: string;
    };
    if (m.type === 'joined') joined = true;
    if (m.type === 'event') {
      received.push({ kind: 'event', tick: m.payload!, id: m.id!, at: Date.now() });
    }
    if (m.type === 'gap') received.push({ kind: 'gap', at: Date.now() });
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'subscribe', room: 'restaurant:a' }));
  return { instance, received, joined: () => joined };
}
export type RecordingClient = Awaited<ReturnType<typeof recordingClient>>;

/**
 * Each hub publishes ticks to restaurant:a, `perSecond` in all, spread over the hubs, until
 * stopped (and never longer than `maxMs`). Each tick says which hub sent it and its number.
 */
export function traffic(hubs: Hub[], perSecond: number, maxMs: number) {
  const sent = hubs.map(() => 0);
  const failures: unknown[] = [];
  let running = true;
  const started = Date.now();
  const done = (async () => {
    while (running && Date.now() - started < maxMs) {
      const due = Math.floor(((Date.now() - started) * perSecond) / 1000);
      for (let total = sent.reduce((a, b) => a + b, 0); total < due; total++) {
        const from = total % hubs.length;
        const n = sent[from]!++;
        // Not awaited: a publish of a room with history waits for Redis, bounded.
        hubs[from]!.toRestaurant('a', { eventType: 'tick', payload: { from, n } }).catch(
          (error: unknown) => failures.push(error),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return {
    sent,
    failures,
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * Checks one client's record: from each hub, ticks in order, none twice, and a `gap` before
 * any tick that follows a hole. Returns what is wrong, if anything.
 */
export function problemsOf(client: RecordingClient, hubs: number): string[] {
  const problems: string[] = [];
  const last = Array.from({ length: hubs }, () => -1);
  const gapSince = Array.from({ length: hubs }, () => true); // a first hole needs no gap
  let holes = 0;
  for (const r of client.received) {
    if (r.kind === 'gap') {
      gapSince.fill(true);
      continue;
    }
    const { from, n } = r.tick;
    if (n <= last[from]!)
      problems.push(`hub ${from}'s tick ${n} after ${last[from]} (twice or out of order)`);
    else if (n > last[from]! + 1 && last[from]! >= 0) {
      holes++;
      if (!gapSince[from])
        problems.push(`hub ${from}'s ticks ${last[from]! + 1}..${n - 1} missing, no gap`);
    }
    last[from] = Math.max(last[from]!, n);
    gapSince[from] = false;
  }
  void holes;
  return problems.map((p) => `client on hub ${client.instance + 1}: ${p}`);
}

/** How many ticks a client got, how many it missed (told by a gap), of each hub's. */
export function tally(client: RecordingClient) {
  const events = client.received.filter((r) => r.kind === 'event').length;
  const gaps = client.received.filter((r) => r.kind === 'gap').length;
  return { events, gaps };
}

/**
 * The longest time a client went without a tick from another instance, between `from` and
 * `to`: how long cross-instance delivery stopped.
 */
export function longestSilence(client: RecordingClient, from: number, to: number): number {
  let previous = from;
  let longest = 0;
  for (const r of client.received) {
    if (r.kind !== 'event' || r.tick.from === client.instance || r.at < from) continue;
    longest = Math.max(longest, r.at - previous);
    previous = r.at;
  }
  return Math.max(longest, to - previous);
}

/** True once the client has the last tick of every hub (or it lies behind a gap). */
export function caughtUp(client: RecordingClient, sent: number[]): boolean {
  return sent.every((count, from) =>
    client.received.some(
      (r) => r.kind === 'event' && r.tick.from === from && r.tick.n === count - 1,
    ),
  );
}

const RATE = 200; // events per second, over the three hubs
const CLIENTS_PER_HUB = 2;

/**
 * The failover scenario, on any Redis set-up that can lose its master: three hubs with
 * history on `redis`, two WebSocket clients on each in one busy room, RATE events per second
 * published from all three; `failover(prefix)` kills the master that serves the room and
 * resolves once a replica has taken over. Checks that every client got every event in order
 * or a gap where events were lost, none twice, and every event published after the
 * promotion; no unhandled rejection, no failed publish. Resolves the figures measured.
 */
export async function failoverUnderTraffic(
  redis: HubOptions['redis'],
  failover: (prefix: string) => Promise<void>,
) {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  afterThisTest(() => process.off('unhandledRejection', onUnhandled));

  const prefix = keyPrefix('realtime-failover');
  const loggers = [0, 1, 2].map(() => recordingLogger());
  const running = [];
  for (const [i, logger] of loggers.entries()) {
    const hub = createHub({
      authenticate: headerAuthenticate,
      logger,
      redis,
      prefix,
      instanceId: `hub-${i + 1}`,
      history: true,
    });
    running.push(await serveHub(hub));
  }
  const hubs = running.map((r) => r.hub);
  const clients: RecordingClient[] = [];
  for (const [i, r] of running.entries()) {
    for (let c = 0; c < CLIENTS_PER_HUB; c++) clients.push(await recordingClient(r.wsUrl, i));
  }
  // What each client and hub had, for a wait that timed out.
  const explained = (wait: Promise<void>) =>
    wait.catch((error: Error) => {
      const got = clients.map(
        (c) => `client on hub ${c.instance + 1}: ${JSON.stringify(tally(c))}, joined ${c.joined()}`,
      );
      const logs = loggers.map((l, i) => `hub ${i + 1}: ${l.lines.join(' | ')}`);
      throw new Error([error.message, ...got, ...logs].join('\n'));
    });
  await explained(waitFor('every client joined', () => clients.every((c) => c.joined())));

  const load = traffic(hubs, RATE, 60_000);
  afterThisTest(() => load.stop());
  await explained(
    waitFor('traffic on every client', () => clients.every((c) => tally(c).events > 50)),
  );
  const killedAt = Date.now();
  await failover(prefix);
  const promotedAt = Date.now();
  // Traffic goes on well after the promotion, then every client must have it all.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  await load.stop();
  const stoppedAt = Date.now();
  await explained(
    waitFor(
      'every client has the last event of every hub',
      () => clients.every((c) => caughtUp(c, load.sent)),
      15_000,
    ),
  );

  expect(clients.flatMap((c) => problemsOf(c, hubs.length))).toEqual([]);
  expect(unhandled).toEqual([]);
  expect(load.failures).toEqual([]);
  for (const logger of loggers) {
    expect(logger.lines.some((line) => line.includes('redis is back'))).toBe(true);
  }
  const silence = Math.max(...clients.map((c) => longestSilence(c, killedAt, stoppedAt)));
  return {
    promotionMs: promotedAt - killedAt,
    /** The longest a client went without an event of another instance, from the kill. */
    silenceMs: silence,
    summary:
      `promotion ${promotedAt - killedAt} ms after the kill; longest cross-instance silence of a client ${silence} ms ` +
      `(${silence - (promotedAt - killedAt)} ms past the promotion); events per client ${clients.map((c) => tally(c).events).join('/')}, ` +
      `gaps ${clients.map((c) => tally(c).gaps).join('/')}, sent ${load.sent.reduce((a, b) => a + b, 0)}`,
  };
}
