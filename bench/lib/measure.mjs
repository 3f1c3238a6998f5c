// Measurement helpers shared by the suites. Nothing here asserts a time: they only report.

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function median(values) {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/**
 * Times a tight loop of `ops` calls per implementation, repeated for `rounds` rounds with the
 * implementations alternating, and returns the median ns per op of each. For operations too
 * fast to time one by one (a local hit).
 */
export async function nsPerOp(impls, { ops, rounds }) {
  const samples = Object.fromEntries(impls.map((impl) => [impl.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const impl of order) {
      const started = process.hrtime.bigint();
      await impl.loop(ops);
      samples[impl.name].push(Number(process.hrtime.bigint() - started) / ops);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, values]) => [name, median(values)]),
  );
}

/**
 * One operation at a time, the implementations interleaved op by op (rotating who goes
 * first), so that the CPU's idle and wake-up states weigh on each of them alike.
 * Returns p50 and p99 in µs and the ops/s a single caller gets.
 */
export async function interleavedLatency(impls, { ops, keyAt }) {
  const times = impls.map(() => new Float64Array(ops));
  for (let i = 0; i < ops; i++) {
    const key = keyAt(i);
    for (let j = 0; j < impls.length; j++) {
      const k = (i + j) % impls.length;
      const started = process.hrtime.bigint();
      await impls[k].op(key, i);
      times[k][i] = Number(process.hrtime.bigint() - started) / 1000;
    }
  }
  return Object.fromEntries(
    impls.map((impl, k) => {
      const sorted = [...times[k]].sort((a, b) => a - b);
      const total = times[k].reduce((sum, t) => sum + t, 0);
      return [
        impl.name,
        {
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          opsPerSec: (ops * 1e6) / total,
        },
      ];
    }),
  );
}

/**
 * `concurrency` callers in a loop until `ops` operations are done, per implementation,
 * alternating over `rounds`; returns the median ops/s of each.
 */
export async function concurrentThroughput(impls, { ops, concurrency, rounds, keyAt }) {
  const samples = Object.fromEntries(impls.map((impl) => [impl.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const impl of order) {
      let next = 0;
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < ops) {
            const i = next++;
            await impl.op(keyAt(i), i);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      samples[impl.name].push(ops / seconds);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, values]) => [name, median(values)]),
  );
}

/** Formats a number with a few significant digits. */
export function fmt(value, digits = 3) {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}
