import { processStats } from "../../../bench/lib/daemon.js";

export interface Sample {
  /** Seconds since sampling started. */
  t: number;
  rssBytes: number;
  fds: number;
}

/** Samples a process's RSS and open fds every `intervalMs` until stopped. */
export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = Date.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs: number,
  ) {}

  start(): this {
    this.take();
    this.timer = setInterval(() => this.take(), this.intervalMs);
    return this;
  }

  take(): Sample | undefined {
    try {
      const s = { t: (Date.now() - this.t0) / 1000, ...processStats(this.pid) };
      this.samples.push(s);
      return s;
    } catch {
      return undefined; // the process is gone
    }
  }

  stop(): Sample[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.samples;
  }
}

export interface Trend {
  samples: number;
  firstThirdMean: number;
  lastThirdMean: number;
  growth: number;
  /** Least-squares slope per minute. */
  slopePerMinute: number;
  tolerance: number;
  ok: boolean;
}

/**
 * No growth trend: after warm-up, the mean of the last third of the samples may exceed the
 * mean of the first third by at most `tolerance` (absolute, in the metric's unit).
 */
export function trend(samples: readonly Sample[], pick: (s: Sample) => number, warmupSeconds: number, tolerance: number): Trend {
  const xs = samples.filter((s) => s.t >= warmupSeconds);
  const third = Math.max(1, Math.floor(xs.length / 3));
  const mean = (a: readonly Sample[]) => a.reduce((acc, s) => acc + pick(s), 0) / Math.max(1, a.length);
  const first = mean(xs.slice(0, third));
  const last = mean(xs.slice(xs.length - third));
  const n = xs.length;
  const mt = xs.reduce((a, s) => a + s.t, 0) / Math.max(1, n);
  const mv = mean(xs);
  let num = 0;
  let den = 0;
  for (const s of xs) {
    num += (s.t - mt) * (pick(s) - mv);
    den += (s.t - mt) ** 2;
  }
  const slope = den > 0 ? (num / den) * 60 : 0;
  return {
    samples: n,
    firstThirdMean: Number(first.toFixed(1)),
    lastThirdMean: Number(last.toFixed(1)),
    growth: Number((last - first).toFixed(1)),
    slopePerMinute: Number(slope.toFixed(2)),
    tolerance,
    ok: n >= 3 && last - first <= tolerance,
  };
}
