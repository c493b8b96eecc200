// Shared measuring helpers of the benchmarks: percentiles (nearest rank), a result's shape, a timer.

export interface BenchResult {
  name: string;
  iterations: number;
  unit: 'ms';
  p50: number;
  p95: number;
  p99?: number;
  max?: number;
  opsPerSecond?: number;
  notes: string;
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** The nearest-rank percentile of samples (not interpolated: every value reported was measured). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** p50/p95/p99/max of latencies in milliseconds, rounded to microseconds. */
export function summarize(samples: readonly number[]) {
  return {
    p50: round(percentile(samples, 50)),
    p95: round(percentile(samples, 95)),
    p99: round(percentile(samples, 99)),
    max: round(Math.max(...samples)),
  };
}

export const perSecond = (count: number, elapsedMs: number) => round((count * 1000) / elapsedMs, 1);

/** Runs `body` and returns its duration in milliseconds with the value it produced. */
export async function timed<T>(body: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await body();
  return { ms: performance.now() - start, value };
}

/** Runs `work` over `items` with at most `limit` in flight, keeping the order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let index = next++; index < items.length; index = next++) results[index] = await work(items[index]!);
  });
  await Promise.all(lanes);
  return results;
}

/** A positive integer from the environment, else the default; anything else stops the run with a clear line. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

export const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);
