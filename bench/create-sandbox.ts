/**
 * Benchmark 2: CreateSandbox vs a raw engine create+start of the same image with the same
 * HostConfig (copied from a container the daemon made).
 * - cold (no pool): sandboxd p50 / raw p50, goal <= 1.2 (the daemon's own overhead is small);
 * - warm pool (`--pools.python N`): sandboxd p50 / raw p50, goal <= 0.05 (a hand-over).
 * Each timed create is followed, untimed, by a pause and the removal, so creates do not
 * overlap each other's background work (agent start, pool refill).
 */
import type Docker from "dockerode";
import { sandboxClient, type SandboxClient } from "./lib/client.js";
import { envInt, readySandbox } from "./lib/common.js";
import { startBenchDaemon, startPooledDaemon } from "./lib/daemon.js";
import { createOptionsLike, daemonContainers, rawCreateStart, removeContainer, removeRawContainers } from "./lib/engine.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { ratio, sleep, summarize, timed } from "./lib/stats.js";

async function rawCreate(options: Docker.ContainerCreateOptions): Promise<number> {
  const [ms, id] = await timed(() => rawCreateStart(options));
  await sleep(150);
  await removeContainer(id);
  return ms;
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

/** Waits until the daemon has `size` pool containers and a little longer for their agents. */
async function waitForPool(daemonId: string, size: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const cs = await daemonContainers(daemonId);
    if (cs.filter((c) => c.Labels["org.sandboxd.pool"] !== undefined && c.State === "running").length >= size) {
      await sleep(1500);
      return true;
    }
    await sleep(200);
  }
  return false;
}

export function run(): Promise<BenchResult> {
  return runBenchmark("create-sandbox", "CreateSandbox (warm pool and cold) vs raw engine create+start", async (ctx) => {
    const iterations = envInt("BENCH_CREATE_ITERATIONS", 12);
    const warmup = envInt("BENCH_WARMUP_CREATE", 1);
    const poolSize = envInt("BENCH_POOL_SIZE", 4);
    const refillWaitMs = envInt("BENCH_POOL_REFILL_WAIT_MS", 1500);
    ctx.config = { iterations, warmup, poolSize, refillWaitMs, image: "sandboxd/python:latest" };

    // Cold: a daemon without pools.
    let createOptions: Docker.ContainerCreateOptions;
    {
      const d = await startBenchDaemon();
      const client = sandboxClient(d.address);
      try {
        const template = await readySandbox(client);
        createOptions = await createOptionsLike(template.containerId);
        await client.destroySandbox({ sandboxId: template.id });
        const sd: number[] = [];
        const raw: number[] = [];
        for (let i = 0; i < warmup + iterations; i++) {
          const first = i % 2 === 0;
          const a = first ? (await sandboxdCreate(client, 300)).ms : await rawCreate(createOptions);
          await sleep(200);
          const b = first ? await rawCreate(createOptions) : (await sandboxdCreate(client, 300)).ms;
          await sleep(200);
          if (i < warmup) continue;
          sd.push(first ? a : b);
          raw.push(first ? b : a);
        }
        const s = summarize(sd);
        const r = summarize(raw);
        ctx.metrics["cold"] = { sandboxd_ms: s, engine_create_start_ms: r, ratio_p50: ratio(s.p50, r.p50), ratio_p99: ratio(s.p99, r.p99) };
        ctx.reported.push(
          { metric: "cold_create_p50", description: "CreateSandbox without pool, p50", value: s.p50, unit: "ms" },
          { metric: "engine_create_start_p50", description: "raw engine create+start, same HostConfig, p50", value: r.p50, unit: "ms" },
        );
        ctx.goals.push(
          goal("cold_create_p50_ratio", "CreateSandbox without pool: sandboxd p50 / engine create+start p50 (same HostConfig)", "<=", 1.0, ratio(s.p50, r.p50)),
        );
      } finally {
        client.close();
        await d.stop();
        await removeRawContainers();
      }
    }

    // Warm pool.
    const pooled = await startPooledDaemon("python", poolSize);
    if (!pooled.daemon) {
      ctx.pending.push(`warm pool: ${pooled.unsupported}`);
      ctx.goals.push(goal("pool_create_p50_ratio", "CreateSandbox from a warm pool: sandboxd p50 / engine create+start p50", "<=", 0.03, null));
      return;
    }
    const d = pooled.daemon;
    const client = sandboxClient(d.address);
    try {
      if (!(await waitForPool(d.daemonId, poolSize, 60_000))) ctx.notes.push(`the pool did not reach ${poolSize} running members within 60 s`);
      const hits: number[] = [];
      const misses: number[] = [];
      const raw: number[] = [];
      for (let i = 0; i < warmup + iterations; i++) {
        const r = await rawCreate(createOptions);
        await sleep(200);
        const s = await sandboxdCreate(client, 100);
        // Give the pool time to refill the member just taken.
        await sleep(refillWaitMs);
        if (i < warmup) continue;
        raw.push(r);
        (s.fromPool ? hits : misses).push(s.ms);
      }
      const h = summarize(hits);
      const r = summarize(raw);
      ctx.metrics["pool"] = {
        pool_size: poolSize,
        hits: hits.length,
        misses: misses.length,
        sandboxd_hit_ms: h,
        sandboxd_miss_ms: misses.length ? summarize(misses) : null,
        engine_create_start_ms: r,
        ratio_p50: ratio(h.p50, r.p50),
        ratio_p99: ratio(h.p99, r.p99),
      };
      if (hits.length === 0) {
        ctx.pending.push("warm pool: the daemon accepted --pools.python but no CreateSandbox came from the pool (from_pool never true)");
        ctx.goals.push(goal("pool_create_p50_ratio", "CreateSandbox from a warm pool: sandboxd p50 / engine create+start p50", "<=", 0.03, null));
      } else {
        ctx.goals.push(
          goal("pool_create_p50_ratio", "CreateSandbox from a warm pool: sandboxd p50 / engine create+start p50", "<=", 0.03, ratio(h.p50, r.p50)),
        );
        ctx.reported.push({ metric: "pool_create_p50", description: "CreateSandbox from a warm pool, p50", value: h.p50, unit: "ms" });
      }
      if (misses.length) ctx.notes.push(`${misses.length} of ${hits.length + misses.length} pooled creates missed the pool`);
    } finally {
      client.close();
      await d.stop();
      await removeRawContainers();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
