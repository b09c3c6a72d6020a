/**
 * Benchmark: what an idle sandbox costs, and whether many live sandboxes slow the daemon.
 *
 * 1. Memory per idle sandbox inside its cgroup (init + `sleep infinity` + the resident agent):
 *    the container's memory cgroup usage (v1 memory.usage_in_bytes, v2 memory.current), p50
 *    and max over the live sandboxes, with memory.stat's split: anon (process memory: the
 *    agent's heap) vs file (page cache charged to the cgroup: the image's files the processes
 *    read, python's stdlib .pyc files, and the tmpfs pages of /tmp and the workdir, which
 *    count as shmem). Goal <= 8 MiB. In the same run, two raw containers of the same create
 *    options give the baseline: one with no agent (init + sleep: what the engine's container
 *    costs without us) and one with a bare `python3 -c 'import time; time.sleep(...)'` exec'ed
 *    into it (what python itself costs in that image), and the agent's own RSS from /proc.
 * 2. The engine's host-side cost per sandbox beside it (no goal): the RSS of each container's
 *    containerd-shim (or conmon) found by its command line holding the container id, and the
 *    daemon's RSS growth per sandbox.
 * 3. Exec `true` runs/s with 1, 50 and 200 live sandboxes (BENCH_SCALE_COUNTS): a closed loop
 *    of 8 clients (own connections) over min(8, N) of them, the others idle but live. Goal:
 *    runs/s at the largest count ÷ runs/s at 1 >= 0.8. The count of 1 is measured again after
 *    the others are deleted, and the baseline is the mean of the two (it brackets drift in the
 *    machine's load over the run).
 * Sandboxes get small memory (BENCH_SCALE_MEMORY_MIB, 64) so 200 fit, and are created with
 * bounded concurrency (BENCH_SCALE_CONCURRENCY, 6). Every one is deleted at the end, also on
 * failure (and any container of the bench daemon left over is removed).
 */
import { readFileSync, readdirSync } from "node:fs";
import { sandboxClient, type SandboxClient } from "./lib/client.js";
import { collect, envInt, readySandbox } from "./lib/common.js";
import { processStats, startBenchDaemon } from "./lib/daemon.js";
import { createOptionsLike, daemonContainers, docker, rawCreateStart, removeContainer } from "./lib/engine.js";
import { describe } from "./lib/grpc-errors.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { now, percentile, round, summarize } from "./lib/stats.js";

const MiB = 1024 * 1024;
const mib = (bytes: number) => round(bytes / MiB, 2);

/** The container's memory cgroup directory and its version, when this machine exposes it. */
function cgroupDir(id: string): { dir: string; v: 1 | 2 } | null {
  const candidates: [string, 1 | 2][] = [
    [`/sys/fs/cgroup/memory/docker/${id}`, 1],
    [`/sys/fs/cgroup/memory/libpod_parent/libpod-${id}`, 1],
    [`/sys/fs/cgroup/memory/machine.slice/libpod-${id}.scope`, 1],
    [`/sys/fs/cgroup/memory/system.slice/docker-${id}.scope`, 1],
    [`/sys/fs/cgroup/system.slice/docker-${id}.scope`, 2],
    [`/sys/fs/cgroup/machine.slice/libpod-${id}.scope`, 2],
    [`/sys/fs/cgroup/docker/${id}`, 2],
  ];
  for (const [dir, v] of candidates) {
    try {
      readFileSync(`${dir}/cgroup.procs`, "utf8");
      return { dir, v };
    } catch {
      // not this layout
    }
  }
  return null;
}

interface CgroupMemory {
  /** What the cgroup is charged: processes' memory plus page cache (and kernel memory on v2). */
  usageBytes: number;
  /** Anonymous memory of its processes (v1 total_rss, v2 anon). */
  anonBytes: number | null;
  /** Page cache charged to it (v1 total_cache, v2 file); includes shmem (its tmpfs pages). */
  fileBytes: number | null;
  /** Of the file part: tmpfs/shm pages. */
  shmemBytes: number | null;
  /** Of the file part: pages mapped into a process (the python binary, libs, mmap'ed files). */
  fileMappedBytes: number | null;
  /** Kernel memory (v2 kernel_stack + slab + sock + pagetables; v1 memory.kmem.usage_in_bytes). */
  kernelBytes: number | null;
  pids: number[];
}

function readStat(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.split(" ");
    if (k && v) m.set(k, Number(v));
  }
  return m;
}

