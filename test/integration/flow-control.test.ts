import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, type RunEvent } from "../../src/gen/sandboxd/v1/common_pb.js";
import { rawExec } from "../helpers/raw-call.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

const MiB = 1024 * 1024;
const chunk = 65536;
/**
 * Writes `total` 64 KiB chunks to stdout, each starting with its index, and after each one
 * the number written so far to /tmp/count-<n>: a blocked writer's counter stops.
 */
const writer = [
  "import sys",
  "n, total = sys.argv[1], int(sys.argv[2])",
  "out = sys.stdout.buffer",
  "for i in range(total):",
  "    out.write(b'%08d' % i + b'x' * 65528)",
  "    out.flush()",
  "    with open('/tmp/count-' + n, 'w') as f:",
  "        f.write(str(i + 1))",
].join("\n");

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const metricsPort = () => `127.0.0.1:${20000 + Math.floor(Math.random() * 20000)}`;

async function metric(address: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

/** Reads a stream to its end: bytes in order (offsets contiguous), the exit, how long it took. */
async function drainOutput(stream: AsyncIterable<{ event?: RunEvent | undefined }>, from = 0) {
  const parts: Buffer[] = [];
  let offset = from;
  let exit;
  let runId = "";
  for await (const { event } of stream) {
    const e = event?.event;
    if (e?.case === "started") runId ||= e.value.runId;
    if (e?.case === "output") {
      expect(Number(e.value.offset)).toBe(offset);
      offset += e.value.data.byteLength;
      parts.push(Buffer.from(e.value.data));
    }
    if (e?.case === "exited") exit = e.value;
  }
  return { data: Buffer.concat(parts), exit, runId };
}

function checkChunks(data: Buffer, count: number): void {
  expect(data.length).toBe(count * chunk);
  for (let i = 0; i < count; i++) {
    const head = data.subarray(i * chunk, i * chunk + 8).toString();
    if (head !== String(i).padStart(8, "0")) throw new Error(`chunk ${i} starts with ${JSON.stringify(head)}`);
  }
}

describe("flow control: a stalled reader blocks its own program, not the daemon's memory", () => {
  let d: DaemonHandle;
  let sandboxId: string;
  const metrics = metricsPort();

  beforeAll(async () => {
    d = await startDaemon({ args: ["--max-output-bytes", "128m", "--metrics-listen", metrics] });
    sandboxId = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
    // Warm up: the agent is started and the code paths are loaded before the baseline.
    const warm = await drainOutput(d.sandbox.exec({ sandboxId, argv: ["python3", "-c", writer, "warm", "64"] }));
    checkChunks(warm.data, 64);
  });

  afterAll(async () => {
    await d?.stop();
  });

  const counts = async () => {
    const r = await collect(d.sandbox.exec({ sandboxId, shell: 'for f in /tmp/count-s*; do echo "$f $(cat $f)"; done' }));
    return new Map(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => {
          const [f, n] = l.split(" ");
          return [f as string, Number(n)];
        }),
    );
  };

  it("20 streams whose clients never read: the programs block, RSS stays bounded, one stream resumed gets every byte", async () => {
    const total = 1024; // 64 MiB each: 1.25 GiB if it were buffered
    const rssBefore = d.rssBytes();
    const streams = Array.from({ length: 20 }, (_, i) =>
      rawExec(d.address, { sandboxId, argv: ["python3", "-c", writer, `s${i}`, String(total)], timeoutMs: 120_000 }),
    );
    try {
      await settle(4000);
      const first = await counts();
      await settle(2000);
      const second = await counts();
      const rssStalled = d.rssBytes();
      expect(first.size).toBe(20);
      for (const [file, n] of second) {
        // Blocked on write: no progress, and little output got out (credit window + gRPC/HTTP2 buffers).
        expect(n, file).toBeLessThanOrEqual(40); // 2.5 MiB of 64: the 1 MiB window, gRPC (256 KiB) and HTTP/2 buffers, the pipe
        expect(n - (first.get(file) ?? 0), file).toBeLessThanOrEqual(2);
      }
      const growth = rssStalled - rssBefore;
      console.log(`20 stalled streams: daemon RSS +${(growth / MiB).toFixed(1)} MiB; chunks written per program: ${[...second.values()].join(",")}`);
      expect(growth).toBeLessThan(64 * MiB); // was about 18 MiB per stalled stream, 20 x 64 MiB without the output cap
      const buffered = await metric(metrics, "sandboxd_output_buffered_bytes");
      expect(buffered).toBeLessThan(20 * 4 * MiB);

      // Reading one stream again: every byte, in order, the exact count.
      const t0 = Date.now();
      const resumed = await drainOutput(streams[0]!);
      checkChunks(resumed.data, total);
      expect(resumed.exit?.status).toBe(ExitStatus.EXITED);
      expect(Number(resumed.exit?.stdoutBytes)).toBe(total * chunk);
      console.log(`resumed stream: 64 MiB in ${Date.now() - t0} ms`);
      // The others are still blocked where they were.
      const third = await counts();
      for (const [file, n] of third) if (file !== "/tmp/count-s0") expect(n - (second.get(file) ?? 0), file).toBeLessThanOrEqual(2);
    } finally {
      for (const s of streams) s.cancel();
    }
    // Cancelling the calls cancels their runs (not detached): nothing keeps running.
    for (let i = 0; i < 50 && (await metric(metrics, "sandboxd_runs_active")) > 0; i++) await settle(200);
    expect(await metric(metrics, "sandboxd_runs_active")).toBe(0);
  });

  it("one stalled run does not slow another run in the same sandbox", async () => {
    const stalled = rawExec(d.address, { sandboxId, argv: ["python3", "-c", writer, "s-stall", "1024"], timeoutMs: 120_000 });
    try {
      await settle(1500);
      const t0 = Date.now();
      const other = await drainOutput(d.sandbox.exec({ sandboxId, argv: ["python3", "-c", writer, "other", "128"] }));
      const took = Date.now() - t0;
      checkChunks(other.data, 128);
      expect(other.exit?.status).toBe(ExitStatus.EXITED);
      // A line of output arrives at once too (no batching, no waiting for the stalled run).
      const t1 = Date.now();
      const echo = await collect(d.sandbox.exec({ sandboxId, argv: ["echo", "hi"] }));
      expect(echo.stdout).toBe("hi\n");
      console.log(`next to a stalled run: 8 MiB in ${took} ms, echo in ${Date.now() - t1} ms`);
      expect(took).toBeLessThan(15_000);
      expect(Date.now() - t1).toBeLessThan(3000);
      const c = await counts();
      expect(c.get("/tmp/count-s-stall")).toBeLessThanOrEqual(40);
    } finally {
      stalled.cancel();
    }
  });

  it("a detached run nobody follows is not held back: it runs to its end and the replay window trims", async () => {
    const stream = d.sandbox.exec({ sandboxId, argv: ["python3", "-c", writer, "s-detached", "256"], timeoutMs: 60_000, detachOnCancel: true });
    let runId = "";
    try {
      for await (const { event } of stream) {
        if (event?.event.case === "started") {
          runId = event.event.value.runId;
          stream.cancel();
        }
      }
    } catch (err) {
      expect((err as { code?: number }).code).toBe(1); // CANCELLED
    }
    expect(runId).not.toBe("");
    for (let i = 0; i < 100 && (await counts()).get("/tmp/count-s-detached") !== 256; i++) await settle(100);
    expect((await counts()).get("/tmp/count-s-detached")).toBe(256);
    // 16 MiB written, 8 MiB kept: the start is gone, the tail is there and complete.
    await expect(collect(d.sandbox.attach({ runId, offset: 0n }))).rejects.toMatchObject({ code: 11 });
    const tail = await drainOutput(d.sandbox.attach({ runId, offset: BigInt(128 * chunk) }), 128 * chunk);
    expect(tail.data.length).toBe(128 * chunk);
    expect(tail.data.subarray(0, 8).toString()).toBe("00000128");
    expect(tail.exit?.status).toBe(ExitStatus.EXITED);
  });

  it("a stalled reader cannot hold a run past its deadline", async () => {
    const stalled = rawExec(d.address, { sandboxId, argv: ["python3", "-c", writer, "s-deadline", "1024"], timeoutMs: 2000 });
    try {
      await settle(3500);
      // The client reads only now: what was produced before the deadline, then the timeout.
      const r = await drainOutput(stalled);
      expect(r.exit?.status).toBe(ExitStatus.TIMEOUT);
      expect(r.data.length).toBeLessThan(16 * MiB);
      expect(r.data.length).toBeGreaterThan(0);
    } finally {
      stalled.cancel();
    }
  });
});

