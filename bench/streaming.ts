/**
 * Benchmark 6: streaming.
 * - Line latency: a program prints time.time_ns() every 10 ms; the client compares each
 *   line's timestamp with its own clock on arrival (same host clock inside and outside the
 *   container). sandboxd Run vs the same program under a raw engine exec (python3 -c).
 * - Bulk: 100 MiB of stdout (`head -c 104857600 /dev/zero`) through sandboxd Exec vs through
 *   one raw engine exec of the same command (dockerode, demultiplexed), in MiB/s.
 * The daemon runs with --max-output-bytes 200m so nothing is truncated.
 */
import { Stream } from "../src/gen/sandboxd/v1/common_pb.js";
import { sandboxClient } from "./lib/client.js";
import { envInt, readySandbox } from "./lib/common.js";
import { carriers, withCpu } from "./lib/cpu.js";
import { startBenchDaemon } from "./lib/daemon.js";
import { rawExec } from "./lib/engine.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { now, ratio, round, summarize } from "./lib/stats.js";

const MiB = 1024 * 1024;

/** Realtime clock in ns with sub-ms resolution (Date.now() only has ms). */
const realtimeNs = (): number => (performance.timeOrigin + performance.now()) * 1e6;

function tickerCode(lines: number, intervalMs: number): string {
  return `import time, sys\nfor i in range(${lines}):\n    sys.stdout.write(str(time.time_ns()) + "\\n")\n    sys.stdout.flush()\n    time.sleep(${intervalMs / 1000})\n`;
}

/** Feeds chunks, calls onLine(lineText, arrivalNs) for each complete line. */
function lineSplitter(onLine: (line: string, atNs: number) => void) {
  let rest = "";
  return (chunk: Uint8Array) => {
    const at = realtimeNs();
    rest += Buffer.from(chunk).toString("utf8");
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, nl), at);
      rest = rest.slice(nl + 1);
    }
  };
}

