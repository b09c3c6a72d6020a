/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and
 * histograms, each with a fixed list of label names. A metric keeps at most
 * `maxSeries` label sets; beyond that, new sets fold into one series whose label values are
 * all "other", and sandboxd_metrics_series_overflow_total{metric} counts each fold.
 */

export type Labels = Record<string, string>;
export type MetricType = "counter" | "gauge" | "histogram";

const overflowMetricName = "sandboxd_metrics_series_overflow_total";
/** Label sets a metric keeps before it folds new ones into "other". */
const defaultMaxSeries = 200;
/** Latency buckets in seconds, from 5 ms to 2 minutes. */
const defaultSecondsBuckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A value as Prometheus writes it: NaN, +Inf, -Inf, or the number. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** A label value escaped for the text format: backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function renderLabels(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const pairs = names.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? "")}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface MetricOptions {
  name: string;
  help: string;
  labels?: readonly string[];
  maxSeries?: number;
}

abstract class Metric<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: MetricType;
  protected readonly series = new Map<string, { values: string[]; state: S }>();
  private readonly maxSeries: number;

  constructor(
    options: MetricOptions,
    private readonly onOverflow: (metric: string) => void,
  ) {
    if (!metricName.test(options.name)) throw new Error(`invalid metric name ${options.name}`);
    for (const l of options.labels ?? []) if (!labelName.test(l) || l === "le") throw new Error(`invalid label name ${l} on ${options.name}`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labels ?? [];
    this.maxSeries = options.maxSeries ?? defaultMaxSeries;
  }

  protected abstract initial(): S;

  /** The state of one label set, created on first use (folded into "other" past the cap). */
  protected at(labels: Labels | undefined): S {
    const values = this.labelNames.map((n) => labels?.[n] ?? "");
    let key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (entry) return entry.state;
    if (this.series.size >= this.maxSeries) {
      const other = this.labelNames.map(() => "other");
      key = JSON.stringify(other);
      this.onOverflow(this.name);
      entry = this.series.get(key);
      if (entry) return entry.state;
      entry = { values: other, state: this.initial() };
    } else {
      entry = { values, state: this.initial() };
    }
    this.series.set(key, entry);
    return entry.state;
  }

  abstract samples(): string[];

  render(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()];
  }
}

export class Counter extends Metric<{ value: number }> {
  readonly type = "counter";

  protected initial() {
    return { value: 0 };
  }

  /** Adds amount (default 1); a negative amount is a bug and throws. */
  inc(labels?: Labels, amount = 1): void {
    if (amount < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.at(labels).value += amount;
  }

  get(labels?: Labels): number {
    return this.series.get(JSON.stringify(this.labelNames.map((n) => labels?.[n] ?? "")))?.state.value ?? 0;
  }

  samples(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${renderLabels(this.labelNames, s.values)} ${formatValue(s.state.value)}`);
  }
}

/** A counter whose value something else keeps (read at scrape time). */
class CallbackCounter {
  readonly type = "counter";
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => { labels?: Labels; value: number }[],
  ) {
    if (!metricName.test(name)) throw new Error(`invalid metric name ${name}`);
  }

  render(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} counter`, ...sampleLines(this.name, this.read())];
  }
}

function sampleLines(name: string, samples: { labels?: Labels; value: number }[]): string[] {
  return samples.map((s) => {
    const names = Object.keys(s.labels ?? {});
    return `${name}${renderLabels(
      names,
      names.map((n) => s.labels?.[n] ?? ""),
    )} ${formatValue(s.value)}`;
  });
}

class Gauge extends Metric<{ value: number }> {
  readonly type = "gauge";
  private readonly read: (() => { labels?: Labels; value: number }[]) | undefined;

  constructor(options: MetricOptions & { read?: () => { labels?: Labels; value: number }[] }, onOverflow: (metric: string) => void) {
    super(options, onOverflow);
    this.read = options.read;
  }

  protected initial() {
    return { value: 0 };
  }

  set(value: number, labels?: Labels): void {
    this.at(labels).value = value;
  }

  samples(): string[] {
    if (this.read) return sampleLines(this.name, this.read());
    return [...this.series.values()].map((s) => `${this.name}${renderLabels(this.labelNames, s.values)} ${formatValue(s.state.value)}`);
  }
}

export class Histogram extends Metric<{ counts: number[]; sum: number; count: number }> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(options: MetricOptions & { buckets?: readonly number[] }, onOverflow: (metric: string) => void) {
    super(options, onOverflow);
    const buckets = [...(options.buckets ?? defaultSecondsBuckets)].filter((b) => b !== Infinity).sort((a, b) => a - b);
    this.buckets = buckets;
  }

  protected initial() {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  observe(value: number, labels?: Labels): void {
    const s = this.at(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count++;
  }

  samples(): string[] {
    const lines: string[] = [];
    for (const { values, state } of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${renderLabels(this.labelNames, values, ["le", formatValue(b)])} ${state.counts[i]}`));
      lines.push(`${this.name}_bucket${renderLabels(this.labelNames, values, ["le", "+Inf"])} ${state.count}`);
      lines.push(`${this.name}_sum${renderLabels(this.labelNames, values)} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${renderLabels(this.labelNames, values)} ${state.count}`);
    }
    return lines;
  }
}

interface Renderable {
  readonly name: string;
  readonly type: MetricType;
  render(): string[];
}

/** The metrics one daemon exposes; each name registered once. */
export class Registry {
  private readonly metrics = new Map<string, Renderable>();
  private readonly overflow: Counter;

  constructor() {
    this.overflow = new Counter(
      { name: overflowMetricName, help: "Label sets folded into the 'other' series past a metric's cap.", labels: ["metric"] },
      () => undefined,
    );
    this.metrics.set(overflowMetricName, this.overflow);
  }

  private add<T extends Renderable>(m: T): T {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }

  private readonly onOverflow = (metric: string) => this.overflow.inc({ metric });

  counter(options: MetricOptions): Counter {
    if (!options.name.endsWith("_total")) throw new Error(`counter ${options.name} must end in _total`);
    return this.add(new Counter(options, this.onOverflow));
  }

  /** A counter read from another component's own tally at scrape time. */
  callbackCounter(name: string, help: string, read: () => { labels?: Labels; value: number }[]): CallbackCounter {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    return this.add(new CallbackCounter(name, help, read));
  }

  gauge(options: MetricOptions & { read?: () => { labels?: Labels; value: number }[] }): Gauge {
    return this.add(new Gauge(options, this.onOverflow));
  }

  histogram(options: MetricOptions & { buckets?: readonly number[] }): Histogram {
    return this.add(new Histogram(options, this.onOverflow));
  }

  /** Every registered metric: its name (a histogram's base name) and type. */
  families(): { name: string; type: MetricType }[] {
    return [...this.metrics.values()].map((m) => ({ name: m.name, type: m.type }));
  }

  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) lines.push(...m.render());
    return `${lines.join("\n")}\n`;
  }
}
