/**
 * Benchmark: the Kubernetes backend (`--backend kubernetes`) against raw
 * @kubernetes/client-node calls measured in the same run, on pods with the same spec (copied
 * from a pod the daemon made, as create-sandbox.ts copies a container's HostConfig):
 * - pod create -> Running: CreateSandbox without a pool vs createNamespacedPod + a watch
 *   seeing the container run; goal <= 1.2;
 * - CreateSandbox from a warm pool vs the same raw create -> Running; goal <= 0.05;
 * - Exec `true` and Run `print(1)` in an existing sandbox vs one raw exec (the pods/exec
 *   websocket, client-node's Exec) of the same program in a raw pod; goal <= 0.3;
 * - N sandboxes ready at once (N = 10, 50, 100): N parallel CreateSandbox from a pool of N
 *   and without a pool vs N raw pods created in parallel and all Running.
 * Every sandbox and raw pod gets the same small memory size (memory requests equal limits on
 * a sandbox pod, so 100 default-sized ones would not fit on one node). Without a reachable
 * cluster the benchmark is skipped (status pending, a "skipped: no cluster" note).
 */
import { sandboxClient, type SandboxClient } from "./lib/client.js";
import { collect, envInt, expectOutput, readySandbox } from "./lib/common.js";
import { startBenchDaemon, type DaemonHandle } from "./lib/daemon.js";
import {
  RawPods,
  connectCluster,
  daemonArgs,
  deleteNamespace,
  ensureNamespace,
  podLike,
  rawPodExec,
  removeDaemonPods,
  waitForPoolReady,
  type Cluster,
} from "./lib/kubernetes.js";
import { describe } from "./lib/grpc-errors.js";
import { goal, isMain, mainOf, runBenchmark, type BenchContext, type BenchResult } from "./lib/result.js";
import { measurePair, now, ratio, round, sleep, summarize, timed } from "./lib/stats.js";
import { freePort } from "../test/helpers/ports.js";

const MiB = 1024 * 1024;

interface Settings {
  namespace: string;
  memoryMiB: number;
  refillConcurrency: number;
}

async function startK8sDaemon(cluster: Cluster, s: Settings, extra: string[] = []): Promise<{ daemon: DaemonHandle; metrics: string }> {
  const metrics = `127.0.0.1:${await freePort()}`;
  const daemon = await startBenchDaemon([
    ...daemonArgs(cluster, s.namespace),
    "--defaults.memory-bytes",
    String(s.memoryMiB * MiB),
    "--pool-refill-concurrency",
    String(s.refillConcurrency),
    "--metrics-listen",
    metrics,
    ...extra,
  ]);
  return { daemon, metrics };
}

/** Stops a daemon (it removes its sandboxes and pool members) and waits until its pods are gone. */
async function stopK8sDaemon(cluster: Cluster, s: Settings, d: DaemonHandle, ctx: BenchContext): Promise<void> {
  await d.stop();
  const left = await removeDaemonPods(cluster, s.namespace);
  if (left) ctx.notes.push(`daemon ${d.daemonId} left ${left} pods after SIGTERM (removed by the benchmark)`);
}

async function sandboxdCreate(client: SandboxClient, settleMs: number): Promise<{ ms: number; fromPool: boolean }> {
  const [ms, res] = await timed(() => client.createSandbox({ spec: { language: "python" } }));
  const sandbox = res.sandbox;
  if (!sandbox) throw new Error("CreateSandbox returned no sandbox");
  // Let the background work the create started (agent start) finish before the next sample.
  await sleep(settleMs);
  await client.destroySandbox({ sandboxId: sandbox.id });
  return { ms, fromPool: sandbox.fromPool };
}

async function rawCreate(raw: RawPods, settleMs: number): Promise<number> {
  const [ms, name] = await timed(() => raw.createRunning());
  await sleep(settleMs);
  await raw.remove(name);
  return ms;
}

