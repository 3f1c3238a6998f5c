// Turns a realtime-<stamp>.jsonl (bench/realtime/run.mjs) into the tables and goal ratios of
// bench/README.md's Realtime section.
//   node bench/realtime/summary.mjs bench/realtime/results/realtime-<stamp>.jsonl
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const NAMES = {
  bancada: '@bancada/realtime',
  'bancada-gc': '@bancada/realtime, GC forced as for the built-ins',
  'bancada-recheck': '@bancada/realtime, session re-check on',
  'bancada-delay': '@bancada/realtime, writeDelayMs',
  'bancada-redispub': '@bancada/realtime, PUBLISHed into Redis',
  'sio-redis': 'socket.io + redis-adapter',
  'ws-redis': 'raw ws + Redis',
};
const ORDER = [
  'bancada',
  'sio-redis',
  'ws-redis',
  'bancada-redispub',
  'bancada-delay',
  'bancada-recheck',
  'bancada-gc',
];
const P99_LIMIT_MS = 250;

const f = (x, d = 1) =>
  x === undefined || x === null || Number.isNaN(x) ? '-' : Number(x).toFixed(d);
const k = (x) => (x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : String(x));
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const held = (r) => r.delivered >= r.expected && r.latMs.p99 < P99_LIMIT_MS;
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

