// What the hub's OpenTelemetry hook costs per publish: one hub, one WebSocket client in the
// room, no Redis (so that only the hub's own work is timed), publishes timed in batches of
// 500 (the client catches up between batches, untimed). Variants, batch by batch:
//   off             createHub({ tracing: false })
//   on, no SDK      tracing on (the default where @opentelemetry/api is installed), no SDK
//                   registered: what most apps pay
// then, with the real SDK registered (NodeTracerProvider, BatchSpanProcessor, an exporter
// that drops what it gets, so that no network or disk is timed):
//   off, in a span  tracing: false, publishing within an active span
//   on, no span     tracing on, publishing outside any span (a timer, a job)
//   on, in a span   tracing on, within an active span: traceparent recorded, and a delivery
//                   span made, ended and handed to the processor per event
//
//   npm run bench -- tracing      # about 15 s
//   node bench/tracing/run.mjs --samples=300
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createHub } from '@bancada/realtime';
import { context, trace } from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { WebSocket } from 'ws';
import { median } from '../lib/measure.mjs';

const BATCH = 500;
const ROOM = 'bench';

/** A hub with one WebSocket client joined to ROOM; `received` counts its events. */
async function hubWithClient(tracing) {
  const hub = createHub({
    authenticate: false,
    authorize: () => true,
    redis: false,
    logger: false,
    tracing,
    roomlessAfterMs: false,
  });
  const server = createServer();
  hub.attach(server, { path: '/ws' });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/ws`);
  await once(ws, 'open');
  const state = { received: 0 };
  const joined = new Promise((resolve) => {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.type === 'joined') resolve();
      else if (message.type === 'event') state.received++;
    });
  });
  ws.send(JSON.stringify({ type: 'subscribe', room: ROOM }));
  await joined;
  return {
    hub,
    state,
    async close() {
      ws.terminate();
      await hub.close();
      server.close();
    },
  };
}

/** ns per publish of one timed batch; then waits, untimed, until the client has it all. */
async function timeBatch(target, inSpan) {
  const expected = target.state.received + BATCH;
  let ns = 0;
  const publishBatch = () => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) target.hub.publish(ROOM, { eventType: 'tick', payload: i });
    ns = Number(process.hrtime.bigint() - started);
  };
  if (inSpan) {
    trace.getTracer('bench').startActiveSpan('request', (span) => {
      publishBatch();
      span.end();
    });
  } else publishBatch();
  while (target.state.received < expected) await new Promise((r) => setImmediate(r));
  return ns / BATCH;
}

/**
 * The variants batch by batch, rotating who goes first, so that the machine's drift (other
 * processes, CPU states) weighs on each alike; each variant's difference to the first is the
 * median of the per-batch differences (paired), its ns/publish the median of its batches.
 */
async function compare(variants, samples) {
  const times = variants.map(() => []);
  for (let i = 0; i < samples; i++) {
    for (let j = 0; j < variants.length; j++) {
      const k = (i + j) % variants.length;
      times[k][i] = await timeBatch(variants[k].target, variants[k].inSpan);
    }
  }
  return variants.map((v, k) => ({
    name: v.name,
    ns: median(times[k]),
    delta: median(times[k].map((t, i) => t - times[0][i])),
  }));
}

export async function run(args = []) {
  const option = (name, fallback) => {
    const found = args.find((a) => a.startsWith(`--${name}=`));
    return found ? Number(found.split('=')[1]) : fallback;
  };
  const samples = option('samples', 300);
  const off = await hubWithClient(false);
  const on = await hubWithClient(true);
  try {
    // Warm-up: JIT, socket buffers.
    await compare(
      [
        { name: 'off', target: off, inSpan: false },
        { name: 'on', target: on, inSpan: false },
      ],
      20,
    );
    const withoutSdk = await compare(
      [
        { name: 'off', target: off, inSpan: false },
        { name: 'on, no SDK', target: on, inSpan: false },
      ],
      samples,
    );
    const drop = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
    const provider = new NodeTracerProvider({
      spanProcessors: [new BatchSpanProcessor(drop, { maxQueueSize: 65_536 })],
    });
    provider.register();
    const withSdk = await compare(
      [
        { name: 'off, in a span', target: off, inSpan: true },
        { name: 'on, no span', target: on, inSpan: false },
        { name: 'on, in a span', target: on, inSpan: true },
      ],
      samples,
    );
    await provider.shutdown();
    trace.disable();
    context.disable();

    console.log(
      `\n## Tracing hook, ns per publish (one local WebSocket client; ${samples} batches of ${BATCH} per variant, medians)\n`,
    );
    console.log('| variant | ns/publish | vs the first of its group (paired) |');
    console.log('|---|---:|---:|');
    for (const { name, ns, delta } of [...withoutSdk, ...withSdk]) {
      console.log(
        `| ${name} | ${ns.toFixed(0)} | ${delta >= 0 ? '+' : ''}${delta.toFixed(0)} ns |`,
      );
    }
  } finally {
    await off.close();
    await on.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
