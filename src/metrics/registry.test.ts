import { describe, expect, it } from "vitest";
import { Registry, escapeLabelValue, formatValue } from "./registry.js";

describe("Registry", () => {
  it("renders counters with HELP and TYPE counter", () => {
    const r = new Registry();
    const c = r.counter({ name: "x_runs_total", help: "Runs.", labels: ["language", "outcome"] });
    c.inc({ language: "python", outcome: "exited" });
    c.inc({ language: "python", outcome: "exited" }, 2);
    const text = r.render();
    expect(text).toContain("# HELP x_runs_total Runs.\n# TYPE x_runs_total counter\n");
    expect(text).toContain('x_runs_total{language="python",outcome="exited"} 3\n');
  });

  it("refuses counters without _total and decreasing counters", () => {
    const r = new Registry();
    expect(() => r.counter({ name: "x_runs", help: "h" })).toThrow(/_total/);
    const c = r.counter({ name: "x_total", help: "h" });
    expect(() => c.inc(undefined, -1)).toThrow();
    expect(() => r.counter({ name: "x_total", help: "h" })).toThrow(/twice/);
  });

  it("renders set and callback gauges", () => {
    const r = new Registry();
    r.gauge({ name: "x_set", help: "h" }).set(7);
    r.gauge({ name: "x_cb", help: "h", read: () => [{ labels: { profile: "p" }, value: 2 }] });
    const text = r.render();
    expect(text).toContain("# TYPE x_set gauge\nx_set 7\n");
    expect(text).toContain('# TYPE x_cb gauge\nx_cb{profile="p"} 2\n');
  });

  it("renders histograms with cumulative buckets, +Inf, sum and count", () => {
    const r = new Registry();
    const h = r.histogram({ name: "x_seconds", help: "h", labels: ["language"], buckets: [0.1, 1] });
    h.observe(0.05, { language: "python" });
    h.observe(0.5, { language: "python" });
    h.observe(3, { language: "python" });
    expect(r.render()).toContain(
      [
        "# HELP x_seconds h",
        "# TYPE x_seconds histogram",
        'x_seconds_bucket{language="python",le="0.1"} 1',
        'x_seconds_bucket{language="python",le="1"} 2',
        'x_seconds_bucket{language="python",le="+Inf"} 3',
        'x_seconds_sum{language="python"} 3.55',
        'x_seconds_count{language="python"} 3',
      ].join("\n"),
    );
  });

  it("escapes backslash, quote and newline in label values", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const r = new Registry();
    r.counter({ name: "x_total", help: "h", labels: ["v"] }).inc({ v: 'q"\n\\' });
    expect(r.render()).toContain('x_total{v="q\\"\\n\\\\"} 1\n');
  });

  it("renders non-finite values as Prometheus does", () => {
    expect([NaN, Infinity, -Infinity, 1.5].map(formatValue)).toEqual(["NaN", "+Inf", "-Inf", "1.5"]);
    const r = new Registry();
    r.gauge({ name: "x_g", help: "h", read: () => [{ value: NaN }, { labels: { a: "1" }, value: Infinity }, { labels: { a: "2" }, value: -Infinity }] });
    const text = r.render();
    expect(text).toContain("x_g NaN\n");
    expect(text).toContain('x_g{a="1"} +Inf\n');
    expect(text).toContain('x_g{a="2"} -Inf\n');
  });

  it("folds label sets past the cap into one 'other' series and counts the overflow", () => {
    const r = new Registry();
    const c = r.counter({ name: "x_total", help: "h", labels: ["a", "b"], maxSeries: 2 });
    c.inc({ a: "1", b: "1" });
    c.inc({ a: "2", b: "2" });
    c.inc({ a: "3", b: "3" });
    c.inc({ a: "4", b: "4" });
    c.inc({ a: "1", b: "1" });
    const text = r.render();
    expect(text).toContain('x_total{a="1",b="1"} 2\n');
    expect(text).toContain('x_total{a="other",b="other"} 2\n');
    expect(text).not.toContain('a="3"');
    expect(text).toContain('# TYPE sandboxd_metrics_series_overflow_total counter\nsandboxd_metrics_series_overflow_total{metric="x_total"} 2\n');
  });
});
