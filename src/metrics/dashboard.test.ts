import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { registeredMetricFamilies } from "./daemon-gauges.js";

interface Dashboard {
  panels: { title: string; targets?: { expr: string }[] }[];
  templating: { list: { query?: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(new URL("../../deploy/grafana/sandboxd-dashboard.json", import.meta.url), "utf8")) as Dashboard;
const families = registeredMetricFamilies();

/** The series names a family exposes: a histogram's _bucket, _sum and _count. */
const exposed = new Set(families.flatMap((f) => (f.type === "histogram" ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name])));

/** The sandboxd_ metric names a PromQL expression reads. */
const namesIn = (expr: string) => [...expr.matchAll(/\bsandboxd_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);

describe("deploy/grafana/sandboxd-dashboard.json", () => {
  it("reads only metrics the daemon registers", () => {
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list.flatMap((v) => (typeof v.query === "string" ? [{ where: "templating", expr: v.query }] : [])),
    ];
    expect(exprs.length).toBeGreaterThan(10);
    const unknown = exprs.flatMap(({ where, expr }) =>
      namesIn(expr)
        .filter((n) => !exposed.has(n))
        .map((n) => `${where}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it("takes quantiles only of histogram buckets and rates only of counters or buckets", () => {
    const types = new Map(families.map((f) => [f.name, f.type]));
    for (const p of dashboard.panels) {
      for (const { expr } of p.targets ?? []) {
        for (const m of expr.matchAll(/rate\((sandboxd_[a-zA-Z0-9_]+)/g)) {
          const name = m[1]!;
          const ok = name.endsWith("_bucket") ? types.get(name.slice(0, -"_bucket".length)) === "histogram" : types.get(name) === "counter";
          expect(ok, `${p.title}: rate(${name})`).toBe(true);
        }
      }
    }
  });

  it("covers the metrics worth a dashboard", () => {
    const used = new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => namesIn(t.expr))));
    for (const name of [
      "sandboxd_runs_total",
      "sandboxd_run_duration_seconds_bucket",
      "sandboxd_sandbox_create_duration_seconds_bucket",
      "sandboxd_output_bytes_total",
      "sandboxd_policy_refusals_total",
      "sandboxd_auth_failures_total",
      "sandboxd_pool_wait_seconds_bucket",
      "sandboxd_pool_acquisitions_total",
      "sandboxd_grpc_calls_total",
      "sandboxd_process_resident_memory_bytes",
    ]) {
      expect(used.has(name), name).toBe(true);
    }
  });
});
