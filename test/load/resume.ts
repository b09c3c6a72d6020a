/**
 * Issue 8, resumable streams.
 * 1. A client cut off mid-stream at random points re-attaches with Attach(run_id, offset)
 *    and gets every byte of a 50 MiB stream exactly once, in order: the Run asked for
 *    detach_on_cancel, each cut cancels the call, and the client resumes from the last byte
 *    it processed. Checked: offsets contiguous, seq strictly increasing by 1 across
 *    reconnects (the replayed `started` aside), every chunk equal to the expected bytes at
 *    its offset, SHA-256 of the whole, and the exit.
 * 2. With a small --replay-bytes (64 KiB), a client that comes back too late gets
 *    OUT_OF_RANGE carrying the first available offset in the error details; attaching there
 *    replays exactly the retained tail; one byte before it and one past the end are refused.
 * Prints one JSON report; exits 1 on any failure.
 *
 *   node --import tsx test/load/resume.ts [--mib 50] [--min-cuts 10] [--pause-ms 20] [--seed N]
 */
import { createHash } from "node:crypto";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { sandboxClient, type SandboxClient } from "../../bench/lib/client.js";
import { describe, errorDetail, grpcCode, GrpcCode } from "../../bench/lib/grpc-errors.js";
import { isMain } from "../../bench/lib/result.js";
import { startLoadDaemon, waitForContainers } from "./lib/daemon.js";
import { Options } from "./lib/options.js";
import { blockBytes, blockStreamProgram } from "./lib/programs.js";
import { Random } from "./lib/random.js";
import { drain, firstDifference, sha256 } from "./lib/verify.js";

const MiB = 1024 * 1024;

export interface ResumeReport {
  test: "resume";
  ok: boolean;
  problems: string[];
  config: Record<string, unknown>;
  resumable: Record<string, unknown>;
  outOfRange: Record<string, unknown>;
}

async function readySandbox(client: SandboxClient): Promise<string> {
  const { sandbox } = await client.createSandbox({ spec: { language: "python" } });
  if (!sandbox) throw new Error("CreateSandbox returned no sandbox");
  await drain(client.exec({ sandboxId: sandbox.id, argv: ["true"] }));
  return sandbox.id;
}

