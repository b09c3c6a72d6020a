/**
 * Benchmark 1: one trivial run in an existing sandbox through sandboxd vs one raw engine
 * exec of the same program on the same container (create exec + start + wait for exit).
 * `true` via Exec, `print(1)` via Run (python3 -c 'print(1)' for the engine), and
 * `import numpy, pandas; print(1)` via Run (the same with -c for the engine; the python image
 * ships python3-numpy and python3-pandas).
 * Goals (issue 17): Exec true <= 0.3; Run print(1) <= 0.15; Run numpy+pandas <= 0.1 (both
 * need the interpreter started before the run: see docs/architecture.md, "Python fork server").
 * The Run rows are measured on a daemon as it is by default (runs spawn a fresh python3), then
 * with the fork server on (`--python.fork-server true`, runs forked from a started
 * interpreter): print(1) with nothing heavy preloaded (`--python.preload json`, a marker), and
 * both rows with `--python.preload numpy,pandas`, each against the same raw engine exec on its
 * own sandbox.
 */
import { sandboxClient } from "./lib/client.js";
import { collect, envInt, expectOutput, readySandbox } from "./lib/common.js";
import { startBenchDaemon } from "./lib/daemon.js";
import { rawExec } from "./lib/engine.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { measurePair, type Pair } from "./lib/stats.js";

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
        sandboxd: async () => {
          const r = await collect(client.run({ sandboxId: sb.id, code: "print(1)" }));
          expectOutput("Run print(1)", r.stdout, "1\n");
        },
        raw: async () => {
          const r = await rawExec(sb.containerId, ["python3", "-u", "-c", "print(1)"], { keep: true });
          expectOutput("raw print(1)", Buffer.concat(r.stdout).toString(), "1\n");
        },
      };
      const heavyCode = "import numpy, pandas; print(1)";
      const runHeavy: Pair = {
        sandboxd: async () => {
          const r = await collect(client.run({ sandboxId: sb.id, code: heavyCode }));
          expectOutput("Run numpy+pandas", r.stdout, "1\n");
        },
        raw: async () => {
          const r = await rawExec(sb.containerId, ["python3", "-u", "-c", heavyCode], { keep: true });
          expectOutput("raw numpy+pandas", Buffer.concat(r.stdout).toString(), "1\n");
        },
      };
      const exec = await measurePair(execTrue, iterations, warmup, "engine_exec_ms");
      const runP = await measurePair(runPrint, Math.max(1, Math.round(iterations / 2.5)), warmup, "engine_exec_ms");
      // Each run imports numpy and pandas (hundreds of ms): fewer of them.
      const heavy = await measurePair(
        runHeavy,
        envInt("BENCH_HEAVY_ITERATIONS", Math.max(1, Math.round(iterations / 10))),
        Math.min(warmup, 2),
        "engine_exec_ms",
      );
      ctx.metrics["exec_true"] = exec;
      ctx.metrics["run_print"] = runP;
      ctx.metrics["run_numpy_pandas"] = heavy;
      ctx.goals.push(goal("exec_true_p50_ratio", "Exec `true`: sandboxd p50 / engine exec p50", "<=", 0.3, exec.ratio_p50));
      ctx.goals.push(goal("run_print_p50_ratio", "Run `print(1)`: sandboxd p50 / engine exec p50", "<=", 0.15, runP.ratio_p50));
      ctx.goals.push(goal("run_numpy_pandas_p50_ratio", "Run `import numpy, pandas; print(1)`: sandboxd p50 / engine exec p50", "<=", 0.1, heavy.ratio_p50));
      // print(1) with the fork server as it fits such a run (nothing heavy preloaded: forking a
      // small interpreter), and both rows with numpy and pandas preloaded.
      const bare = await measureForkServer(iterations, warmup, "json", false);
      const fork = await measureForkServer(iterations, warmup, "numpy,pandas", true);
      ctx.metrics["run_print_fork_server_bare"] = bare.print;
      ctx.metrics["run_print_fork_server"] = fork.print;
      ctx.metrics["run_numpy_pandas_fork_server"] = fork.heavy;
      ctx.goals.push(
        goal(
          "run_print_fork_server_p50_ratio",
          "Run `print(1)`, fork server on (nothing heavy preloaded): sandboxd p50 / engine exec p50",
          "<=",
          0.15,
          bare.print.ratio_p50,
        ),
        goal(
          "run_numpy_pandas_fork_server_p50_ratio",
          "Run `import numpy, pandas; print(1)`, fork server on (numpy, pandas preloaded): sandboxd p50 / engine exec p50",
          "<=",
          0.1,
          fork.heavy?.ratio_p50 ?? null,
        ),
      );
      ctx.reported.push(
        {
          metric: "run_print_fork_server_bare_p50",
          description: "Run `print(1)` with the fork server on (nothing heavy preloaded), sandboxd p50",
          value: bare.print.sandboxd_ms.p50,
          unit: "ms",
        },
        {
          metric: "run_print_fork_server_p50",
          description: "Run `print(1)` with the fork server on (numpy, pandas preloaded), sandboxd p50",
          value: fork.print.sandboxd_ms.p50,
          unit: "ms",
        },
        {
          metric: "run_numpy_pandas_fork_server_p50",
          description: "Run `import numpy, pandas; print(1)` with the fork server on (both preloaded), sandboxd p50",
          value: fork.heavy?.sandboxd_ms.p50 ?? null,
          unit: "ms",
        },
      );
      ctx.reported.push(
        { metric: "exec_true_p50", description: "Exec `true` in an existing sandbox, sandboxd p50", value: exec.sandboxd_ms.p50, unit: "ms" },
        { metric: "engine_exec_true_p50", description: "one raw engine exec of `true`, p50", value: exec.engine_exec_ms.p50, unit: "ms" },
        { metric: "run_print_p50", description: "Run `print(1)` in an existing sandbox, sandboxd p50", value: runP.sandboxd_ms.p50, unit: "ms" },
        { metric: "engine_run_print_p50", description: "one raw engine exec of `python3 -c 'print(1)'`, p50", value: runP.engine_exec_ms.p50, unit: "ms" },
        { metric: "run_numpy_pandas_p50", description: "Run `import numpy, pandas; print(1)`, sandboxd p50", value: heavy.sandboxd_ms.p50, unit: "ms" },
        {
          metric: "engine_run_numpy_pandas_p50",
          description: "one raw engine exec of `python3 -c 'import numpy, pandas; print(1)'`, p50",
          value: heavy.engine_exec_ms.p50,
          unit: "ms",
        },
      );
      if (/agent unavailable/.test(d.logs())) ctx.notes.push("the daemon fell back to one engine exec per run (agent unavailable)");
    } finally {
      client.close();
      await d.stop();
    }
  });
}

