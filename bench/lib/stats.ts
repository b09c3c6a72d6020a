/** Latency summary in milliseconds; percentiles by nearest rank. */
export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

const round = (x: number, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    mean: round(mean),
    min: round(sorted[0] ?? NaN),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? NaN),
  };
}

export function ratio(a: number, b: number, digits = 3): number {
  return round(a / b, digits);
}

export { round };

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = (): number => performance.now();

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = now();
  const v = await fn();
  return [now() - t0, v];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One thing done by sandboxd and by the raw baseline, to be timed side by side. */
export interface Pair {
  sandboxd: () => Promise<void>;
  raw: () => Promise<void>;
}

/**
 * Times both sides of `pair` `iterations` times after `warmup` untimed rounds, alternating
 * their order so neither always runs right after the other. The baseline's summary goes
 * under `rawKey` (each benchmark names its baseline).
 */
export async function measurePair<K extends string>(
  pair: Pair,
  iterations: number,
  warmup: number,
  rawKey: K,
): Promise<{ sandboxd_ms: Summary; ratio_p50: number; ratio_p99: number } & Record<K, Summary>> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const first = i % 2 === 0;
    const [t1] = await timed(first ? pair.sandboxd : pair.raw);
    const [t2] = await timed(first ? pair.raw : pair.sandboxd);
    if (i < warmup) continue;
    a.push(first ? t1 : t2);
    b.push(first ? t2 : t1);
  }
  const sd = summarize(a);
  const raw = summarize(b);
  return { sandboxd_ms: sd, [rawKey]: raw, ratio_p50: ratio(sd.p50, raw.p50), ratio_p99: ratio(sd.p99, raw.p99) } as {
    sandboxd_ms: Summary;
    ratio_p50: number;
    ratio_p99: number;
  } & Record<K, Summary>;
}
