/**
 * Runs every benchmark, each in its own process (each starts its own daemon), prints each
 * one's JSON and a one-line summary, and writes bench/results/latest.json with the machine's
 * description. `--baseline` also writes bench/results/baseline.json. `--only a,b` picks
 * benchmarks by name. Goals are reported, never asserted: the exit code is non-zero only
 * when a benchmark failed to run. `kubernetes` needs a cluster (scripts/k8s/cluster.sh up and
 * its env): without one it reports "skipped: no cluster" (status pending), which is no failure.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../test/helpers/daemon.js";
import { machineInfo } from "./lib/machine.js";
import { summaryLine, type BenchResult } from "./lib/result.js";

export const benchmarks = [
  "run-latency",
  "create-sandbox",
  "ephemeral-run",
  "interactive-cell",
  "throughput",
  "streaming",
  "live-artifacts",
  "transfers",
  "sandbox-memory",
  "kubernetes",
] as const;

const args = process.argv.slice(2);
const only = args.includes("--only") ? (args[args.indexOf("--only") + 1] ?? "").split(",") : undefined;
const writeBaseline = args.includes("--baseline");
const perBenchmarkTimeoutMs = Number(process.env["BENCH_TIMEOUT_MS"] ?? 300_000);
/** Benchmarks that need longer than the default (kubernetes: pools and batches of up to 100 pods; sandbox-memory: 200 sandboxes); BENCH_TIMEOUT_MS overrides. */
const longer: Partial<Record<(typeof benchmarks)[number], number>> = { kubernetes: 1_200_000, "sandbox-memory": 1_200_000 };
const timeoutOf = (name: (typeof benchmarks)[number]) => (process.env["BENCH_TIMEOUT_MS"] ? perBenchmarkTimeoutMs : (longer[name] ?? perBenchmarkTimeoutMs));
const resultsDir = join(repoRoot, "bench", "results");

function runOne(name: (typeof benchmarks)[number]): Promise<BenchResult> {
  const timeoutMs = timeoutOf(name);
  const file = join(resultsDir, `${name}.tmp.json`);
  rmSync(file, { force: true });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "bench", `${name}.ts`)], {
      cwd: repoRoot,
      env: { ...process.env, BENCH_RESULT_FILE: file },
      stdio: ["ignore", "inherit", "inherit"],
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(readFileSync(file, "utf8")) as BenchResult);
      } catch {
        resolve({
          name,
          title: name,
          status: "error",
          startedAt: new Date().toISOString(),
          durationMs: 0,
          loadAvg: { before: 0, after: 0 },
          config: {},
          metrics: {},
          goals: [],
          reported: [],
          notes: [],
          pending: [],
          error: signal ? `killed by ${signal} (timeout ${timeoutMs} ms?)` : `exited with ${code} without a result`,
        });
      } finally {
        rmSync(file, { force: true });
      }
    });
  });
}

async function main(): Promise<void> {
  mkdirSync(resultsDir, { recursive: true });
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  const results: BenchResult[] = [];
  for (const name of benchmarks) {
    if (only && !only.includes(name)) continue;
    process.stderr.write(`\n=== ${name}\n`);
    results.push(await runOne(name));
  }
  const report = { machine, startedAt: started.toISOString(), durationMs: Math.round(performance.now() - t0), results };
  writeFileSync(join(resultsDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
  if (writeBaseline) writeFileSync(join(resultsDir, "baseline.json"), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    `\n=== summary (${(report.durationMs / 1000).toFixed(0)} s, ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, kernel ${machine.kernel}, docker ${machine.docker})\n`,
  );
  for (const r of results) process.stdout.write(`${summaryLine(r)}\n`);
  process.stdout.write(`results: ${join("bench", "results", "latest.json")}${writeBaseline ? " and bench/results/baseline.json" : ""}\n`);
  process.exitCode = results.some((r) => r.status === "error") ? 1 : 0;
}

await main();
