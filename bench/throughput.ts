/**
 * Benchmark 5: throughput of trivial runs over 20 sandboxes from 32 concurrent clients
 * (each its own connection, each a closed loop: one call at a time). Reports runs/s and
 * the latency under that load. Goals (issue 17): >= 1200 runs/s on 2 cores (Exec `true`) with p99 <= 50 ms, Run `print(1)` >= 400 runs/s.
 * Also measures Run `print(1)` the same way, which is bound by python's start-up instead.
 * The clients run in this process on the same 2 cores as the daemon and the engine; the
 * CPU used by each party during the window is reported, with the machine's load average.
 */
import { readFileSync, readdirSync } from "node:fs";
import { sandboxClient, type SandboxClient } from "./lib/client.js";
import { collect, envInt, readySandbox } from "./lib/common.js";
import { processStats, startBenchDaemon } from "./lib/daemon.js";
import { describe } from "./lib/grpc-errors.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { now, round, summarize } from "./lib/stats.js";

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
    .replace(/^.*\) /, "")
    .split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of every process whose command name is one of `names` (dockerd, containerd-shim...). */
function cpuSecondsByName(names: readonly string[]): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = /\((.*)\)/.exec(stat)?.[1] ?? "";
      if (names.some((n) => comm.startsWith(n))) total += cpuSeconds(Number(entry));
    } catch {
      // the process ended
    }
  }
  return total;
}

