/**
 * Benchmark 4: one interactive cell round trip (InteractiveService.Run on an IPYTHON
 * session) vs llm-sandbox's InteractiveSandboxSession.run on the same image.
 * Goal: sandboxd p50 / llm-sandbox p50 <= 0.05. The cell is `counter += 1; print(counter)`,
 * so both sides prove that state persists between cells.
 * Reported as pending when the daemon does not implement InteractiveService yet.
 */
import { SessionKind } from "../src/gen/sandboxd/v1/interactive_service_pb.js";
import { interactiveClient, sandboxClient } from "./lib/client.js";
import { collect, envInt, expectOutput, readySandbox } from "./lib/common.js";
import { startBenchDaemon } from "./lib/daemon.js";
import { describe, isUnimplemented } from "./lib/grpc-errors.js";
import { ensureLlmSandbox, runLlmSandbox } from "./lib/llm-sandbox.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { ratio, summarize, timed } from "./lib/stats.js";

const image = "sandboxd/python:latest";

interface LlmInteractive {
  setup_ms: number;
  cell_ms: number[];
  failures: unknown[];
}

export function run(): Promise<BenchResult> {
  return runBenchmark("interactive-cell", "Interactive cell round trip vs llm-sandbox InteractiveSandboxSession.run", async (ctx) => {
    const iterations = envInt("BENCH_CELL_ITERATIONS", 100);
    const llmIterations = envInt("BENCH_LLM_CELL_ITERATIONS", 20);
    const warmup = envInt("BENCH_WARMUP", 10);
    const baselineWhenPending = envInt("BENCH_BASELINE_WHEN_PENDING", 1) === 1;
    ctx.config = { iterations, llmIterations, warmup, image, cell: "counter += 1\\nprint(counter)" };

    let sandboxdCells: number[] | undefined;
    const d = await startBenchDaemon();
    const client = sandboxClient(d.address);
    const interactive = interactiveClient(d.address);
    try {
      const sb = await readySandbox(client);
      let sessionId = "";
      try {
        const [setupMs, res] = await timed(() => interactive.createSession({ target: { case: "sandboxId", value: sb.id }, kind: SessionKind.IPYTHON }));
        sessionId = res.session?.id ?? "";
        ctx.metrics["sandboxd_session_setup_ms"] = Number(setupMs.toFixed(1));
      } catch (err) {
        if (!isUnimplemented(err)) throw err;
        ctx.pending.push(`InteractiveService is not implemented by this daemon build (${describe(err)})`);
      }
      if (sessionId) {
        await collect(interactive.run({ sessionId, code: "counter = 0" }));
        const cells: number[] = [];
        for (let i = 0; i < warmup + iterations; i++) {
          const [ms, r] = await timed(() => collect(interactive.run({ sessionId, code: "counter += 1\nprint(counter)" })));
          expectOutput(`cell ${i + 1}`, r.stdout, `${i + 1}\n`);
          if (i >= warmup) cells.push(ms);
        }
        sandboxdCells = cells;
        ctx.metrics["sandboxd_cell_ms"] = summarize(cells);
        await interactive.closeSession({ sessionId });
      }
    } finally {
      interactive.close();
      client.close();
      await d.stop();
    }

    if (!sandboxdCells && !baselineWhenPending) {
      ctx.goals.push(goal("interactive_cell_p50_ratio", "interactive cell p50 / llm-sandbox InteractiveSandboxSession.run p50", "<=", 0.05, null));
      return;
    }
    ctx.config["llm_sandbox"] = ensureLlmSandbox();
    ctx.notes.push(
      "llm-sandbox: network_mode none, an init process, PIP_NO_INDEX=1; its session setup (venv, ipython check, runner start) is not timed, only run()",
    );
    const llm = await runLlmSandbox<LlmInteractive>("interactive", { image, iterations: llmIterations, warmup: 2 }, 600_000);
    if (llm.failures.length) throw new Error(`llm-sandbox produced wrong output: ${JSON.stringify(llm.failures[0])}`);
    const llmCells = summarize(llm.cell_ms);
    ctx.metrics["llm_sandbox_cell_ms"] = llmCells;
    ctx.metrics["llm_sandbox_session_setup_ms"] = Number(llm.setup_ms.toFixed(1));
    const value = sandboxdCells ? ratio(summarize(sandboxdCells).p50, llmCells.p50) : null;
    ctx.goals.push(goal("interactive_cell_p50_ratio", "interactive cell p50 / llm-sandbox InteractiveSandboxSession.run p50", "<=", 0.05, value));
    if (sandboxdCells)
      ctx.reported.push({
        metric: "interactive_cell_p50",
        description: "interactive cell round trip, sandboxd p50",
        value: summarize(sandboxdCells).p50,
        unit: "ms",
      });
    ctx.reported.push({ metric: "llm_sandbox_cell_p50", description: "llm-sandbox InteractiveSandboxSession.run, p50", value: llmCells.p50, unit: "ms" });
  });
}

if (isMain(import.meta.url)) void mainOf(run);
