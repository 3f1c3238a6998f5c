// The kitchen screens of bench/pdv-app/run.mjs, in a process of their own so that parsing
// their events does not compete with autocannon for one event loop (which would show up as
// delivery latency). Driven over IPC by run.mjs; exits when run.mjs goes away.
//
// Each screen is a WebSocket through nginx with a session cookie, joined to its restaurant's
// room with the app's `auth` message. Per screen it counts each order id it receives (to find
// misses and duplicates); for every event, receive time − the event's `ts` (the publish time
// on the server; same machine, same clock) goes into a 1 ms histogram.
import { WebSocket } from 'ws';

const MAX_MS = 60_000;
const latencyMs = new Uint32Array(MAX_MS + 1); // the last bucket holds everything slower
let maxLatency = 0;
/** @type {Screen[]} */
const screens = [];

/**
 * @typedef {{ restaurant: string, address: string, joined: boolean, counts: Uint8Array,
 *   events: number, gaps: number, closeCode: number | undefined, socket: WebSocket }} Screen
 */

/** Counts one receipt of `orderId` on `screen`, growing its table as ids grow. */
function countOrder(screen, orderId) {
  if (orderId >= screen.counts.length) {
    const grown = new Uint8Array(Math.max(orderId + 1, screen.counts.length * 2));
    grown.set(screen.counts);
    screen.counts = grown;
  }
  if (screen.counts[orderId] < 255) screen.counts[orderId]++;
}

function onMessage(screen, data) {
  const message = JSON.parse(String(data));
  if (message.type === 'gap') screen.gaps++;
  if (message.type !== 'event' || message.eventType !== 'order-created') return;
  const ms = Math.max(0, Date.now() - message.ts);
  latencyMs[Math.min(ms, MAX_MS)]++;
  maxLatency = Math.max(maxLatency, ms);
  screen.events++;
  countOrder(screen, message.payload.id);
}

/** One screen; resolves once joined, rejects on refusal or after 15 s. */
function openScreen({ wsUrl, cookie, restaurant, address }) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, { headers: { cookie }, localAddress: address });
    /** @type {Screen} */
    const screen = {
      restaurant,
      address,
      joined: false,
      counts: new Uint8Array(1024),
      events: 0,
      gaps: 0,
      closeCode: undefined,
      socket,
    };
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error('no joined within 15 s'));
    }, 15_000);
    socket.on('message', (data) => {
      if (!screen.joined) {
        // The first message answers the auth message.
        const reply = JSON.parse(String(data));
        clearTimeout(timer);
        if (reply.type !== 'joined') {
          socket.terminate();
          reject(new Error(`join answered ${String(data)}`));
          return;
        }
        screen.joined = true;
        screens.push(screen);
        resolve(screen);
        return;
      }
      onMessage(screen, data);
    });
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'auth', restaurantId: restaurant })),
    );
    socket.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', (code) => {
      screen.closeCode = code;
    });
  });
}

/** Opens `plan` (one entry per screen), `concurrency` handshakes at a time. */
async function openAll(plan, concurrency) {
  const failures = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < plan.length) {
        const spec = plan[next++];
        try {
          await openScreen(spec);
        } catch (error) {
          failures[error.message] = (failures[error.message] ?? 0) + 1;
        }
      }
    }),
  );
  return { opened: screens.length, failures };
}

/**
 * Receipts of the expected ids: delivered (at least once), duplicates, misses, and orders of
 * the other restaurant (a leak across rooms; should be 0).
 */
function tally(expected) {
  let delivered = 0;
  let duplicates = 0;
  let wanted = 0;
  let leaked = 0;
  for (const screen of screens) {
    for (const [restaurant, ids] of Object.entries(expected)) {
      const own = restaurant === screen.restaurant;
      if (own) wanted += ids.length;
      for (const id of ids) {
        const count = screen.counts[id] ?? 0;
        if (!own) leaked += count;
        else if (count > 0) {
          delivered++;
          duplicates += count - 1;
        }
      }
    }
  }
  return { expected: wanted, delivered, missed: wanted - delivered, duplicates, leaked };
}

/** Waits until every expected receipt is in, or `drainMs` passes. */
async function drain(expected, drainMs) {
  const deadline = Date.now() + drainMs;
  let counts = tally(expected);
  while (counts.missed > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    counts = tally(expected);
  }
  return counts;
}

function latencyPercentile(p, total) {
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let ms = 0; ms <= MAX_MS; ms++) {
    seen += latencyMs[ms];
    if (seen >= rank) return ms;
  }
  return MAX_MS;
}

function report(counts) {
  const total = latencyMs.reduce((sum, n) => sum + n, 0);
  const closes = {};
  for (const screen of screens) {
    if (screen.closeCode !== undefined)
      closes[screen.closeCode] = (closes[screen.closeCode] ?? 0) + 1;
  }
  return {
    ...counts,
    events: total,
    gaps: screens.reduce((sum, s) => sum + s.gaps, 0),
    closedDuringRun: closes,
    latencyMs: {
      p50: latencyPercentile(50, total),
      p99: latencyPercentile(99, total),
      max: maxLatency,
    },
  };
}

process.on('message', async (message) => {
  if (message.cmd === 'open') {
    process.send({ cmd: 'opened', ...(await openAll(message.plan, message.concurrency)) });
  } else if (message.cmd === 'finish') {
    const counts = await drain(message.expected, message.drainMs);
    process.send({ cmd: 'report', report: report(counts) });
  } else if (message.cmd === 'close') {
    for (const screen of screens) screen.socket.terminate();
    process.exit(0);
  }
});
// run.mjs is gone (finished, killed or crashed): no screen outlives it.
process.on('disconnect', () => process.exit(0));