/** N raw pods created at once: wall time until the last one runs, and each one's own create -> Running. */
async function rawBatch(raw: RawPods, n: number): Promise<{ wall_ms: number; each_ms: ReturnType<typeof summarize> }> {
  const t0 = now();
  const each = await Promise.all(
    Array.from({ length: n }, async () => {
      await raw.createRunning();
      return now() - t0;
    }),
  );
  const wall = now() - t0;
  await raw.removeAll();
  return { wall_ms: round(wall), each_ms: summarize(each) };
}

/**
 * N parallel CreateSandbox calls: wall time until the last one returned, each one's own
 * time, and (untimed in the wall figure) until each one's first Exec `true` returned.
 */
async function sandboxdBatch(client: SandboxClient, n: number) {
  const t0 = now();
  const each = await Promise.all(
    Array.from({ length: n }, async () => {
      const { sandbox } = await client.createSandbox({ spec: { language: "python" } });
      if (!sandbox) throw new Error("CreateSandbox returned no sandbox");
      const created = now() - t0;
      const r = await collect(client.exec({ sandboxId: sandbox.id, argv: ["true"] }));
      if (r.exit.exitCode !== 0) throw new Error(`first exec in ${sandbox.id} failed: ${r.stderr}`);
      return { id: sandbox.id, fromPool: sandbox.fromPool, created, runnable: now() - t0 };
    }),
  );
  const wall = Math.max(...each.map((e) => e.created));
  await Promise.all(each.map((e) => client.destroySandbox({ sandboxId: e.id })));
  return {
    wall_ms: round(wall),
    each_ms: summarize(each.map((e) => e.created)),
    first_exec_wall_ms: round(Math.max(...each.map((e) => e.runnable))),
    from_pool: each.filter((e) => e.fromPool).length,
  };
}

function counts(): number[] {
  const raw = process.env["BENCH_K8S_COUNTS"] ?? "10,50,100";
  const list = raw
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")
    .map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`BENCH_K8S_COUNTS must be positive integers separated by commas, got ${JSON.stringify(raw)}`);
  return list;
}

const pendingGoals = (ctx: BenchContext) =>
  ctx.goals.push(
    goal("k8s_cold_create_p50_ratio", "Kubernetes: CreateSandbox without pool p50 / raw pod create->Running p50", "<=", 1.2, null),
    goal("k8s_pool_create_p50_ratio", "Kubernetes: CreateSandbox from a warm pool p50 / raw pod create->Running p50", "<=", 0.05, null),
    goal("k8s_exec_true_p50_ratio", "Kubernetes: Exec `true`: sandboxd p50 / raw pod exec p50", "<=", 0.3, null),
    goal("k8s_run_print_p50_ratio", "Kubernetes: Run `print(1)`: sandboxd p50 / raw pod exec p50", "<=", 0.3, null),
  );