/** CPU seconds used inside the given containers (cgroup v1 cpuacct or v2 cpu.stat), when readable. */
function containerCpuSeconds(containerIds: readonly string[]): number | null {
  let total = 0;
  for (const id of containerIds) {
    try {
      total += Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, "utf8")) / 1e9;
    } catch {
      try {
        const stat = readFileSync(`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, "utf8");
        total += Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? NaN) / 1e6;
      } catch {
        return null;
      }
    }
  }
  return total;
}

interface Load {
  name: string;
  call: (client: SandboxClient, sandboxId: string) => Promise<boolean>;
}

async function drive(
  load: Load,
  clients: SandboxClient[],
  sandboxes: string[],
  containerIds: string[],
  warmupMs: number,
  durationMs: number,
  daemonPid: number,
) {
  const latencies: number[] = [];
  let completed = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  let measuring = false;
  const start = now();
  const measureFrom = start + warmupMs;
  const stopAt = measureFrom + durationMs;
  let cpu0 = 0;
  let engine0 = 0;
  let sandboxes0: number | null = null;
  let selfCpu0 = process.cpuUsage();
  const engineNames = ["dockerd", "containerd"];
  const timer = setTimeout(() => {
    measuring = true;
    cpu0 = cpuSeconds(daemonPid);
    engine0 = cpuSecondsByName(engineNames);
    sandboxes0 = containerCpuSeconds(containerIds);
    selfCpu0 = process.cpuUsage();
  }, warmupMs);
  await Promise.all(
    clients.map(async (client, ci) => {
      for (let k = 0; now() < stopAt; k++) {
        // Spread each client over the sandboxes: client ci starts at sandbox ci and walks on.
        const sandboxId = sandboxes[(ci + k) % sandboxes.length] as string;
        const t0 = now();
        let ok = false;
        try {
          ok = await load.call(client, sandboxId);
        } catch (err) {
          const key = describe(err).slice(0, 120);
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
        const t1 = now();
        if (!measuring || t1 > stopAt) continue;
        if (ok) {
          completed++;
          latencies.push(t1 - t0);
        } else failed++;
      }
    }),
  );
  clearTimeout(timer);
  const daemonCpu = cpuSeconds(daemonPid) - cpu0;
  const engineCpu = cpuSecondsByName(engineNames) - engine0;
  const sandboxes1 = containerCpuSeconds(containerIds);
  const self = process.cpuUsage(selfCpu0);
  const seconds = durationMs / 1000;
  return {
    runs_per_second: round(completed / seconds, 1),
    completed,
    failed,
    errors: Object.fromEntries(errors),
    latency_ms: summarize(latencies),
    // Where the two cores went: the daemon, the engine (dockerd, containerd and its shims,
    // which carry every agent frame), the sandboxes (agents and programs), this client.
    daemon_cpu_cores: round(daemonCpu / seconds, 2),
    engine_cpu_cores: round(engineCpu / seconds, 2),
    sandboxes_cpu_cores: sandboxes0 !== null && sandboxes1 !== null ? round((sandboxes1 - sandboxes0) / seconds, 2) : null,
    client_cpu_cores: round((self.user + self.system) / 1e6 / seconds, 2),
  };
}

export function run(): Promise<BenchResult> {
  return runBenchmark("throughput", "Trivial runs per second over 20 sandboxes from 32 concurrent clients", async (ctx) => {
    const sandboxCount = envInt("BENCH_SANDBOXES", 20);
    const clientCount = envInt("BENCH_CLIENTS", 32);
    const durationMs = envInt("BENCH_THROUGHPUT_SECONDS", 20) * 1000;
    const warmupMs = envInt("BENCH_THROUGHPUT_WARMUP_SECONDS", 3) * 1000;
    // Run print(1) is forked from each sandbox's Python fork server (nothing preloaded) unless
    // BENCH_FORK_SERVER=0; Exec is not a Python Run and never goes through it.
    const forkServer = envInt("BENCH_FORK_SERVER", 1) !== 0;
    ctx.config = { sandboxes: sandboxCount, clients: clientCount, durationMs, warmupMs, connections: "one per client", pythonForkServer: forkServer };
    const d = await startBenchDaemon(forkServer ? ["--python.fork-server", "true"] : []);
    const admin = sandboxClient(d.address);
    const clients = Array.from({ length: clientCount }, () => sandboxClient(d.address, { ownConnection: true }));
    const sandboxes: string[] = [];
    const containerIds: string[] = [];
    try {
      // Idle: right after start-up and its first ready (the harness waits for it), before any sandbox.
      const idle = processStats(d.process.pid as number);
      ctx.metrics["daemon_idle"] = idle;
      for (let i = 0; i < sandboxCount; i += 4) {
        const batch = await Promise.all(Array.from({ length: Math.min(4, sandboxCount - i) }, () => readySandbox(admin)));
        sandboxes.push(...batch.map((b) => b.id));
        containerIds.push(...batch.map((b) => b.containerId));
      }
      const pid = d.process.pid as number;
      const execTrue: Load = {
        name: "exec_true",
        call: async (c, sandboxId) => (await collect(c.exec({ sandboxId, argv: ["true"] }))).exit.exitCode === 0,
      };
      const runPrint: Load = {
        name: "run_print",
        call: async (c, sandboxId) => (await collect(c.run({ sandboxId, code: "print(1)" }))).stdout === "1\n",
      };
      const exec = await drive(execTrue, clients, sandboxes, containerIds, warmupMs, durationMs, pid);
      ctx.metrics["exec_true"] = exec;
      const runP = await drive(runPrint, clients, sandboxes, containerIds, warmupMs, Math.round(durationMs / 2), pid);
      ctx.metrics["run_print"] = runP;
      const after = processStats(pid);
      ctx.metrics["daemon_after"] = after;
      ctx.goals.push(
        goal("exec_true_runs_per_second", `Exec \`true\` runs/s, ${clientCount} clients over ${sandboxCount} sandboxes`, ">=", 1200, exec.runs_per_second),
        goal("exec_true_latency_p99_ms", "Exec `true` latency under that load, p99 (ms)", "<=", 50, exec.latency_ms.p99),
        goal(
          "run_print_runs_per_second",
          `Run \`print(1)\` runs/s under the same load (fork server ${forkServer ? "on" : "off"})`,
          ">=",
          400,
          runP.runs_per_second,
        ),
        goal("daemon_rss_idle_mib", "daemon RSS right after start-up and ready, MiB", "<=", 80, round(idle.rssBytes / 2 ** 20, 1)),
        goal("daemon_rss_after_load_mib", "daemon RSS after the Exec and Run load, sandboxes still live, MiB", "<=", 150, round(after.rssBytes / 2 ** 20, 1)),
      );
      ctx.reported.push({ metric: "exec_true_latency_p50", description: "Exec `true` latency under that load, p50", value: exec.latency_ms.p50, unit: "ms" });
      if (exec.failed || Object.keys(exec.errors).length)
        ctx.notes.push(`Exec under load: ${exec.failed} wrong results, errors ${JSON.stringify(exec.errors)}`);
      if (runP.failed || Object.keys(runP.errors).length) ctx.notes.push(`Run under load: ${runP.failed} wrong results, errors ${JSON.stringify(runP.errors)}`);
    } finally {
      for (const c of clients) c.close();
      admin.close();
      await d.stop();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
