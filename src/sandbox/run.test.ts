import { describe, expect, it } from "vitest";
import { Run, type RunEvent, type RunExit } from "./run.js";

const exit: RunExit = { status: "exited", exitCode: 0, signal: 0, durationMs: 1, stdoutBytes: 0, stderrBytes: 0, truncated: false, phase: "run", message: "", kernelRestarted: false };

function out(run: Run, stream: "stdout" | "stderr", text: string) {
  run.append({ type: "output", stream, data: Buffer.from(text), offset: 0, streamOffset: 0, phase: "run" });
}

async function drain(it: AsyncIterable<RunEvent>) {
  const evs: RunEvent[] = [];
  for await (const e of it) evs.push(e);
  return evs;
}

describe("Run event log", () => {
  it("numbers events and tracks global and per-stream offsets", async () => {
    const run = new Run("run_x", "sbx_x", "t", 1 << 20);
    run.append({ type: "started", runId: "run_x", pid: 1, phase: "run", sandboxId: "sbx_x" });
    out(run, "stdout", "abc");
    out(run, "stderr", "de");
    out(run, "stdout", "f");
    run.append({ type: "exited", exit });
    const evs = await drain(run.follow(0, new AbortController().signal));
    expect(evs.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const outputs = evs.flatMap((e) => (e.body.type === "output" ? [[e.body.stream, e.body.offset, e.body.streamOffset]] : []));
    expect(outputs).toEqual([["stdout", 0, 0], ["stderr", 3, 0], ["stdout", 5, 3]]);
  });

  it("resumes from a byte offset inside a chunk, exactly once", async () => {
    const run = new Run("run_x", "sbx_x", "t", 1 << 20);
    run.append({ type: "started", runId: "run_x", pid: 1, phase: "run", sandboxId: "sbx_x" });
    out(run, "stdout", "hello ");
    out(run, "stdout", "world");
    run.append({ type: "exited", exit });
    const evs = await drain(run.follow(8, new AbortController().signal));
    const text = evs.flatMap((e) => (e.body.type === "output" ? [Buffer.from(e.body.data).toString()] : [])).join("");
    expect(text).toBe("rld");
    expect(evs[0]?.body.type).toBe("started");
    expect(evs.at(-1)?.body.type).toBe("exited");
  });

  it("follows live output and reports dropped history as OUT_OF_RANGE", async () => {
    const run = new Run("run_x", "sbx_x", "t", 10);
    const got: string[] = [];
    const follower = (async () => {
      for await (const e of run.follow(0, new AbortController().signal)) {
        if (e.body.type === "output") got.push(Buffer.from(e.body.data).toString());
      }
    })();
    for (let i = 0; i < 5; i++) out(run, "stdout", `${i}xxxxx`);
    run.append({ type: "exited", exit });
    await follower;
    // The live follower saw everything, even beyond the 10-byte window.
    expect(got.join("")).toBe("0xxxxx1xxxxx2xxxxx3xxxxx4xxxxx");
    // A late attach from 0 is told what is gone.
    await expect(drain(run.follow(0, new AbortController().signal))).rejects.toMatchObject({ code: "OUT_OF_RANGE" });
    expect(run.firstAvailableOffset).toBeGreaterThan(0);
  });
});