export function run(): Promise<BenchResult> {
  return runBenchmark("kubernetes", "Kubernetes backend vs raw @kubernetes/client-node", async (ctx) => {
    const iterations = envInt("BENCH_K8S_CREATE_ITERATIONS", 8);
    const warmup = envInt("BENCH_K8S_WARMUP", 1);
    const execIterations = envInt("BENCH_K8S_EXEC_ITERATIONS", 40);
    const poolSize = envInt("BENCH_K8S_POOL_SIZE", 4);
    const refillWaitMs = envInt("BENCH_K8S_POOL_REFILL_WAIT_MS", 4000);
    const poolFillTimeoutMs = envInt("BENCH_K8S_POOL_FILL_TIMEOUT_MS", 600_000);
    const s: Settings = {
      namespace: process.env["BENCH_K8S_NAMESPACE"] ?? "sandboxd-bench",
      memoryMiB: envInt("BENCH_K8S_MEMORY_MIB", 128),
      refillConcurrency: envInt("BENCH_K8S_REFILL_CONCURRENCY", 8),
    };
    const ns = counts();
    ctx.config = { iterations, warmup, execIterations, poolSize, refillWaitMs, counts: ns, ...s, image: "sandboxd/python:latest", imagePullPolicy: "Never" };

    const cluster = await connectCluster();
    if ("skipped" in cluster) {
      ctx.notes.push(
        `skipped: no cluster (${cluster.skipped}); start one with \`bash scripts/k8s/cluster.sh up\` and \`eval "$(bash scripts/k8s/cluster.sh env)"\``,
      );
      ctx.pending.push(`skipped: no cluster: ${cluster.skipped}`);
      pendingGoals(ctx);
      return;
    }
    ctx.config["server"] = cluster.server;
    const createdNamespace = await ensureNamespace(cluster.core, s.namespace);
    let raw: RawPods | undefined;
    try {
      // Cold: a daemon without pools. Its first sandbox's pod is the raw pods' template.
      const cold = await startK8sDaemon(cluster, s);
      const client = sandboxClient(cold.daemon.address);
      let rawBatches: Record<number, Awaited<ReturnType<typeof rawBatch>>> = {};
      try {
        const template = await readySandbox(client);
        const pod = await cluster.core.readNamespacedPod({ name: template.containerId, namespace: s.namespace });
        raw = await RawPods.open(cluster, s.namespace, podLike(pod));
        ctx.config["pod"] = {
          memoryLimit: pod.spec?.containers[0]?.resources?.limits?.["memory"],
          cpuLimit: pod.spec?.containers[0]?.resources?.limits?.["cpu"],
          volumes: (pod.spec?.volumes ?? []).map((v) => v.name),
        };

        // 3. Exec / Run in an existing sandbox vs a raw exec in a raw pod of the same spec.
        const rawPod = await raw.createRunning();
        const rp = raw;
        const exec = await measurePair(
          {
            sandboxd: async () => {
              const r = await collect(client.exec({ sandboxId: template.id, argv: ["true"] }));
              if (r.exit.exitCode !== 0) throw new Error("exec true failed");
            },
            raw: async () => {
              const r = await rawPodExec(cluster, s.namespace, rawPod, ["true"]);
              if (r.exitCode !== 0) throw new Error("raw exec true failed");
            },
          },
          execIterations,
          warmup + 2,
          "raw_exec_ms",
        );
        const runP = await measurePair(
          {
            sandboxd: async () => {
              const r = await collect(client.run({ sandboxId: template.id, code: "print(1)" }));
              expectOutput("Run print(1)", r.stdout, "1\n");
            },
            raw: async () => {
              const r = await rawPodExec(cluster, s.namespace, rawPod, ["python3", "-u", "-c", "print(1)"]);
              expectOutput("raw print(1)", r.stdout, "1\n");
            },
          },
          Math.max(1, Math.round(execIterations / 2)),
          warmup + 2,
          "raw_exec_ms",
        );
        ctx.metrics["exec_true"] = exec;
        ctx.metrics["run_print"] = { ...runP, ratio_p50_vs_raw_exec_true: ratio(runP.sandboxd_ms.p50, exec.raw_exec_ms.p50) };
        await client.destroySandbox({ sandboxId: template.id });
        await rp.remove(rawPod);

        // 1. Pod create -> Running, one at a time.
        const sd: number[] = [];
        const rw: number[] = [];
        for (let i = 0; i < warmup + iterations; i++) {
          const first = i % 2 === 0;
          const a = first ? (await sandboxdCreate(client, 1000)).ms : await rawCreate(rp, 1000);
          await sleep(500);
          const b = first ? await rawCreate(rp, 1000) : (await sandboxdCreate(client, 1000)).ms;
          await sleep(500);
          if (i < warmup) continue;
          sd.push(first ? a : b);
          rw.push(first ? b : a);
        }
        const c = summarize(sd);
        const r = summarize(rw);
        ctx.metrics["cold"] = { sandboxd_ms: c, raw_create_running_ms: r, ratio_p50: ratio(c.p50, r.p50), ratio_p99: ratio(c.p99, r.p99) };
        ctx.goals.push(
          goal("k8s_cold_create_p50_ratio", "Kubernetes: CreateSandbox without pool p50 / raw pod create->Running p50", "<=", 1.2, ratio(c.p50, r.p50)),
        );
        ctx.goals.push(goal("k8s_exec_true_p50_ratio", "Kubernetes: Exec `true`: sandboxd p50 / raw pod exec p50", "<=", 0.3, exec.ratio_p50));
        ctx.goals.push(goal("k8s_run_print_p50_ratio", "Kubernetes: Run `print(1)`: sandboxd p50 / raw pod exec p50", "<=", 0.3, runP.ratio_p50));
        ctx.reported.push(
          { metric: "k8s_cold_create_p50", description: "Kubernetes: CreateSandbox without pool, p50", value: c.p50, unit: "ms" },
          { metric: "k8s_raw_create_running_p50", description: "Kubernetes: raw pod create -> Running (watch), same spec, p50", value: r.p50, unit: "ms" },
          { metric: "k8s_exec_true_p50", description: "Kubernetes: Exec `true` in an existing sandbox, p50", value: exec.sandboxd_ms.p50, unit: "ms" },
          { metric: "k8s_raw_exec_true_p50", description: "Kubernetes: one raw pod exec of `true` (websocket), p50", value: exec.raw_exec_ms.p50, unit: "ms" },
          { metric: "k8s_run_print_p50", description: "Kubernetes: Run `print(1)` in an existing sandbox, p50", value: runP.sandboxd_ms.p50, unit: "ms" },
          {
            metric: "k8s_raw_run_print_p50",
            description: "Kubernetes: one raw pod exec of `python3 -c 'print(1)'`, p50",
            value: runP.raw_exec_ms.p50,
            unit: "ms",
          },
        );

        // 4, without a pool: N raw pods at once vs N CreateSandbox at once.
        const batches: Record<string, unknown> = {};
        for (const [i, n] of ns.entries()) {
          const rawFirst = i % 2 === 0;
          let rb: Awaited<ReturnType<typeof rawBatch>> | undefined;
          let sb: Awaited<ReturnType<typeof sandboxdBatch>> | undefined;
          try {
            if (rawFirst) rb = await rawBatch(rp, n);
            sb = await sandboxdBatch(client, n);
            await removeDaemonPods(cluster, s.namespace);
            if (!rawFirst) rb = await rawBatch(rp, n);
          } catch (err) {
            // One batch failing (a pod not started in time on a loaded node) leaves the other rows measured.
            ctx.pending.push(`${n} at once without pool: ${describe(err)}`);
            await rp.removeAll().catch(() => undefined);
            await removeDaemonPods(cluster, s.namespace).catch(() => 0);
            if (rb) rawBatches = { ...rawBatches, [n]: rb };
            continue;
          }
          if (!rb || !sb) throw new Error("unreachable");
          rawBatches = { ...rawBatches, [n]: rb };
          batches[String(n)] = { raw: rb, sandboxd_cold: sb, ratio_wall: ratio(sb.wall_ms, rb.wall_ms) };
          ctx.reported.push(
            { metric: `k8s_raw_${n}_running_wall`, description: `Kubernetes: ${n} raw pods created at once, until all Running`, value: rb.wall_ms, unit: "ms" },
            {
              metric: `k8s_cold_${n}_ready_wall`,
              description: `Kubernetes: ${n} CreateSandbox at once without pool, until all returned`,
              value: sb.wall_ms,
              unit: "ms",
            },
          );
        }
        ctx.metrics["batch"] = batches;
      } finally {
        client.close();
        await stopK8sDaemon(cluster, s, cold.daemon, ctx);
      }

      // 2. Warm pool, one at a time.
      {
        const pooled = await startK8sDaemon(cluster, s, ["--pools.python", String(poolSize)]);
        const pc = sandboxClient(pooled.daemon.address);
        try {
          if (!(await waitForPoolReady(pooled.metrics, "python", poolSize, poolFillTimeoutMs)))
            ctx.notes.push(`the pool did not reach ${poolSize} ready members in time`);
          const hits: number[] = [];
          const misses: number[] = [];
          const rw: number[] = [];
          for (let i = 0; i < warmup + iterations; i++) {
            const r = await rawCreate(raw, 1000);
            await sleep(500);
            const x = await sandboxdCreate(pc, 200);
            // Give the pool time to refill the member just taken.
            await sleep(refillWaitMs);
            if (i < warmup) continue;
            rw.push(r);
            (x.fromPool ? hits : misses).push(x.ms);
          }
          const r = summarize(rw);
          const h = summarize(hits);
          ctx.metrics["pool"] = {
            pool_size: poolSize,
            hits: hits.length,
            misses: misses.length,
            sandboxd_hit_ms: h,
            sandboxd_miss_ms: misses.length ? summarize(misses) : null,
            raw_create_running_ms: r,
            ratio_p50: hits.length ? ratio(h.p50, r.p50) : null,
            ratio_p99: hits.length ? ratio(h.p99, r.p99) : null,
          };
          if (hits.length === 0) ctx.pending.push("warm pool: no CreateSandbox came from the pool (from_pool never true)");
          ctx.goals.push(
            goal(
              "k8s_pool_create_p50_ratio",
              "Kubernetes: CreateSandbox from a warm pool p50 / raw pod create->Running p50",
              "<=",
              0.05,
              hits.length ? ratio(h.p50, r.p50) : null,
            ),
          );
          if (hits.length)
            ctx.reported.push({ metric: "k8s_pool_create_p50", description: "Kubernetes: CreateSandbox from a warm pool, p50", value: h.p50, unit: "ms" });
          if (misses.length) ctx.notes.push(`${misses.length} of ${hits.length + misses.length} pooled creates missed the pool`);
        } finally {
          pc.close();
          await stopK8sDaemon(cluster, s, pooled.daemon, ctx);
        }
      }

      // 4, from a pool of N: N CreateSandbox at once, against the raw batch of the same N above.
      const pooledBatches: Record<string, unknown> = {};
      const poolGoal = (value: number | null) =>
        goal("k8s_pool_100_ready_wall_ms", "Kubernetes: 100 sandboxes at once from a pool of 100, wall ms (OpenSandbox reports 920 ms)", "<=", 920, value);
      for (const n of ns) {
        const pooled = await startK8sDaemon(cluster, s, ["--pools.python", String(n)]);
        const pc = sandboxClient(pooled.daemon.address);
        try {
          const [fillMs, full] = await timed(() => waitForPoolReady(pooled.metrics, "python", n, poolFillTimeoutMs));
          if (!full) ctx.notes.push(`the pool of ${n} did not fill within ${poolFillTimeoutMs} ms`);
          await sleep(1000);
          const sb = await sandboxdBatch(pc, n);
          const rb = rawBatches[n];
          pooledBatches[String(n)] = { pool_fill_ms: round(fillMs), sandboxd_pool: sb, ratio_wall: rb ? ratio(sb.wall_ms, rb.wall_ms) : null };
          ctx.reported.push({
            metric: `k8s_pool_${n}_ready_wall`,
            description: `Kubernetes: ${n} CreateSandbox at once from a pool of ${n}, until all returned (${sb.from_pool} from the pool)`,
            value: sb.wall_ms,
            unit: "ms",
          });
          if (n === 100) ctx.goals.push(poolGoal(sb.from_pool === n ? sb.wall_ms : null));
          if (sb.from_pool < n) ctx.notes.push(`pool of ${n}: ${n - sb.from_pool} of ${n} creates missed the pool`);
        } catch (err) {
          ctx.pending.push(`${n} at once from a pool: ${describe(err)}`);
          if (n === 100) ctx.goals.push(poolGoal(null));
        } finally {
          pc.close();
          await stopK8sDaemon(cluster, s, pooled.daemon, ctx);
        }
      }
      ctx.metrics["batch_pool"] = pooledBatches;
    } finally {
      raw?.close();
      await raw?.removeAll().catch(() => undefined);
      await removeDaemonPods(cluster, s.namespace).catch(() => 0);
      if (createdNamespace && process.env["BENCH_K8S_KEEP_NAMESPACE"] !== "1") await deleteNamespace(cluster.core, s.namespace);
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
