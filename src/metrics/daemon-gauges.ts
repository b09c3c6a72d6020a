import type { CallTracker } from "../rpc/grpc-adapter.js";
import type { PoolStatsView } from "../sandbox/pool-ledger.js";
import type { RunManager } from "../sandbox/run-manager.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { registerProcessGauges } from "./metrics-server.js";
import type { MetricType, Registry } from "./registry.js";
import { SandboxdMetrics } from "./sandboxd-metrics.js";

/** What the daemon's scrape-time values are read from (nothing is read at registration). */
export interface GaugeSources {
  sandboxes: Pick<SandboxManager, "pool" | "pools" | "size">;
  runs: Pick<RunManager, "active" | "budget">;
  tracker: Pick<CallTracker, "inFlight">;
  engineUp: () => boolean;
}

/**
 * The values other components keep, read at scrape time: gauges, and their monotonic
 * tallies (`_total`) as counters; then the process gauges.
 */
export function registerDaemonGauges(registry: Registry, src: GaugeSources): void {
  const pool = src.sandboxes.pool;
  const perProfile = (pick: (s: NonNullable<ReturnType<typeof pool.statsFor>>) => number) => () =>
    pool.keys().flatMap((key) => {
      const s = pool.statsFor(key);
      return s ? [{ labels: { profile: key }, value: pick(s) }] : [];
    });
  const apiPool = (pick: (s: PoolStatsView) => number) => () =>
    src.sandboxes.pools.all().map((p) => ({ labels: { pool: p.id, tenant: p.tenant }, value: pick(p.stats) }));
  const all: { name: string; help: string; samples: () => { labels?: Record<string, string>; value: number }[] }[] = [
    { name: "sandboxd_sandboxes", help: "Sandboxes this daemon holds.", samples: () => [{ value: src.sandboxes.size }] },
    { name: "sandboxd_runs_active", help: "Runs in progress.", samples: () => [{ value: src.runs.active }] },
    { name: "sandboxd_calls_in_flight", help: "gRPC calls in progress.", samples: () => [{ value: src.tracker.inFlight }] },
    { name: "sandboxd_pool_ready", help: "Warm sandboxes ready per profile.", samples: perProfile((s) => s.ready) },
    { name: "sandboxd_pool_creating", help: "Warm sandboxes being created per profile.", samples: perProfile((s) => s.creating) },
    { name: "sandboxd_pool_hits_total", help: "Creations served from the pool.", samples: perProfile((s) => s.hits) },
    { name: "sandboxd_pool_misses_total", help: "Creations the pool could not serve.", samples: perProfile((s) => s.misses) },
    { name: "sandboxd_pool_last_refill_ms", help: "Time the last pool member took to become ready.", samples: perProfile((s) => s.lastRefillMs) },
    { name: "sandboxd_api_pools", help: "Pools created over the API (PoolService).", samples: () => [{ value: src.sandboxes.pools.all().length }] },
    { name: "sandboxd_api_pool_ready", help: "Ready members per API pool.", samples: apiPool((s) => s.ready) },
    { name: "sandboxd_api_pool_in_use", help: "Handed-out sandboxes alive per API pool.", samples: apiPool((s) => s.inUse) },
    { name: "sandboxd_api_pool_waiting", help: "Callers waiting for a place per API pool.", samples: apiPool((s) => s.waiting) },
    { name: "sandboxd_api_pool_hits_total", help: "Acquisitions served by a ready member per API pool.", samples: apiPool((s) => s.hits) },
    { name: "sandboxd_api_pool_misses_total", help: "Acquisitions that started a member per API pool.", samples: apiPool((s) => s.misses) },
    { name: "sandboxd_api_pool_exhausted_total", help: "Acquisitions refused per API pool.", samples: apiPool((s) => s.exhausted) },
    { name: "sandboxd_engine_up", help: "1 when the container engine answers.", samples: () => [{ value: src.engineUp() ? 1 : 0 }] },
    {
      name: "sandboxd_output_buffered_bytes",
      help: "Output all runs keep in memory (replay and not yet taken by followers).",
      samples: () => [{ value: src.runs.budget.total }],
    },
    {
      name: "sandboxd_output_budget_bytes",
      help: "The budget for that output (--max-buffered-bytes).",
      samples: () => [{ value: src.runs.budget.limitBytes }],
    },
    { name: "sandboxd_output_evictions_total", help: "Runs whose replay the budget trimmed.", samples: () => [{ value: src.runs.budget.evictions }] },
    { name: "sandboxd_output_evicted_bytes_total", help: "Output bytes the budget dropped.", samples: () => [{ value: src.runs.budget.evictedBytes }] },
    {
      name: "sandboxd_output_runs_retained",
      help: "Runs (live and finished) whose output counts against the budget.",
      samples: () => [{ value: src.runs.budget.runs }],
    },
  ];
  for (const m of all) {
    if (m.name.endsWith("_total")) registry.callbackCounter(m.name, m.help, m.samples);
    else registry.gauge({ name: m.name, help: m.help, read: m.samples });
  }
  registerProcessGauges(registry);
}

/**
 * Every metric family a daemon exposes, built the way the daemon builds them (for the
 * dashboard's drift test and the README); nothing is read from the stand-in sources.
 */
export function registeredMetricFamilies(): { name: string; type: MetricType }[] {
  const metrics = new SandboxdMetrics();
  const unread = {} as never;
  registerDaemonGauges(metrics.registry, { sandboxes: unread, runs: unread, tracker: unread, engineUp: () => false });
  return metrics.registry.families();
}