type Measured = Awaited<ReturnType<typeof measurePair<"engine_exec_ms">>>;

/**
 * Run rows on a daemon with the Python fork server on and `preload` imported by it (the last
 * of them also tells a forked run from a spawned one); the numpy+pandas row when `heavy`.
 */
async function measureForkServer(iterations: number, warmup: number, preload: string, heavy: boolean): Promise<{ print: Measured; heavy?: Measured }> {
  const d = await startBenchDaemon(["--python.fork-server", "true", "--python.preload", preload]);
  const marker = preload.split(",").at(-1) as string;
  const client = sandboxClient(d.address);
  try {
    const sb = await readySandbox(client);
    // The first Python run starts the server (that run, and those until it is ready, are
    // spawned): wait until a run finds the marker imported before it imported anything.
    let ready = false;
    for (let i = 0; i < 600 && !ready; i++) {
      const r = await collect(client.run({ sandboxId: sb.id, code: `import sys; print(${JSON.stringify(marker)} in sys.modules)` }));
      ready = r.stdout === "True\n";
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!ready) throw new Error("the fork server did not get ready");
    const pair = (code: string): Pair => ({
      sandboxd: async () => {
        const r = await collect(client.run({ sandboxId: sb.id, code }));
        expectOutput(`Run ${code} (fork server)`, r.stdout, "1\n");
      },
      raw: async () => {
        const r = await rawExec(sb.containerId, ["python3", "-u", "-c", code], { keep: true });
        expectOutput(`raw ${code}`, Buffer.concat(r.stdout).toString(), "1\n");
      },
    });
    const print = await measurePair(pair("print(1)"), Math.max(1, Math.round(iterations / 2.5)), warmup, "engine_exec_ms");
    if (!heavy) return { print };
    const heavyRow = await measurePair(
      pair("import numpy, pandas; print(1)"),
      envInt("BENCH_HEAVY_ITERATIONS", Math.max(1, Math.round(iterations / 10))),
      Math.min(warmup, 2),
      "engine_exec_ms",
    );
    return { print, heavy: heavyRow };
  } finally {
    client.close();
    await d.stop();
  }
}

if (isMain(import.meta.url)) void mainOf(run);
