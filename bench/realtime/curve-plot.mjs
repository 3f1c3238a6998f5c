// The saturation curve of a realtime-<stamp>.jsonl as a small hand-written SVG: deliveries
// per second and p99 latency against the publish rate R, one line per hub (the mean of its
// repetitions), a dot per repetition.
//   node bench/realtime/curve-plot.mjs bench/realtime/results/realtime-<stamp>.jsonl
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const HUBS = [
  ['bancada', '@bancada/realtime', '#1f77b4'],
  ['sio-redis', 'socket.io + redis-adapter', '#d62728'],
  ['ws-redis', 'raw ws + Redis', '#2ca02c'],
  ['bancada-redispub', '@bancada/realtime, PUBLISHed into Redis', '#9467bd'],
  ['bancada-delay', '@bancada/realtime, writeDelayMs', '#ff7f0e'],
];
const P99_HELD_MS = 250;
const W = 440;
const H = 300;
const M = { left: 64, right: 16, top: 28, bottom: 44 };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const num = (x) => (x >= 1e3 ? `${+(x / 1e3).toFixed(1)}k` : `${+x.toFixed(1)}`);
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** A round step (1, 2 or 5 times a power of ten) that cuts 0..top into about five. */
function niceStep(top) {
  const raw = top / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

/** One panel: axes, ticks, a line and dots per hub. `y` reads a run's value; `log` for latency. */
function panel(x0, title, runs, rates, y, log, yLabel) {
  const values = runs.map(y).filter((v) => v > 0);
  const top = Math.max(...values) * 1.1;
  const bottom = log ? Math.max(1, Math.min(...values) / 1.5) : 0;
  const px = (r) => x0 + M.left + ((r - 0) / (rates.at(-1) * 1.05)) * (W - M.left - M.right);
  const py = (v) => {
    const t = log
      ? (Math.log10(Math.max(v, bottom)) - Math.log10(bottom)) /
        (Math.log10(top) - Math.log10(bottom))
      : v / top;
    return M.top + (1 - t) * (H - M.top - M.bottom);
  };
  const out = [
    `<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${px(0)}" y1="${py(bottom)}" x2="${x0 + W - M.right}" y2="${py(bottom)}" stroke="#444"/>`,
    `<line x1="${px(0)}" y1="${py(bottom)}" x2="${px(0)}" y2="${M.top}" stroke="#444"/>`,
    `<text x="${x0 + W / 2}" y="${H - 6}" text-anchor="middle">R, messages/s published</text>`,
    `<text transform="translate(${x0 + 14},${H / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (const r of rates) {
    out.push(
      `<line x1="${px(r)}" y1="${py(bottom)}" x2="${px(r)}" y2="${py(bottom) + 4}" stroke="#444"/>`,
      `<text x="${px(r)}" y="${py(bottom) + 16}" text-anchor="middle">${r}</text>`,
    );
  }
  const ticks = log
    ? [1, 10, 100, 1000, 10_000, 100_000]
        .flatMap((t) => [t, 2 * t, 5 * t])
        .filter((t) => t >= bottom && t <= top)
    : Array.from({ length: Math.floor(top / niceStep(top)) }, (_, i) => (i + 1) * niceStep(top));
  for (const t of ticks) {
    out.push(
      `<line x1="${px(0)}" y1="${py(t)}" x2="${x0 + W - M.right}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${px(0) - 6}" y="${py(t) + 4}" text-anchor="end">${num(t)}</text>`,
    );
  }
  if (log && P99_HELD_MS > bottom && P99_HELD_MS < top) {
    // The bound of "held": 100% delivered and p99 under it.
    out.push(
      `<line x1="${px(0)}" y1="${py(P99_HELD_MS)}" x2="${x0 + W - M.right}" y2="${py(P99_HELD_MS)}" stroke="#888" stroke-dasharray="4 3"/>`,
      `<text x="${x0 + W - M.right}" y="${py(P99_HELD_MS) - 4}" text-anchor="end" fill="#666">${P99_HELD_MS} ms</text>`,
    );
  }
  for (const [hub, , color] of HUBS) {
    const points = rates
      .map((r) => {
        const vs = runs.filter((run) => run.hub === hub && run.rate === r).map(y);
        return vs.length ? [r, mean(vs), vs] : undefined;
      })
      .filter(Boolean);
    if (!points.length) continue;
    const path = points.map(([r, v]) => `${px(r).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [r, , vs] of points) {
      for (const v of vs) {
        out.push(
          `<circle cx="${px(r).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="${color}"/>`,
        );
      }
    }
  }
  return out;
}

/** The SVG text of the curve of the fan-out rows of a results .jsonl. */
export function curveSvg(text) {
  const runs = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.mode === 'fanout');
  const rates = [...new Set(runs.map((r) => r.rate))].sort((a, b) => a - b);
  if (rates.length === 0) return undefined;
  const shown = HUBS.filter(([hub]) => runs.some((r) => r.hub === hub));
  const legend = shown.map(([, name, color], i) => {
    const x = M.left + (i % 2) * W;
    const y = H + 6 + Math.floor(i / 2) * 16;
    return (
      `<rect x="${x}" y="${y}" width="14" height="4" fill="${color}"/>` +
      `<text x="${x + 20}" y="${y + 6}">${esc(name)}</text>`
    );
  });
  const body = [
    ...panel(
      0,
      'Deliveries per second',
      runs,
      rates,
      (r) => r.deliveriesPerSec,
      false,
      'deliveries/s',
    ),
    ...panel(W, 'p99 latency (log scale)', runs, rates, (r) => r.latMs.p99, true, 'p99 ms'),
    ...legend,
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 12 + Math.ceil(shown.length / 2) * 16}" font-family="sans-serif" font-size="11">`,
    '<title>Deliveries per second and p99 latency against the publish rate R</title>',
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  const svg = curveSvg(readFileSync(file, 'utf8'));
  if (svg === undefined) throw new Error(`no fan-out runs in ${file}`);
  writeFileSync(file.replace(/\.jsonl$/, '.svg'), svg);
  console.log(file.replace(/\.jsonl$/, '.svg'));
}