/** Part 1: random cuts and re-attaches over one long stream. */
async function resumable(o: Options, problems: string[]): Promise<Record<string, unknown>> {
  const mib = o.int("mib", 50);
  const minCuts = o.int("min-cuts", 10);
  const pauseMs = o.int("pause-ms", 20);
  const seed = o.int("seed", Math.floor(Math.random() * 1e6));
  const rnd = new Random(seed);
  const blocks = Math.ceil((mib * MiB) / blockBytes);
  const program = blockStreamProgram(blocks, pauseMs);
  const expected = program.expected;
  // Room for the whole stream in the run's output cap; the replay window stays the default.
  const d = await startLoadDaemon(["--max-output-bytes", `${mib + 16}m`]);
  const client = sandboxClient(d.address);
  const out: Record<string, unknown> = { bytes: expected.length, seed, pauseMs, logFile: d.logFile };
  try {
    const sandboxId = await readySandbox(client);
    const hash = createHash("sha256");
    let received = 0;
    let lastSeq = 0;
    let runId = "";
    let cuts = 0;
    let exit: { status: ExitStatus; stdoutBytes: bigint; truncated: boolean } | undefined;
    const gaps: number[] = [];
    const t0 = Date.now();
    let stream: AsyncIterable<{ event?: import("../../src/gen/sandboxd/v1/common_pb.js").RunEvent | undefined }> & { cancel(): void } = client.run({
      sandboxId,
      code: program.code,
      detachOnCancel: true,
      timeoutMs: 600_000,
    });
    // Cut points: random, but never further apart than `maxGap`, so that every seed gives
    // at least `minCuts` of them (a wider spread made ~10% of seeds fall short).
    const maxGap = Math.max(64 * 1024, Math.floor(expected.length / (minCuts + 2)));
    while (!exit && problems.length < 20) {
      const cutAt = received + rnd.int(Math.floor(maxGap / 4), maxGap);
      let cancelled = false;
      try {
        for await (const { event } of stream) {
          if (!event || event.event.case === "keepalive") continue;
          const seq = Number(event.seq);
          const e = event.event;
          if (e.case === "started") {
            runId ||= e.value.runId;
            // Every Attach replays the run's `started` first.
            if (seq === 1 && lastSeq >= 1) continue;
          }
          if (seq !== lastSeq + 1) problems.push(`seq ${seq} after ${lastSeq} (received ${received} bytes)`);
          lastSeq = seq;
          if (e.case === "output") {
            const data = Buffer.from(e.value.data);
            if (Number(e.value.offset) !== received) problems.push(`output at offset ${e.value.offset}, expected ${received}`);
            const want = expected.subarray(received, received + data.length);
            if (!data.equals(want))
              problems.push(`bytes at offset ${received} differ from the expected ones (first difference +${firstDifference(data, want)})`);
            hash.update(data);
            received += data.length;
          } else if (e.case === "exited") {
            exit = e.value;
          }
          if (!exit && received >= cutAt) {
            cancelled = true;
            stream.cancel();
            break;
          }
        }
      } catch (err) {
        if (!(cancelled && grpcCode(err) === GrpcCode.CANCELLED)) {
          problems.push(`stream failed after ${received} bytes: ${describe(err)}`);
          break;
        }
      }
      if (exit) break;
      if (!cancelled) {
        problems.push(`stream ended after ${received} bytes without an exit event`);
        break;
      }
      cuts++;
      const gap = rnd.int(0, 150);
      gaps.push(gap);
      await new Promise((r) => setTimeout(r, gap));
      stream = client.attach({ runId, offset: BigInt(received) });
    }
    out["durationMs"] = Date.now() - t0;
    out["received"] = received;
    out["cuts"] = cuts;
    out["maxGapMs"] = Math.max(0, ...gaps);
    out["sha256"] = hash.digest("hex");
    out["expectedSha256"] = sha256(expected);
    out["exit"] = exit ? { status: ExitStatus[exit.status], stdoutBytes: Number(exit.stdoutBytes), truncated: exit.truncated } : null;
    if (received !== expected.length) problems.push(`received ${received} bytes, expected ${expected.length}`);
    if (out["sha256"] !== out["expectedSha256"]) problems.push("SHA-256 of the received stream differs from the expected one");
    if (!exit || exit.status !== ExitStatus.EXITED || Number(exit.stdoutBytes) !== expected.length || exit.truncated)
      problems.push(`exit ${JSON.stringify(out["exit"])} is not a clean exit of ${expected.length} bytes`);
    if (cuts < minCuts) problems.push(`only ${cuts} cuts (wanted at least ${minCuts})`);
    // After the end, attaching at the end offset gives the run's start and exit, no output.
    if (exit) {
      const tail = await drain(client.attach({ runId, offset: BigInt(received) }));
      const kinds = tail.filter((e) => e.event.case !== "keepalive").map((e) => e.event.case);
      out["attachAtEnd"] = kinds;
      if (kinds.join(",") !== "started,exited") problems.push(`Attach at the end offset gave ${kinds.join(",")}, expected started,exited`);
    }
    await client.destroySandbox({ sandboxId });
  } finally {
    client.close();
    out["daemonExitCode"] = await d.stop();
    out["containersLeft"] = await waitForContainers(d.daemonId, 0, 15_000);
    if (out["containersLeft"] !== 0) problems.push(`${out["containersLeft"]} containers left`);
  }
  return out;
}

