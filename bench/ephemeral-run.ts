/**
 * Benchmark 3: an ephemeral Run (sandbox acquired, `print(1)` run, sandbox destroyed) from
 * the warm pool vs llm-sandbox's SandboxSession(lang="python", image=<same image>) + run("print(1)")
 * + close, on the same image. Goal: sandboxd p50 / llm-sandbox p50 <= 0.1.
 * sandboxd's time is call start to end of stream: the stream ends after the sandbox is removed.
 */
import { sandboxClient } from "./lib/client.js";
import { collect, envInt, expectOutput } from "./lib/common.js";
import { startBenchDaemon, startPooledDaemon, type DaemonHandle } from "./lib/daemon.js";
import { ensureLlmSandbox, runLlmSandbox } from "./lib/llm-sandbox.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { now, ratio, sleep, summarize } from "./lib/stats.js";

const image = "sandboxd/python:latest";

interface LlmEphemeral {
  rows: { open_ms: number; run_ms: number; close_ms: number; total_ms: number }[];
  failures: unknown[];
}

async function measureSandboxd(d: DaemonHandle, iterations: number, warmup: number, pauseMs: number) {
  const client = sandboxClient(d.address);
  const total: number[] = [];
  const toExit: number[] = [];
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      const t0 = now();
      let exitAt = 0;
      const stream = client.run({ language: "python", code: "print(1)" });
      const r = await collect(
        (async function* () {
          for await (const m of stream) {
            if (m.event?.event.case === "exited") exitAt = now();
            yield m;
          }
        })(),
      );
      const t1 = now();
      expectOutput("ephemeral Run print(1)", r.stdout, "1\n");
      if (i >= warmup) {
        total.push(t1 - t0);
        toExit.push(exitAt - t0);
      }
      // Let the pool replace the member just used and the engine finish the removal.
      await sleep(pauseMs);
    }
  } finally {
    client.close();
  }
  return { total_ms: summarize(total), to_exit_event_ms: summarize(toExit) };
}

export function run(): Promise<BenchResult> {
  return runBenchmark("ephemeral-run", "Ephemeral Run from the warm pool vs llm-sandbox SandboxSession + run", async (ctx) => {
    const iterations = envInt("BENCH_EPHEMERAL_ITERATIONS", 12);
    const llmIterations = envInt("BENCH_LLM_ITERATIONS", 6);
    const warmup = envInt("BENCH_WARMUP_EPHEMERAL", 2);
    const poolSize = envInt("BENCH_POOL_SIZE", 4);
    const pauseMs = envInt("BENCH_POOL_REFILL_WAIT_MS", 1500);
    ctx.config = { iterations, llmIterations, warmup, poolSize, pauseMs, image };
    ctx.notes.push(
      "llm-sandbox runs with skip_environment_setup=True (the image already has python), network_mode none and an init process (as sandboxd's containers), PIP_NO_INDEX=1; its container runs as root (its default)",
    );

    const versions = ensureLlmSandbox();
    ctx.config["llm_sandbox"] = versions;
    const llm = await runLlmSandbox<LlmEphemeral>("ephemeral", { image, iterations: llmIterations, warmup: 1 }, 600_000);
    if (llm.failures.length) throw new Error(`llm-sandbox produced wrong output: ${JSON.stringify(llm.failures[0])}`);
    const llmTotal = summarize(llm.rows.map((r) => r.total_ms));
    ctx.metrics["llm_sandbox"] = {
      total_ms: llmTotal,
      open_ms: summarize(llm.rows.map((r) => r.open_ms)),
      run_ms: summarize(llm.rows.map((r) => r.run_ms)),
      close_ms: summarize(llm.rows.map((r) => r.close_ms)),
    };

    const pooled = await startPooledDaemon("python", poolSize);
    if (pooled.daemon) {
      const d = pooled.daemon;
      try {
        await sleep(5000); // the pool fills
        const s = await measureSandboxd(d, iterations, warmup, pauseMs);
        const handedOut = (d.logs().match(/handed out from the warm pool/g) ?? []).length;
        ctx.metrics["sandboxd_pool"] = { ...s, pool_hits: handedOut, runs: iterations + warmup };
        if (handedOut < iterations + warmup) ctx.notes.push(`only ${handedOut} of ${iterations + warmup} ephemeral runs took a pooled sandbox`);
        ctx.goals.push(
          goal(
            "ephemeral_pool_p50_ratio",
            "ephemeral Run from a warm pool p50 / llm-sandbox open+run+close p50",
            "<=",
            0.05,
            ratio(s.total_ms.p50, llmTotal.p50),
          ),
        );
        ctx.reported.push(
          {
            metric: "ephemeral_pool_p50",
            description: "ephemeral Run from the pool, call to end of stream (sandbox removed), p50",
            value: s.total_ms.p50,
            unit: "ms",
          },
          { metric: "ephemeral_pool_exit_p50", description: "ephemeral Run from the pool, call to exit event, p50", value: s.to_exit_event_ms.p50, unit: "ms" },
          { metric: "llm_sandbox_session_run_p50", description: "llm-sandbox SandboxSession open + run + close, p50", value: llmTotal.p50, unit: "ms" },
        );
      } finally {
        await d.stop();
      }
    } else {
      ctx.pending.push(`warm pool: ${pooled.unsupported}`);
      ctx.goals.push(goal("ephemeral_pool_p50_ratio", "ephemeral Run from a warm pool p50 / llm-sandbox open+run+close p50", "<=", 0.05, null));
    }

    // Cold ephemeral runs, for reference (what every run costs without a pool).
    const d = await startBenchDaemon();
    try {
      const s = await measureSandboxd(d, Math.max(4, Math.round(iterations / 2)), 1, 300);
      ctx.metrics["sandboxd_cold"] = { ...s, ratio_p50_vs_llm_sandbox: ratio(s.total_ms.p50, llmTotal.p50) };
    } finally {
      await d.stop();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
