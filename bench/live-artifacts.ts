/**
 * Live artifacts: a plot saved mid-run reaches the client as its `artifact` event while the
 * run goes on. The program records time.time_ns() right after savefig returns, prints it,
 * sleeps; the client measures the arrival of the artifact event and of the printed line
 * against that timestamp (same host clock inside and outside the container). The line's
 * delay is the baseline of the same run: the ratio shows what the plot adds over a line.
 */
import { sandboxClient } from "./lib/client.js";
import { envInt, readySandbox } from "./lib/common.js";
import { startBenchDaemon } from "./lib/daemon.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { ratio, summarize } from "./lib/stats.js";

/** Realtime clock in ns with sub-ms resolution (Date.now() only has ms). */
const realtimeNs = (): number => (performance.timeOrigin + performance.now()) * 1e6;

const code = `import time, sys
import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
plt.savefig("live.png")
t = time.time_ns()
sys.stdout.write("T%d\\n" % t)
sys.stdout.flush()
time.sleep(0.5)
`;

export function run(): Promise<BenchResult> {
  return runBenchmark("live-artifacts", "A plot saved mid-run -> its artifact event at the client, vs a line printed right after it", async (ctx) => {
    const runs = envInt("BENCH_LIVE_ARTIFACT_RUNS", 20);
    ctx.config = { runs, sleepAfterSaveMs: 500 };
    const d = await startBenchDaemon([]);
    const client = sandboxClient(d.address);
    try {
      const sb = await readySandbox(client);
      const art: number[] = [];
      const line: number[] = [];
      let beforeExit = 0;
      for (let i = 0; i < runs; i++) {
        let artAt = 0;
        let lineAt = 0;
        let saved = 0;
        let text = "";
        for await (const { event } of client.run({ sandboxId: sb.id, code, clearArtifacts: true })) {
          const e = event?.event;
          const at = realtimeNs();
          if (e?.case === "artifact" && artAt === 0) artAt = at;
          else if (e?.case === "output") {
            text += Buffer.from(e.value.data).toString("utf8");
            const m = /T(\d+)\n/.exec(text);
            if (m && lineAt === 0) {
              lineAt = at;
              saved = Number(m[1]);
            }
          } else if (e?.case === "exited" && artAt > 0) beforeExit++;
        }
        if (!saved || !artAt) throw new Error(`run ${i}: no timestamp line or no artifact event`);
        // Negative: the event arrived before savefig returned (plt.savefig redraws after the hook wrote the plot).
        art.push((artAt - saved) / 1e6);
        line.push((lineAt - saved) / 1e6);
      }
      // The first run imports matplotlib cold; all runs count (each one's own timestamp).
      const a = summarize(art);
      const l = summarize(line);
      ctx.metrics["live_artifact"] = { artifact_ms: a, line_ms: l, ratio_p50: ratio(a.p50, l.p50), announced_before_exit: beforeExit, runs };
      ctx.goals.push(goal("live_artifact_p50_ms", "savefig returned -> artifact event at the client, p50", "<=", 100, a.p50));
      ctx.reported.push(
        { metric: "live_artifact_p99_ms", description: "savefig returned -> artifact event at the client, p99", value: a.p99, unit: "ms" },
        { metric: "live_line_p50_ms", description: "line printed after the save -> received, p50 (baseline)", value: l.p50, unit: "ms" },
      );
    } finally {
      client.close();
      await d.stop();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