function cgroupMemory(id: string): CgroupMemory | null {
  const cg = cgroupDir(id);
  if (!cg) return null;
  const pids = readFileSync(`${cg.dir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
  const tryRead = (f: string) => {
    try {
      return readFileSync(`${cg.dir}/${f}`, "utf8");
    } catch {
      return null;
    }
  };
  const stat = readStat(tryRead("memory.stat") ?? "");
  const get = (k: string) => stat.get(k) ?? null;
  if (cg.v === 1) {
    const kmem = tryRead("memory.kmem.usage_in_bytes");
    return {
      usageBytes: Number(tryRead("memory.usage_in_bytes") ?? NaN),
      anonBytes: get("total_rss") ?? get("rss"),
      fileBytes: get("total_cache") ?? get("cache"),
      shmemBytes: get("total_shmem") ?? get("shmem"),
      fileMappedBytes: get("total_mapped_file") ?? get("mapped_file"),
      kernelBytes: kmem === null ? null : Number(kmem),
      pids,
    };
  }
  const kernel = ["kernel_stack", "slab", "sock", "pagetables"].map((k) => get(k) ?? 0).reduce((a, b) => a + b, 0);
  return {
    usageBytes: Number(tryRead("memory.current") ?? NaN),
    anonBytes: get("anon"),
    fileBytes: get("file"),
    shmemBytes: get("shmem"),
    fileMappedBytes: get("file_mapped"),
    kernelBytes: stat.size ? kernel : null,
    pids,
  };
}

function procStatus(pid: number): { rssBytes: number; anonBytes: number; fileBytes: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
    return { rssBytes: kb("VmRSS"), anonBytes: kb("RssAnon"), fileBytes: kb("RssFile") + kb("RssShmem") };
  } catch {
    return null;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/** The agent's process among the container's (its command line names it). */
function agentPid(pids: readonly number[]): number | null {
  return pids.find((p) => cmdline(p).includes("sandboxd-agent")) ?? null;
}

/** Host pids of containerd-shim / conmon processes, with their command lines (scanned once per measurement). */
function shimProcesses(): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = cmdline(Number(entry));
    if (/^\S*(containerd-shim|conmon)/.test(cmd)) out.push({ pid: Number(entry), cmd });
  }
  return out;
}

async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}

/** Memory of each given sandbox container, and the summary the goal is read from. */
function measureMemory(containerIds: readonly string[]) {
  const shims = shimProcesses();
  const rows = containerIds.map((id) => {
    const cg = cgroupMemory(id);
    const agent = cg ? agentPid(cg.pids) : null;
    const shim = shims.find((s) => s.cmd.includes(id));
    return { id, cg, agent: agent === null ? null : procStatus(agent), shim: shim ? procStatus(shim.pid) : null };
  });
  const values = (f: (r: (typeof rows)[number]) => number | null | undefined) =>
    rows
      .map(f)
      .filter((x): x is number => typeof x === "number" && Number.isFinite(x))
      .sort((a, b) => a - b);
  const stat = (f: (r: (typeof rows)[number]) => number | null | undefined) => {
    const v = values(f);
    return v.length ? { n: v.length, p50_mib: mib(percentile(v, 50)), max_mib: mib(v[v.length - 1] as number) } : null;
  };
  return {
    cgroup_usage: stat((r) => r.cg?.usageBytes),
    cgroup_anon: stat((r) => r.cg?.anonBytes),
    cgroup_file: stat((r) => r.cg?.fileBytes),
    cgroup_shmem: stat((r) => r.cg?.shmemBytes),
    cgroup_file_mapped: stat((r) => r.cg?.fileMappedBytes),
    cgroup_kernel: stat((r) => r.cg?.kernelBytes),
    processes_in_cgroup: values((r) => r.cg?.pids.length),
    agent_rss: stat((r) => r.agent?.rssBytes),
    agent_rss_anon: stat((r) => r.agent?.anonBytes),
    agent_rss_file: stat((r) => r.agent?.fileBytes),
    shim_rss: stat((r) => r.shim?.rssBytes),
    shims_found: rows.filter((r) => r.shim).length,
  };
}

/** A closed loop of `clients` over `targets` for warm-up + duration; runs/s in the window. */
async function drive(clients: SandboxClient[], targets: string[], warmupMs: number, durationMs: number) {
  const latencies: number[] = [];
  let completed = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const start = now();
  const measureFrom = start + warmupMs;
  const stopAt = measureFrom + durationMs;
  await Promise.all(
    clients.map(async (client, ci) => {
      for (let k = 0; now() < stopAt; k++) {
        const sandboxId = targets[(ci + k) % targets.length] as string;
        const t0 = now();
        let ok = false;
        try {
          ok = (await collect(client.exec({ sandboxId, argv: ["true"] }))).exit.exitCode === 0;
        } catch (err) {
          const key = describe(err).slice(0, 120);
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
        const t1 = now();
        if (t0 < measureFrom || t1 > stopAt) continue;
        if (ok) {
          completed++;
          latencies.push(t1 - t0);
        } else failed++;
      }
    }),
  );
  return {
    runs_per_second: round(completed / (durationMs / 1000), 1),
    completed,
    failed,
    errors: Object.fromEntries(errors),
    latency_ms: summarize(latencies),
  };
}

export function run(): Promise<BenchResult> {
  return runBenchmark("sandbox-memory", "Memory per idle sandbox (cgroup, engine, daemon) and Exec runs/s with 1, 50, 200 live sandboxes", async (ctx) => {
    const counts = (process.env["BENCH_SCALE_COUNTS"] ?? "1,50,200")
      .split(",")
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => a - b);
    if (counts.length === 0) throw new Error("BENCH_SCALE_COUNTS holds no positive count");
    const clientCount = envInt("BENCH_SCALE_CLIENTS", 8);
    const durationMs = envInt("BENCH_SCALE_SECONDS", 8) * 1000;
    const warmupMs = envInt("BENCH_SCALE_WARMUP_SECONDS", 2) * 1000;
    const concurrency = Math.max(1, envInt("BENCH_SCALE_CONCURRENCY", 6));
    const memoryMiB = envInt("BENCH_SCALE_MEMORY_MIB", 64);
    const largest = counts[counts.length - 1] as number;
    ctx.config = { counts, clients: clientCount, durationMs, warmupMs, createConcurrency: concurrency, sandboxMemoryMiB: memoryMiB };
    // Small sandboxes, no per-tenant quota on count or memory, so the largest count fits.
    const d = await startBenchDaemon([
      "--defaults.memory-bytes",
      `${memoryMiB}m`,
      "--quotas.max-sandboxes",
      "0",
      "--quotas.max-memory-bytes",
      "0",
      "--quotas.max-concurrent-runs",
      "0",
    ]);
    const pid = d.process.pid as number;
    const admin = sandboxClient(d.address);
    const clients = Array.from({ length: clientCount }, () => sandboxClient(d.address, { ownConnection: true }));
    const live: { id: string; containerId: string }[] = [];
    const raws: string[] = [];
    try {
      const idle = processStats(pid);
      ctx.metrics["daemon_idle_rss_mib"] = mib(idle.rssBytes);
      const levels: Record<string, unknown>[] = [];
      const runsAt = new Map<number, number>();
      for (const n of counts) {
        const t0 = now();
        const add = n - live.length;
        const made = await pool(
          Array.from({ length: add }, (_, i) => i),
          concurrency,
          () => readySandbox(admin),
        );
        live.push(...made.map((m) => ({ id: m.id, containerId: m.containerId })));
        const createSeconds = round((now() - t0) / 1000, 1);
        // Let the new ones settle (the agents' start-up done, their first exec's garbage gone).
        await new Promise((r) => setTimeout(r, 2000));
        const memory = measureMemory(live.map((s) => s.containerId));
        const daemon = processStats(pid);
        const exec = await drive(
          clients,
          live.slice(0, Math.min(8, live.length)).map((s) => s.id),
          warmupMs,
          durationMs,
        );
        runsAt.set(n, exec.runs_per_second);
        levels.push({
          live: n,
          created: add,
          create_seconds: createSeconds,
          memory,
          daemon_rss_mib: mib(daemon.rssBytes),
          daemon_fds: daemon.fds,
          daemon_rss_growth_per_sandbox_mib: round((daemon.rssBytes - idle.rssBytes) / MiB / n, 3),
          exec_true: exec,
          load_avg_1m: round(Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]), 2),
        });
        if (exec.failed || Object.keys(exec.errors).length)
          ctx.notes.push(`Exec with ${n} live: ${exec.failed} wrong results, errors ${JSON.stringify(exec.errors)}`);
        process.stderr.write(`sandbox-memory: ${n} live, ${exec.runs_per_second} runs/s, cgroup p50 ${memory.cgroup_usage?.p50_mib} MiB\n`);
      }
      ctx.metrics["levels"] = levels;

      // Baselines in the same run: containers of the same create options without the agent.
      const opts = await createOptionsLike((live[0] as { containerId: string }).containerId);
      const bare = await rawCreateStart(opts);
      raws.push(bare);
      const withPython = await rawCreateStart(opts);
      raws.push(withPython);
      const exec = await docker.getContainer(withPython).exec({ Cmd: ["python3", "-c", "import time; time.sleep(100000)"] });
      await exec.start({ Detach: true });
      await new Promise((r) => setTimeout(r, 2000));
      const bareMem = measureMemory([bare]);
      const pyMem = measureMemory([withPython]);
      const pyCg = cgroupMemory(withPython);
      const pyPid = pyCg?.pids.find((p) => cmdline(p).includes("time.sleep")) ?? null;
      const pyRss = pyPid === null ? null : procStatus(pyPid);
      ctx.metrics["baseline"] = {
        no_agent_cgroup_mib: bareMem.cgroup_usage?.p50_mib ?? null,
        no_agent_cgroup_anon_mib: bareMem.cgroup_anon?.p50_mib ?? null,
        no_agent_cgroup_file_mib: bareMem.cgroup_file?.p50_mib ?? null,
        bare_python_cgroup_mib: pyMem.cgroup_usage?.p50_mib ?? null,
        bare_python_cgroup_anon_mib: pyMem.cgroup_anon?.p50_mib ?? null,
        bare_python_cgroup_file_mib: pyMem.cgroup_file?.p50_mib ?? null,
        bare_python_rss_mib: pyRss ? mib(pyRss.rssBytes) : null,
        bare_python_rss_anon_mib: pyRss ? mib(pyRss.anonBytes) : null,
        shim_rss_mib: bareMem.shim_rss?.p50_mib ?? null,
      };

      // Back down to one live sandbox: the count of 1 again.
      await pool(live.splice(1), concurrency, (s) => admin.destroySandbox({ sandboxId: s.id }).catch(() => undefined));
      await new Promise((r) => setTimeout(r, 2000));
      const again = await drive(clients, [(live[0] as { id: string }).id], warmupMs, durationMs);
      ctx.metrics["exec_true_1_again"] = again;

      const top = levels[levels.length - 1] as { memory: ReturnType<typeof measureMemory>; daemon_rss_growth_per_sandbox_mib: number };
      const first = runsAt.get(counts[0] as number) as number;
      const base = counts[0] === 1 ? (first + again.runs_per_second) / 2 : again.runs_per_second;
      const scale = round((runsAt.get(largest) as number) / base, 3);
      ctx.goals.push(
        goal(
          "idle_sandbox_cgroup_mib",
          `memory per idle sandbox in its cgroup (init + agent; p50 over ${largest}), MiB`,
          "<=",
          8,
          top.memory.cgroup_usage?.p50_mib ?? null,
        ),
        goal(
          `runs_per_second_${largest}_over_1`,
          `Exec \`true\` runs/s, ${clientCount} clients, with ${largest} live sandboxes ÷ with 1 (mean of before and after)`,
          ">=",
          0.8,
          scale,
        ),
      );
      ctx.reported.push(
        {
          metric: "idle_sandbox_cgroup_max_mib",
          description: "memory per idle sandbox in its cgroup, max",
          value: top.memory.cgroup_usage?.max_mib ?? null,
          unit: "MiB",
        },
        {
          metric: "idle_sandbox_cgroup_anon_mib",
          description: "of which anon (process memory), p50",
          value: top.memory.cgroup_anon?.p50_mib ?? null,
          unit: "MiB",
        },
        {
          metric: "idle_sandbox_cgroup_file_mib",
          description: "of which file (page cache incl. tmpfs), p50",
          value: top.memory.cgroup_file?.p50_mib ?? null,
          unit: "MiB",
        },
        { metric: "agent_rss_mib", description: "the agent's RSS, p50", value: top.memory.agent_rss?.p50_mib ?? null, unit: "MiB" },
        {
          metric: "bare_python_cgroup_mib",
          description: "same container with a bare python3 sleeping instead of the agent",
          value: (ctx.metrics["baseline"] as { bare_python_cgroup_mib: number | null }).bare_python_cgroup_mib,
          unit: "MiB",
        },
        {
          metric: "shim_rss_mib",
          description: "engine host-side: containerd-shim/conmon RSS per sandbox, p50",
          value: top.memory.shim_rss?.p50_mib ?? null,
          unit: "MiB",
        },
        { metric: "daemon_rss_per_sandbox_mib", description: "daemon RSS growth per live sandbox", value: top.daemon_rss_growth_per_sandbox_mib, unit: "MiB" },
      );
      for (const n of counts)
        ctx.reported.push({
          metric: `exec_true_runs_per_second_${n}`,
          description: `Exec \`true\` runs/s with ${n} live`,
          value: runsAt.get(n) ?? null,
          unit: "runs/s",
        });
      ctx.reported.push({
        metric: "exec_true_runs_per_second_1_again",
        description: "Exec `true` runs/s with 1 live, after the others were deleted",
        value: again.runs_per_second,
        unit: "runs/s",
      });
      if (top.memory.cgroup_usage === null) ctx.pending.push("no readable memory cgroup for the containers on this machine");
    } finally {
      for (const c of clients) c.close();
      await pool(live, concurrency, (s) => admin.destroySandbox({ sandboxId: s.id }).catch(() => undefined));
      admin.close();
      for (const id of raws) await removeContainer(id);
      await d.stop();
      // Whatever is left of this daemon's containers (a failed create, a stop that did not clean up).
      const left = await daemonContainers(d.daemonId).catch(() => []);
      await pool(left, 8, (c) => removeContainer(c.Id));
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
