/**
 * Issue 8, soak: mixed load (the load test's mix, fewer clients) for a long time (default
 * 30 min), sampling the daemon's RSS and open fds from /proc every few seconds. Passes when
 * every operation was correct, neither RSS nor fds show a growth trend after warm-up (mean
 * of the last third of the samples vs the first third, within a tolerance), and the
 * container count is back to its baseline at the end. Prints one JSON report.
 *
 *   node --import tsx test/load/soak.ts [--duration 30m] [--clients 16] [--sandboxes 20]
 *        [--sessions 4] [--sample-interval 5s] [--warmup 6m] [--rss-tolerance-mib 48]
 *        [--fd-tolerance 16] [--run-retention 30s] [--seed N] [--daemon-args "..."]
 *
 * The daemon keeps finished runs attachable for --run-retention-ms; the soak shortens that
 * (30 s) and starts judging only after twice that time, so the trend is not the retention
 * window filling up.
 */
import { isMain } from "../../bench/lib/result.js";
import { containerCount, startLoadDaemon, waitForContainers } from "./lib/daemon.js";
import { Options } from "./lib/options.js";
import { Sampler, trend, type Sample, type Trend } from "./lib/sampler.js";
import { createFleet, destroyFleet, runWorkload, type WorkloadReport } from "./lib/workload.js";

export interface SoakReport {
  test: "soak";
  ok: boolean;
  problems: string[];
  config: Record<string, unknown>;
  workload?: WorkloadReport;
  rss?: Trend & { unit: "MiB" };
  fds?: Trend;
  idle: Record<string, number>;
  containers: Record<string, number>;
  daemon: Record<string, unknown>;
  samples: Sample[];
  notes: string[];
}

export async function runSoak(o: Options): Promise<SoakReport> {
  const durationMs = o.duration("duration", 30 * 60_000);
  const clients = o.int("clients", 16);
  const sandboxCount = o.int("sandboxes", 20);
  const sessionCount = o.int("sessions", 4);
  const retentionMs = o.duration("run-retention", 30_000);
  const intervalMs = o.duration("sample-interval", durationMs >= 10 * 60_000 ? 5000 : 2000);
  const warmupMs = o.duration("warmup", Math.min(Math.max(2 * retentionMs, durationMs * 0.2), durationMs / 2));
  const rssToleranceMiB = o.number("rss-tolerance-mib", 48);
  const fdTolerance = o.number("fd-tolerance", 16);
  const seed = o.int("seed", Math.floor(Math.random() * 1e6));
  const daemonArgs = ["--run-retention-ms", `${retentionMs}ms`, ...o.list("daemon-args")];
  const config = { durationMs, clients, sandboxes: sandboxCount, sessions: sessionCount, intervalMs, warmupMs, rssToleranceMiB, fdTolerance, seed, daemonArgs };
  const report: SoakReport = { test: "soak", ok: false, problems: [], config, idle: {}, containers: {}, daemon: {}, samples: [], notes: [] };
  const d = await startLoadDaemon(daemonArgs);
  report.daemon["logFile"] = d.logFile;
  const pid = d.process.pid as number;
  const sampler = new Sampler(pid, intervalMs);
  try {
    report.containers["baseline"] = await containerCount(d.daemonId);
    const idleBefore = sampler.take();
    report.idle["fdsBefore"] = idleBefore?.fds ?? -1;
    report.idle["rssMiBBefore"] = Number(((idleBefore?.rssBytes ?? 0) / 2 ** 20).toFixed(1));
    sampler.samples.length = 0;
    const fleet = await createFleet(d.address, sandboxCount, sessionCount);
    report.notes.push(...fleet.notes);
    sampler.start();
    report.workload = await runWorkload({ address: d.address, fleet, clients, durationMs, seed });
    report.samples = sampler.stop();
    const warmupS = warmupMs / 1000;
    report.rss = { ...trend(report.samples, (s) => s.rssBytes / 2 ** 20, warmupS, rssToleranceMiB), unit: "MiB" };
    report.fds = trend(report.samples, (s) => s.fds, warmupS, fdTolerance);
    await destroyFleet(d.address, fleet);
    report.containers["afterDestroy"] = await waitForContainers(d.daemonId, report.containers["baseline"] ?? 0, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const idleAfter = sampler.take();
    report.idle["fdsAfter"] = idleAfter?.fds ?? -1;
    report.idle["rssMiBAfter"] = Number(((idleAfter?.rssBytes ?? 0) / 2 ** 20).toFixed(1));
  } finally {
    sampler.stop();
    report.daemon["exitCode"] = (await d.stop()) ?? -1;
    report.containers["afterStop"] = await waitForContainers(d.daemonId, 0, 15_000);
  }
  const w = report.workload;
  if (!w || w.totalOps === 0) report.problems.push("no operation completed");
  if (w && w.failedOps > 0) report.problems.push(`${w.failedOps} operations failed; see workload.failures`);
  if (report.rss && !report.rss.ok)
    report.problems.push(
      `RSS grew ${report.rss.growth} MiB (first third ${report.rss.firstThirdMean}, last third ${report.rss.lastThirdMean}; tolerance ${rssToleranceMiB}; ${report.rss.samples} samples)`,
    );
  if (report.fds && !report.fds.ok)
    report.problems.push(
      `open fds grew by ${report.fds.growth} (first third ${report.fds.firstThirdMean}, last third ${report.fds.lastThirdMean}; tolerance ${fdTolerance})`,
    );
  if ((report.containers["afterDestroy"] ?? 0) > (report.containers["baseline"] ?? 0))
    report.problems.push(`containers not back to baseline: ${report.containers["afterDestroy"]} vs ${report.containers["baseline"]}`);
  if ((report.containers["afterStop"] ?? 0) > 0) report.problems.push(`${report.containers["afterStop"]} containers left after the daemon stopped`);
  if (report.daemon["exitCode"] !== 0) report.problems.push(`daemon exited with ${report.daemon["exitCode"]} on SIGTERM`);
  report.ok = report.problems.length === 0;
  return report;
}

if (isMain(import.meta.url)) {
  const r = await runSoak(new Options());
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  const w = r.workload;
  process.stdout.write(
    `soak: ${r.ok ? "ok" : "FAILED"}: ${((w?.durationMs ?? 0) / 1000).toFixed(0)} s, ${w?.totalOps ?? 0} ops, ${w?.failedOps ?? 0} failed, RSS ${r.rss?.firstThirdMean}->${r.rss?.lastThirdMean} MiB (slope ${r.rss?.slopePerMinute} MiB/min), fds ${r.fds?.firstThirdMean}->${r.fds?.lastThirdMean}, containers ${r.containers["afterDestroy"]}/${r.containers["baseline"]}${r.problems.length ? ` — ${r.problems.join("; ")}` : ""}\n`,
  );
  process.exit(r.ok ? 0 : 1);
}