export function run(): Promise<BenchResult> {
  return runBenchmark("streaming", "Line latency and 100 MiB bulk stdout: sandboxd vs raw engine exec", async (ctx) => {
    const lines = envInt("BENCH_STREAM_LINES", 300);
    const bulkBytes = envInt("BENCH_STREAM_BULK_MIB", 100) * MiB;
    const bulkRepeats = envInt("BENCH_STREAM_BULK_REPEATS", 3);
    ctx.config = { lines, intervalMs: 10, bulkBytes, bulkRepeats, daemonArgs: ["--max-output-bytes", "200m"] };
    const d = await startBenchDaemon(["--max-output-bytes", "200m"]);
    const client = sandboxClient(d.address);
    try {
      const sb = await readySandbox(client);
      const code = tickerCode(lines, 10);

      // Line latency through sandboxd.
      const sdLat: number[] = [];
      const feedSd = lineSplitter((line, at) => sdLat.push((at - Number(line)) / 1e6));
      for await (const { event } of client.run({ sandboxId: sb.id, code })) {
        const e = event?.event;
        if (e?.case === "output" && e.value.stream === Stream.STDOUT) feedSd(e.value.data);
      }
      // Line latency through a raw engine exec.
      const rawLat: number[] = [];
      const feedRaw = lineSplitter((line, at) => rawLat.push((at - Number(line)) / 1e6));
      await rawExec(sb.containerId, ["python3", "-u", "-c", code], { onStdout: feedRaw });
      if (sdLat.length !== lines || rawLat.length !== lines)
        throw new Error(`expected ${lines} lines, got ${sdLat.length} (sandboxd) and ${rawLat.length} (engine)`);
      // The first lines include the program's start; keep the steady state.
      const s = summarize(sdLat.slice(5));
      const r = summarize(rawLat.slice(5));
      ctx.metrics["line_latency"] = { sandboxd_ms: s, engine_exec_ms: r, ratio_p50: ratio(s.p50, r.p50), ratio_p99: ratio(s.p99, r.p99) };

      // Bulk stdout.
      const argv = ["head", "-c", String(bulkBytes), "/dev/zero"];
      const sdRates: number[] = [];
      const rawRates: number[] = [];
      // CPU ms per MiB of each process group that carries the bytes: where the time goes.
      const cpuRows: Record<string, Record<string, number>>[] = [];
      const pid = d.process.pid as number;
      const ours = () => ({ daemon: [pid], bench: [process.pid], ...carriers(sb.containerId) });
      const engine = () => ({ bench: [process.pid], ...carriers(sb.containerId) });
      const perMiB = (cpu: Record<string, number>) => Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(v / (bulkBytes / MiB), 2)]));
      for (let i = 0; i < bulkRepeats; i++) {
        let got = 0;
        let truncated = false;
        const t0 = now();
        const sdCpu = await withCpu(ours, async () => {
          for await (const { event } of client.exec({ sandboxId: sb.id, argv })) {
            const e = event?.event;
            if (e?.case === "output") got += e.value.data.byteLength;
            if (e?.case === "exited") truncated = e.value.truncated;
          }
        });
        const sdMs = now() - t0;
        if (got !== bulkBytes || truncated) throw new Error(`sandboxd delivered ${got} of ${bulkBytes} bytes (truncated=${truncated})`);
        sdRates.push(bulkBytes / MiB / (sdMs / 1000));
        const t1 = now();
        const rawCpu = await withCpu(engine, () => rawExec(sb.containerId, argv));
        const raw = rawCpu.result;
        const rawMs = now() - t1;
        if (raw.stdoutBytes !== bulkBytes) throw new Error(`engine exec delivered ${raw.stdoutBytes} of ${bulkBytes} bytes`);
        rawRates.push(bulkBytes / MiB / (rawMs / 1000));
        cpuRows.push({ sandboxd: perMiB(sdCpu.cpuMs), engine_exec: perMiB(rawCpu.cpuMs) });
      }
      ctx.metrics["bulk_cpu_ms_per_mib"] = cpuRows;
      const sdBulk = summarize(sdRates);
      const rawBulk = summarize(rawRates);
      ctx.metrics["bulk_stdout"] = {
        bytes: bulkBytes,
        sandboxd_mib_per_s: sdBulk,
        engine_exec_mib_per_s: rawBulk,
        ratio_p50: ratio(sdBulk.p50, rawBulk.p50),
      };
      // Issue 17's goals: output at engine speed, lines within a millisecond at the median.
      ctx.goals.push(
        goal("bulk_stdout_ratio", "100 MiB of stdout through Exec ÷ through one raw engine exec (MiB/s, median)", ">=", 0.8, ratio(sdBulk.p50, rawBulk.p50)),
        goal("line_latency_p50_ms", "line written → line received, sandboxd p50 (ms)", "<=", 1, s.p50),
        goal("line_latency_p99_ms", "line written → line received, sandboxd p99 (ms)", "<=", 5, s.p99),
      );
      ctx.reported.push(
        { metric: "engine_line_latency_p50", description: "line written -> line received, raw engine exec p50", value: r.p50, unit: "ms" },
        { metric: "bulk_stdout", description: "100 MiB stdout through sandboxd (median)", value: sdBulk.p50, unit: "MiB/s" },
        { metric: "engine_bulk_stdout", description: "100 MiB stdout through a raw engine exec (median)", value: rawBulk.p50, unit: "MiB/s" },
      );
      ctx.metrics["daemon_rss_after_mib"] = round(d.rssBytes() / MiB, 1);
      const warnings = (d.logs().match(/MaxListenersExceededWarning[^\n]*/g) ?? []).slice(0, 2);
      if (warnings.length) ctx.notes.push(`daemon printed: ${warnings.join(" | ")}`);
    } finally {
      client.close();
      await d.stop();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
