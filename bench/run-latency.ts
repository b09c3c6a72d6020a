/**
 * Benchmark 1: one trivial run in an existing sandbox through sandboxd vs one raw engine
 * exec of the same program on the same container (create exec + start + wait for exit).
 * `true` via Exec, and `print(1)` via Run (python3 -c 'print(1)' for the engine).
 * Goal: sandboxd p50 / engine p50 <= 0.3 (the resident agent forks instead of an engine exec).
 */
import { sandboxClient } from "./lib/client.js";
import { collect, envInt, expectOutput, readySandbox } from "./lib/common.js";
import { startBenchDaemon } from "./lib/daemon.js";
import { rawExec } from "./lib/engine.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { ratio, summarize, timed } from "./lib/stats.js";

interface Pair {
  name: string;
  sandboxd: () => Promise<void>;
  raw: () => Promise<void>;
}

async function measurePair(pair: Pair, iterations: number, warmup: number) {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    // Alternate the order so neither side always runs right after the other.
    const first = i % 2 === 0;
    const [t1] = await timed(first ? pair.sandboxd : pair.raw);
    const [t2] = await timed(first ? pair.raw : pair.sandboxd);
    if (i < warmup) continue;
    a.push(first ? t1 : t2);
    b.push(first ? t2 : t1);
  }
  const sd = summarize(a);
  const raw = summarize(b);
  return { sandboxd_ms: sd, engine_exec_ms: raw, ratio_p50: ratio(sd.p50, raw.p50), ratio_p99: ratio(sd.p99, raw.p99) };
}

export function run(): Promise<BenchResult> {
  return runBenchmark("run-latency", "Trivial run in an existing sandbox vs one raw engine exec", async (ctx) => {
    const iterations = envInt("BENCH_RUN_ITERATIONS", 150);
    const warmup = envInt("BENCH_WARMUP", 10);
    ctx.config = { iterations, warmup, image: "sandboxd/python:latest", measured: "call start to end of stream (sandboxd); exec create to exit code (engine)" };
    const d = await startBenchDaemon();
    const client = sandboxClient(d.address);
    try {
      const sb = await readySandbox(client);
      const execTrue: Pair = {
        name: "exec_true",
        sandboxd: async () => {
          const r = await collect(client.exec({ sandboxId: sb.id, argv: ["true"] }));
          if (r.exit.exitCode !== 0) throw new Error("exec true failed");
        },
        raw: async () => {
          const r = await rawExec(sb.containerId, ["true"]);
          if (r.exitCode !== 0) throw new Error("raw exec true failed");
        },
      };
      const runPrint: Pair = {
        name: "run_print",
        sandboxd: async () => {
          const r = await collect(client.run({ sandboxId: sb.id, code: "print(1)" }));
          expectOutput("Run print(1)", r.stdout, "1\n");
        },
        raw: async () => {
          const r = await rawExec(sb.containerId, ["python3", "-u", "-c", "print(1)"], { keep: true });
          expectOutput("raw print(1)", Buffer.concat(r.stdout).toString(), "1\n");
        },
      };
      const exec = await measurePair(execTrue, iterations, warmup);
      const runP = await measurePair(runPrint, Math.max(1, Math.round(iterations / 2.5)), warmup);
      ctx.metrics["exec_true"] = exec;
      ctx.metrics["run_print"] = runP;
      ctx.goals.push(goal("exec_true_p50_ratio", "Exec `true`: sandboxd p50 / engine exec p50", "<=", 0.3, exec.ratio_p50));
      ctx.goals.push(goal("run_print_p50_ratio", "Run `print(1)`: sandboxd p50 / engine exec p50", "<=", 0.3, runP.ratio_p50));
      ctx.reported.push(
        { metric: "exec_true_p50", description: "Exec `true` in an existing sandbox, sandboxd p50", value: exec.sandboxd_ms.p50, unit: "ms" },
        { metric: "engine_exec_true_p50", description: "one raw engine exec of `true`, p50", value: exec.engine_exec_ms.p50, unit: "ms" },
        { metric: "run_print_p50", description: "Run `print(1)` in an existing sandbox, sandboxd p50", value: runP.sandboxd_ms.p50, unit: "ms" },
        { metric: "engine_run_print_p50", description: "one raw engine exec of `python3 -c 'print(1)'`, p50", value: runP.engine_exec_ms.p50, unit: "ms" },
      );
      if (/agent unavailable/.test(d.logs())) ctx.notes.push("the daemon fell back to one engine exec per run (agent unavailable)");
    } finally {
      client.close();
      await d.stop();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
