import { describe, expect, it } from "vitest";
import { Run, type RunEvent, type RunExit } from "./run.js";

const exit: RunExit = {
  status: "exited",
  exitCode: 0,
  signal: 0,
  durationMs: 1,
  stdoutBytes: 0,
  stderrBytes: 0,
  truncated: false,
  phase: "run",
  message: "",
  kernelRestarted: false,
};

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
    expect(outputs).toEqual([
      ["stdout", 0, 0],
      ["stderr", 3, 0],
      ["stdout", 5, 3],
    ]);
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

describe("Run replay window", () => {
  it("keeps exactly the last window attachable, whatever the chunks' sizes", async () => {
    const run = new Run("run_w", "s", "t", 10);
    for (const chunk of ["aaaa", "bbbb", "cccc", "dddd", "eeee"]) out(run, "stdout", chunk);
    run.append({ type: "exited", exit });
    // 20 bytes in chunks of 4, a window of 10: the chunk at 8..12 straddles its start and keeps its last 2 bytes.
    expect(run.firstAvailableOffset).toBe(10);
    expect(run.retainedBytes).toBe(10);
    const tail = (await drain(run.follow(10, new AbortController().signal))).flatMap((e) =>
      e.body.type === "output" ? [Buffer.from(e.body.data).toString()] : [],
    );
    expect(tail.join("")).toBe("ccddddeeee");
    await expect(drain(run.follow(7, new AbortController().signal))).rejects.toMatchObject({ reason: "OFFSET_UNAVAILABLE" });
  });
});

describe("Run flow control and the output budget", () => {
  it("counts output as consumed once every follower took it, and at once when nobody follows", async () => {
    const run = new Run("run_x", "sbx_x", "t", 1 << 20);
    const seen: number[] = [];
    run.onConsumed = (c) => seen.push(c);
    out(run, "stdout", "abc");
    expect(run.consumedOffset).toBe(3);
    const ac = new AbortController();
    const it = run.follow(3, ac.signal)[Symbol.asyncIterator]();
    const first = it.next(); // the follower is registered and waits
    out(run, "stdout", "defg");
    expect(run.consumedOffset).toBe(3);
    expect((await first).value?.body.type).toBe("output"); // taken, not yet written
    expect(run.consumedOffset).toBe(3);
    const pending = it.next(); // the consumer asks for more: the write of "defg" completed
    expect(run.consumedOffset).toBe(7);
    out(run, "stdout", "h");
    await pending;
    ac.abort();
    await it.return?.(undefined);
    // The follower left: nobody holds output back any more.
    expect(run.consumedOffset).toBe(8);
    expect(seen).toEqual([3, 7, 8]);
  });

  it("evicts finished runs' replay first, oldest first, then live replay no follower needs", async () => {
    const { OutputBudget } = await import("./output-budget.js");
    const budget = new OutputBudget(25);
    const a = new Run("run_a", "s", "t", 100, budget);
    const b = new Run("run_b", "s", "t", 100, budget);
    const live = new Run("run_c", "s", "t", 100, budget);
    out(a, "stdout", "a".repeat(10));
    a.append({ type: "exited", exit });
    out(b, "stdout", "b".repeat(10));
    b.append({ type: "exited", exit });
    expect(budget.total).toBe(20);
    out(live, "stdout", "c".repeat(10)); // 30 > 25: the oldest finished run goes
    expect(budget.total).toBe(20);
    expect(a.retainedBytes).toBe(0);
    expect(b.retainedBytes).toBe(10);
    await expect(drain(a.follow(0, new AbortController().signal))).rejects.toMatchObject({ code: "OUT_OF_RANGE" });
    // A live follower's unread output is never dropped; the rest of the live replay is.
    const ac = new AbortController();
    const it = live.follow(10, ac.signal)[Symbol.asyncIterator]();
    const next = it.next(); // registered, waiting for output
    out(live, "stdout", "d".repeat(20)); // 40: b goes, then live's replay before the follower
    expect(b.retainedBytes).toBe(0);
    expect(live.retainedBytes).toBe(20);
    expect(budget.evictions).toBe(3);
    expect(budget.evictedBytes).toBe(30);
    expect(budget.total).toBe(20);
    expect(Buffer.from(((await next).value?.body as { data: Uint8Array }).data).toString()).toBe("d".repeat(20));
    ac.abort();
    await it.return?.(undefined);
    live.release();
    a.release();
    b.release();
    expect(budget.total).toBe(0);
  });
});

describe("Run released from the budget", () => {
  it("stops counting once released, even when a follower still trims it later", async () => {
    const { OutputBudget } = await import("./output-budget.js");
    const budget = new OutputBudget(1 << 20);
    const run = new Run("run_r", "s", "t", 4, budget);
    const ac = new AbortController();
    const it = run.follow(0, ac.signal)[Symbol.asyncIterator]();
    const first = it.next();
    out(run, "stdout", "abcdefgh");
    run.append({ type: "exited", exit });
    expect(budget.total).toBe(8);
    run.release();
    expect(budget.total).toBe(0);
    await first;
    await it.return?.(undefined); // the follower leaves: the run trims to its window
    // The 8-byte chunk holds the window: its last 4 bytes stay.
    expect(run.retainedBytes).toBe(4);
    expect(budget.total).toBe(0);
  });
});