export function summarize(text) {
  const rows = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const meta = rows.find((r) => r.mode === 'meta');
  const fan = rows.filter((r) => r.mode === 'fanout');
  const idle = rows.filter((r) => r.mode === 'idle');
  const failed = rows.filter((r) => r.mode === 'failed');
  const hubs = ORDER.filter((h) => fan.some((r) => r.hub === h));
  const rates = [...new Set(fan.map((r) => r.rate))].sort((a, b) => a - b);
  const runsOf = (hub, rate) =>
    fan.filter((r) => r.hub === hub && r.rate === rate).sort((a, b) => a.rep - b.rep);
  const out = [];

  if (meta) {
    const v = meta.versions ?? {};
    const pv = fan.find((r) => r.versions)?.versions ?? {};
    out.push(
      `${meta.time.slice(0, 10)}, ${meta.cpus} CPUs, Node ${meta.node.slice(1)}, Redis ${meta.redis}; ` +
        `@bancada/realtime ${v['@bancada/realtime']} (ws ${v.ws}, ioredis ${v.ioredis}); ` +
        `harness: socket.io ${pv['socket.io']}, @socket.io/redis-adapter ${pv['@socket.io/redis-adapter']}, ` +
        `ws ${pv.ws}, ioredis ${pv.ioredis}. N=${meta.options.clients} clients in one room over 2 server ` +
        `processes, ${meta.options.duration} s per run` +
        (meta.options.reps > 1
          ? `, ${meta.options.reps} repetitions (values "rep 1 / rep 2 ...").`
          : '.'),
      '',
    );
  }

  if (fan.length) {
    out.push(
      '| R msg/s | hub | deliveries/s (target) | delivered % | p50 ms | p99 ms | srv CPU µs/deliv | srv CPU % (both procs) |',
      '|---:|---|---|---|---|---|---|---|',
    );
    for (const rate of rates) {
      for (const hub of hubs) {
        const rs = runsOf(hub, rate);
        if (!rs.length) continue;
        const j = (fn) => rs.map(fn).join(' / ');
        out.push(
          `| ${rate} | ${NAMES[hub]} | ${j((r) => k(r.deliveriesPerSec))} (${k(rs[0].targetDeliveriesPerSec)}) | ` +
            `${j((r) => f(r.deliveredPct, r.deliveredPct >= 100 ? 0 : 1))} | ${j((r) => f(r.latMs.p50, 0))} | ` +
            `${j((r) => f(r.latMs.p99, 0))} | ${j((r) => f(r.cpuUsPerDelivery.servers))} | ` +
            `${j((r) => r.cpuPct.servers.reduce((s, x) => s + x, 0))} |`,
        );
      }
    }
    out.push('');
  }

  const idleRuns = (hub) =>
    idle.filter((r) => r.hub === hub).sort((a, b) => (a.rep ?? 1) - (b.rep ?? 1));
  if (idle.length) {
    out.push(
      '| idle connections | hub | connected | srv RSS before MB | srv RSS idle MB | srv RSS KB/conn | mean KB/conn |',
      '|---:|---|---|---|---|---|---:|',
    );
    for (const hub of ORDER) {
      const rs = idleRuns(hub);
      if (!rs.length) continue;
      const j = (fn) => rs.map(fn).join(' / ');
      out.push(
        `| ${rs[0].clients} | ${NAMES[hub]} | ${j((r) => r.connected)} | ${j((r) => r.rssBaseMB.join(' + '))} | ` +
          `${j((r) => r.rssIdleMB.join(' + '))} | ${j((r) => f(r.rssPerConnKB, 2))} | ${f(mean(rs.map((r) => r.rssPerConnKB)), 2)} |`,
      );
    }
    out.push('');
  }

  // ---- goals ---------------------------------------------------------------------------
  const goals = [];
  const main = ['bancada', 'sio-redis', 'ws-redis'];
  if (main.every((h) => hubs.includes(h))) {
    const cpu = (hub, rate) => mean(runsOf(hub, rate).map((r) => r.cpuUsPerDelivery.servers));
    // Issue 16: from R=50 up to saturation, every rate at which ours delivered everything.
    const judged = rates.filter(
      (rate) => rate >= 50 && runsOf('bancada', rate).every((r) => r.delivered >= r.expected),
    );
    const perRate = rates
      .map(
        (rate) =>
          `R=${rate}: ${ratio(cpu('bancada', rate), cpu('sio-redis', rate))} / ${ratio(cpu('bancada', rate), cpu('ws-redis', rate))}`,
      )
      .join('; ');
    const worst = (peer) =>
      Math.max(...judged.map((rate) => cpu('bancada', rate) / cpu(peer, rate)));
    if (judged.length) {
      const [ws, ww] = [worst('sio-redis'), worst('ws-redis')];
      goals.push(
        `| server CPU per delivery at most 0.6x socket.io-redis's at every rate from 50 to saturation | worst **${ws.toFixed(2)}x** (R=${judged.join(', ')}) | ${ws <= 0.6 ? 'met' : 'missed'} |`,
        `| ... and at most 0.85x the raw ws + Redis loop's | worst **${ww.toFixed(2)}x** | ${ww <= 0.85 ? 'met' : 'missed'} |`,
        `| (per rate, vs socket.io / vs raw ws) | ${perRate} | |`,
      );
    } else {
      goals.push(
        `| server CPU per delivery | no rate from 50 where ours delivered 100%: ${perRate} | - |`,
      );
    }
    if (rates.includes(200)) {
      const dps = (hub) => mean(runsOf(hub, 200).map((r) => r.deliveriesPerSec));
      const r200 = dps('bancada') / dps('sio-redis');
      goals.push(
        `| at R=200, deliveries/s at least 1.3x socket.io-redis's | ${k(Math.round(dps('bancada')))} vs ${k(Math.round(dps('sio-redis')))} = **${r200.toFixed(2)}x** | ${r200 >= 1.3 ? 'met' : 'missed'} |`,
      );
    }
    const best = (hub) => {
      const ok = rates.filter((rate) => runsOf(hub, rate).length && runsOf(hub, rate).every(held));
      return ok.length ? Math.max(...ok) : 0;
    };
    const reps = [...new Set(fan.map((r) => r.rep))].sort((a, b) => a - b);
    const bestIn = (hub, rep) => {
      const ok = rates.filter((rate) => runsOf(hub, rate).some((r) => r.rep === rep && held(r)));
      return ok.length ? Math.max(...ok) : 0;
    };
    const perRep = main
      .map((h) => `${NAMES[h]} ${reps.map((rep) => bestIn(h, rep)).join(' / ')}`)
      .join('; ');
    const [bo, bs, bw] = main.map(best);
    const top = rates[rates.length - 1];
    const r = bs > 0 ? bo / bs : Number.POSITIVE_INFINITY;
    const bound =
      bo === top ? ' (ours held the highest rate tried, so the true ratio may be higher)' : '';
    const everyRep = reps.every((rep) => bestIn('bancada', rep) >= 2 * bestIn('sio-redis', rep));
    goals.push(
      `| highest rate held (100% delivered, p99 < ${P99_LIMIT_MS} ms) at least 2x socket.io-redis's in every repetition | held in all: ours ${bo}, socket.io-redis ${bs}, raw ws ${bw} msg/s = **${bs > 0 ? `${r.toFixed(2)}x` : 'n/a'}**${bound} | ${everyRep ? 'met' : bo === top && bs === top ? 'not measurable: both held the top rate' : 'missed'} |`,
      `| (highest rate held in each repetition) | ${perRep} | |`,
    );
  }
  const idleOf = (hub) => {
    const rs = idleRuns(hub);
    return rs.length ? mean(rs.map((r) => r.rssPerConnKB)) : undefined;
  };
  if (idleOf('bancada') !== undefined && idleOf('sio-redis') !== undefined) {
    const o = idleOf('bancada');
    const s = idleOf('sio-redis');
    const g = idleOf('bancada-gc');
    const c = idleOf('bancada-recheck');
    if (c !== undefined) {
      goals.push(
        `| RSS per idle connection at most 0.45x socket.io-redis's with the re-check on | ${f(c, 2)} vs ${f(s, 2)} KB = **${ratio(c, s)}** | ${c / s <= 0.45 ? 'met' : 'missed'} |`,
      );
    }
    const w = idleOf('ws-redis');
    goals.push(
      `| RSS per idle connection at most half of socket.io-redis's | ${f(o, 2)} vs ${f(s, 2)} KB = **${ratio(o, s)}**` +
        (g !== undefined
          ? `; with GC forced as the harness does for socket.io: ${f(g, 2)} KB = ${ratio(g, s)}`
          : '') +
        (w !== undefined ? ` (raw ws + Redis: ${f(w, 2)} KB)` : '') +
        ` | ${o / s <= 0.5 ? 'met' : g !== undefined && g / s <= 0.5 ? 'met with GC forced; missed without' : 'missed'} |`,
    );
  }
  if (goals.length) out.push('| goal | result | |', '|---|---|---|', ...goals, '');

  // ---- anything odd ------------------------------------------------------------------------
  const notes = [];
  for (const r of [...fan, ...idle]) {
    const bits = [];
    if (r.failed) bits.push(`${r.failed} connections failed ${JSON.stringify(r.errors)}`);
    if (r.disconnects) bits.push(`${r.disconnects} disconnects`);
    if (r.lateNotCounted) bits.push(`${r.lateNotCounted} deliveries after the cut-off`);
    if (r.drainNote) bits.push(r.drainNote);
    if (r.serverDied) bits.push(r.serverDied.join('; '));
    for (const s of r.hubStats ?? []) {
      const h = s.hub;
      for (const key of [
        'slowConsumerCloses',
        'fanoutDropped',
        'fanoutMissed',
        'deserializeFailures',
      ]) {
        if (h[key]) bits.push(`${h.instanceId} ${key}=${h[key]}`);
      }
      if (s.badPublishes) bits.push(`${h.instanceId} badPublishes=${s.badPublishes}`);
      if (s.logged.length) bits.push(`${h.instanceId} logged: ${s.logged.join(' | ')}`);
    }
    if (bits.length) notes.push(`- ${r.label}: ${bits.join('; ')}`);
  }
  for (const r of failed) notes.push(`- ${r.label}: run failed: ${r.error}`);
  const builds = new Set(rows.filter((r) => r.hubBuild).map((r) => r.hubBuild));
  if (builds.size > 1 || rows.some((r) => r.hubBuildAfter)) {
    notes.push(
      `- the built hub (dist) changed during the sitting: builds ${[...builds].join(', ')}`,
    );
  }
  const other = [...fan, ...idle].filter((r) => r.otherCpuPct !== undefined);
  if (other.length) {
    const busy = other.filter((r) => r.otherCpuPct > 10);
    const line =
      `- other programs on the machine used ${f(mean(other.map((r) => r.otherCpuPct)))}% of one core on average during the runs ` +
      `(max ${f(Math.max(...other.map((r) => r.otherCpuPct)))}%)`;
    if (busy.length) {
      notes.push(
        `${line}; over 10% during: ${busy.map((r) => `${r.label} (${f(r.otherCpuPct)}%)`).join(', ')}`,
      );
    } else notes.push(line);
  }
  out.push(['Notes:', ...notes].join('\n'));
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(summarize(readFileSync(process.argv[2], 'utf8')));
}
