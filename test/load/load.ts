/**
 * Issue 8, load: N concurrent clients (default 50) for a fixed time (default 60 s) mixing
 * Run, Exec, interactive cells and file transfers (when the daemon has them), a few
 * provoked errors and ephemeral runs, across 20 sandboxes, against a real daemon on
 * loopback. Every result is checked byte for byte (seq, offsets, SHA-256, exit); the only
 * errors allowed are the provoked ones. Prints one JSON report; exits 1 on any failure.
 *
 *   node --import tsx test/load/load.ts [--clients 50] [--sandboxes 20] [--sessions 5]
 *        [--duration 60s] [--seed N] [--daemon-args "--pools.python 4"]
 * Each flag also reads LOAD_<NAME> from the environment (LOAD_DURATION=20s).
 */
import { isMain } from "../../bench/lib/result.js";
import { containerCount, startLoadDaemon, waitForContainers } from "./lib/daemon.js";
import { Options } from "./lib/options.js";
import { Sampler } from "./lib/sampler.js";
import { createFleet, destroyFleet, runWorkload, type WorkloadReport } from "./lib/workload.js";

export interface LoadReport {
  test: "load";
  ok: boolean;
  problems: string[];
  config: Record<string, unknown>;
  workload?: WorkloadReport;
  daemon: Record<string, unknown>;
  containers: Record<string, number>;
  notes: string[];
}

export async function runLoad(o: Options): Promise<LoadReport> {
  const clients = o.int("clients", 50);
  const sandboxCount = o.int("sandboxes", 20);
  const sessionCount = o.int("sessions", 5);
  const durationMs = o.duration("duration", 60_000);
  const seed = o.int("seed", Math.floor(Math.random() * 1e6));
  const daemonArgs = o.list("daemon-args");
  const config = { clients, sandboxes: sandboxCount, sessions: sessionCount, durationMs, seed, daemonArgs };
  const report: LoadReport = { test: "load", ok: false, problems: [], config, daemon: {}, containers: {}, notes: [] };
  const d = await startLoadDaemon(daemonArgs);
  report.daemon["logFile"] = d.logFile;
  const sampler = new Sampler(d.process.pid as number, 2000);
  try {
    report.containers["baseline"] = await containerCount(d.daemonId);
    const fleet = await createFleet(d.address, sandboxCount, sessionCount);
    report.notes.push(...fleet.notes);
    sampler.start();
    report.workload = await runWorkload({ address: d.address, fleet, clients, durationMs, seed });
    const samples = sampler.stop();
    report.daemon["rssMiB"] = {
      start: mib(samples[0]?.rssBytes),
      max: mib(Math.max(...samples.map((s) => s.rssBytes))),
      end: mib(samples[samples.length - 1]?.rssBytes),
    };
    report.daemon["fds"] = { start: samples[0]?.fds, max: Math.max(...samples.map((s) => s.fds)), end: samples[samples.length - 1]?.fds };
    await destroyFleet(d.address, fleet);
    report.containers["afterDestroy"] = await waitForContainers(d.daemonId, report.containers["baseline"] ?? 0, 30_000);
  } finally {
    sampler.stop();
    const code = await d.stop();
    report.daemon["exitCode"] = code ?? -1;
    report.containers["afterStop"] = await waitForContainers(d.daemonId, 0, 15_000);
  }
  const w = report.workload;
  if (!w || w.totalOps === 0) report.problems.push("no operation completed");
  if (w && w.failedOps > 0)
    report.problems.push(`${w.failedOps} operations failed (lost, reordered or wrong output, or unprovoked errors); see workload.failures`);
  if ((report.containers["afterDestroy"] ?? 0) > (report.containers["baseline"] ?? 0))
    report.problems.push(`containers not back to baseline: ${report.containers["afterDestroy"]} vs ${report.containers["baseline"]}`);
  if ((report.containers["afterStop"] ?? 0) > 0) report.problems.push(`${report.containers["afterStop"]} containers left after the daemon stopped`);
  if (report.daemon["exitCode"] !== 0) report.problems.push(`daemon exited with ${report.daemon["exitCode"]} on SIGTERM`);
  report.ok = report.problems.length === 0;
  return report;
}

function mib(b: number | undefined): number {
  return Number(((b ?? 0) / 2 ** 20).toFixed(1));
}

if (isMain(import.meta.url)) {
  const r = await runLoad(new Options());
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  const w = r.workload;
  process.stdout.write(
    `load: ${r.ok ? "ok" : "FAILED"}: ${w?.totalOps ?? 0} ops (${w?.opsPerSecond ?? 0}/s), ${w?.failedOps ?? 0} failed, ${w?.provokedErrors ?? 0} provoked errors, ${((w?.verifiedBytes ?? 0) / 2 ** 20).toFixed(1)} MiB verified, p50 ${w?.latency_ms.p50} ms, p99 ${w?.latency_ms.p99} ms${r.problems.length ? ` — ${r.problems.join("; ")}` : ""}\n`,
  );
  process.exit(r.ok ? 0 : 1);
}