/** Part 2: a small replay window; late clients get OUT_OF_RANGE with the first available offset. */
async function outOfRange(o: Options, problems: string[]): Promise<Record<string, unknown>> {
  const replay = 64 * 1024;
  const program = blockStreamProgram(16, 0); // 1 MiB
  const total = program.expected.length;
  const d = await startLoadDaemon(["--replay-bytes", "64k"]);
  const client = sandboxClient(d.address);
  const out: Record<string, unknown> = { replayBytes: replay, bytes: total, logFile: d.logFile };
  const expectOutOfRange = async (what: string, offset: number, runId: string) => {
    try {
      await drain(client.attach({ runId, offset: BigInt(offset) }));
      problems.push(`${what}: Attach(${offset}) succeeded, expected OUT_OF_RANGE`);
      return undefined;
    } catch (err) {
      if (grpcCode(err) !== GrpcCode.OUT_OF_RANGE) {
        problems.push(`${what}: Attach(${offset}) failed with ${describe(err)}, expected OUT_OF_RANGE`);
        return undefined;
      }
      return errorDetail(err);
    }
  };
  try {
    const sandboxId = await readySandbox(client);
    // Start detached, go away right after the start, come back when the run is over.
    const stream = client.run({ sandboxId, code: program.code, detachOnCancel: true });
    let runId = "";
    try {
      for await (const { event } of stream) {
        if (event?.event.case === "started") {
          runId = event.event.value.runId;
          stream.cancel();
          break;
        }
      }
    } catch (err) {
      if (grpcCode(err) !== GrpcCode.CANCELLED) throw err;
    }
    await new Promise((r) => setTimeout(r, 3000));
    const detail = await expectOutOfRange("late client", 0, runId);
    const first = Number(detail?.metadata["first_available_offset"] ?? NaN);
    out["reason"] = detail?.reason;
    out["metadata"] = detail?.metadata;
    if (!Number.isFinite(first)) problems.push(`OUT_OF_RANGE carried no first_available_offset (details: ${JSON.stringify(detail?.metadata)})`);
    else {
      if (first < total - replay || first >= total)
        problems.push(`first_available_offset ${first} is outside [${total - replay}, ${total}) for a ${replay}-byte window`);
      const events = await drain(client.attach({ runId, offset: BigInt(first) }));
      const real = events.filter((e) => e.event.case !== "keepalive");
      const kinds = real.map((e) => e.event.case);
      if (kinds[0] !== "started" || kinds[kinds.length - 1] !== "exited")
        problems.push(`Attach(${first}) events ${kinds.slice(0, 3).join(",")}…${kinds.slice(-2).join(",")}: expected started first and exited last`);
      let offset = first;
      const tail: Buffer[] = [];
      for (const e of real) {
        if (e.event.case !== "output") continue;
        if (Number(e.event.value.offset) !== offset) problems.push(`replayed output at ${e.event.value.offset}, expected ${offset}`);
        offset += e.event.value.data.byteLength;
        tail.push(Buffer.from(e.event.value.data));
      }
      const got = Buffer.concat(tail);
      out["replayedBytes"] = got.length;
      if (!got.equals(program.expected.subarray(first))) problems.push(`replayed tail (${got.length} bytes from ${first}) differs from the expected bytes`);
      const exit = real[real.length - 1];
      if (exit?.event.case === "exited" && exit.event.value.status !== ExitStatus.EXITED) problems.push(`run ended ${ExitStatus[exit.event.value.status]}`);
      await expectOutOfRange("one byte before the window", first - 1, runId);
      const beyond = await expectOutOfRange("one byte past the end", total + 1, runId);
      out["beyondEndMetadata"] = beyond?.metadata;
    }
    await client.destroySandbox({ sandboxId });
  } finally {
    client.close();
    out["daemonExitCode"] = await d.stop();
    out["containersLeft"] = await waitForContainers(d.daemonId, 0, 15_000);
    if (out["containersLeft"] !== 0) problems.push(`${out["containersLeft"]} containers left`);
  }
  return out;
}

export async function runResume(o: Options): Promise<ResumeReport> {
  const problems: string[] = [];
  const report: ResumeReport = { test: "resume", ok: false, problems, config: {}, resumable: {}, outOfRange: {} };
  report.resumable = await resumable(o, problems);
  report.outOfRange = await outOfRange(o, problems);
  report.ok = problems.length === 0;
  return report;
}

if (isMain(import.meta.url)) {
  const r = await runResume(new Options());
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  const res = r.resumable;
  process.stdout.write(
    `resume: ${r.ok ? "ok" : "FAILED"}: ${((Number(res["received"]) || 0) / MiB).toFixed(1)} MiB over ${res["cuts"]} cuts, sha256 ${res["sha256"] === res["expectedSha256"] ? "equal" : "DIFFERENT"}; OUT_OF_RANGE first_available_offset ${JSON.stringify(r.outOfRange["metadata"] ?? null)}${r.problems.length ? ` — ${r.problems.slice(0, 5).join("; ")}` : ""}\n`,
  );
  process.exit(r.ok ? 0 : 1);
}
