/**
 * Interactive sessions: round trip of a trivial cell through the daemon (gRPC Run on an
 * IPYTHON session: `1+1`; on a SHELL session: `true`), next to one raw engine exec doing the
 * same work in the same container (`python3 -c 1+1`, `true`) through dockerode's exec API,
 * measured in the same run and interleaved, so both see the same machine.
 * Goal: a cell at least 10x faster than the exec (ratio p50 cell / p50 exec <= 0.1).
 *
 *   node --import tsx bench/interactive.ts        (BENCH_ITERATIONS=200, BENCH_WARMUP=20)
 */
import { SessionKind } from "../src/gen/sandboxd/v1/interactive_service_pb.js";
import { collect, envInt, readySandbox } from "./lib/common.js";
import { startBenchDaemon } from "./lib/daemon.js";
import { rawExec } from "./lib/engine.js";
import { ratio, summarize, timed } from "./lib/stats.js";

const image = "sandboxd/python:latest";

interface Pair {
  cell: number[];
  exec: number[];
}

async function main(): Promise<void> {
  const iterations = envInt("BENCH_ITERATIONS", 200);
  const warmup = envInt("BENCH_WARMUP", 20);
  const d = await startBenchDaemon();
  try {
    const sb = await readySandbox(d.sandbox);
    const ipython = (await d.interactive.createSession({ target: { case: "sandboxId", value: sb.id }, kind: SessionKind.IPYTHON })).session?.id ?? "";
    const shell = (await d.interactive.createSession({ target: { case: "sandboxId", value: sb.id }, kind: SessionKind.SHELL })).session?.id ?? "";

    const ipythonCell = async () => {
      const r = await collect(d.interactive.run({ sessionId: ipython, code: "1+1" }));
      const result = r.events.find((e) => e.event.case === "result");
      const text = result?.event.case === "result" ? Buffer.from(result.event.value.data["text/plain"] ?? []).toString() : "";
      if (text !== "2" || r.exit.exitCode !== 0) throw new Error(`IPython cell 1+1 gave ${JSON.stringify(text)} (exit ${r.exit.exitCode})`);
    };
    const shellCell = async () => {
      const r = await collect(d.interactive.run({ sessionId: shell, code: "true" }));
      if (r.exit.exitCode !== 0) throw new Error(`shell command true exited ${r.exit.exitCode}`);
    };
    const execPython = async () => {
      const r = await rawExec(sb.containerId, ["python3", "-c", "1+1"]);
      if (r.exitCode !== 0) throw new Error(`raw exec python3 -c 1+1 exited ${r.exitCode}`);
    };
    const execTrue = async () => {
      const r = await rawExec(sb.containerId, ["true"]);
      if (r.exitCode !== 0) throw new Error(`raw exec true exited ${r.exitCode}`);
    };

    const measure = async (cell: () => Promise<void>, exec: () => Promise<void>): Promise<Pair> => {
      for (let i = 0; i < warmup; i++) {
        await cell();
        await exec();
      }
      const out: Pair = { cell: [], exec: [] };
      // Interleaved in blocks, so drift in machine load hits both sides alike.
      for (let done = 0; done < iterations; done += 10) {
        const n = Math.min(10, iterations - done);
        for (let i = 0; i < n; i++) out.cell.push((await timed(cell))[0]);
        for (let i = 0; i < n; i++) out.exec.push((await timed(exec))[0]);
      }
      return out;
    };

    const report = (p: Pair, cellWhat: string, execWhat: string) => {
      const cell = summarize(p.cell);
      const exec = summarize(p.exec);
      const r50 = ratio(cell.p50, exec.p50);
      return {
        cell: { what: cellWhat, ms: cell },
        raw_exec: { what: execWhat, ms: exec },
        ratio_p50: r50,
        ratio_p99: ratio(cell.p99, exec.p99),
        speedup_p50: ratio(exec.p50, cell.p50, 1),
        goal: "cell p50 <= 0.1 x raw exec p50",
        goal_met: r50 <= 0.1,
      };
    };

    const ip = await measure(ipythonCell, execPython);
    const sh = await measure(shellCell, execTrue);
    await d.interactive.closeSession({ sessionId: ipython });
    await d.interactive.closeSession({ sessionId: shell });
    await d.sandbox.destroySandbox({ sandboxId: sb.id });
    const out = {
      benchmark: "interactive",
      description: "Interactive cell round trip through the daemon vs one raw engine exec of the same work, same container, same run",
      config: { iterations, warmup, image, cpus: (await import("node:os")).cpus().length },
      ipython: report(
        ip,
        "InteractiveService.Run on an IPYTHON session: 1+1 (result event)",
        "docker exec python3 -c 1+1 (dockerode: create, start attached, read to end, inspect)",
      ),
      shell: report(
        sh,
        "InteractiveService.Run on a SHELL session (/bin/sh): true",
        "docker exec true (dockerode: create, start attached, read to end, inspect)",
      ),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await d.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/interactive: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