describe("memory budget across runs", () => {
  it("60 finished runs of 8 MiB each under --max-buffered-bytes 64m: evicted oldest first, RSS bounded, metrics report it", async () => {
    const metrics = metricsPort();
    await using d = await startDaemon({ args: ["--max-buffered-bytes", "64m", "--metrics-listen", metrics] });
    const sandboxId = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
    const perRun = 128; // 8 MiB
    const warm = await drainOutput(d.sandbox.exec({ sandboxId, argv: ["python3", "-c", writer, "warm", String(perRun)] }));
    checkChunks(warm.data, perRun);
    const rssBefore = d.rssBytes();
    const runIds: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < 60) {
        const i = next++;
        const r = await drainOutput(d.sandbox.exec({ sandboxId, argv: ["python3", "-c", writer, `b${i}`, String(perRun)] }));
        expect(r.data.length).toBe(perRun * chunk);
        runIds[i] = r.runId;
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    const growth = d.rssBytes() - rssBefore;
    const buffered = await metric(metrics, "sandboxd_output_buffered_bytes");
    const evictions = await metric(metrics, "sandboxd_output_evictions_total");
    console.log(`60 finished runs: daemon RSS +${(growth / MiB).toFixed(1)} MiB, buffered ${(buffered / MiB).toFixed(1)} MiB, ${evictions} evictions`);
    expect(await metric(metrics, "sandboxd_output_budget_bytes")).toBe(64 * MiB);
    expect(buffered).toBeLessThanOrEqual(64 * MiB);
    expect(evictions).toBeGreaterThanOrEqual(50);
    // Without the budget these runs would keep 480 MiB of replay for 5 minutes.
    expect(growth).toBeLessThan(200 * MiB);
    // The oldest run's replay is gone: OUT_OF_RANGE, as for output the replay window dropped.
    await expect(collect(d.sandbox.attach({ runId: runIds[0] as string, offset: 0n }))).rejects.toMatchObject({ code: 11 });
    // The newest keeps its whole replay.
    const last = await drainOutput(d.sandbox.attach({ runId: runIds[59] as string, offset: 0n }));
    checkChunks(last.data, perRun);
  });
});
