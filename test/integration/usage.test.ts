import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

const MiB = 1024 * 1024;
let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon({
    env: { SANDBOXD_AUTH__TOKENS: `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}` },
    clientOptions: { metadata: { authorization: "Bearer alpha-secret" } },
  });
  const res = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: BigInt(512 * MiB) } } });
  sandboxId = res.sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
});

describe("usage (issue 18, section 2)", () => {
  it("a run's exited event carries its own peak memory and CPU time", async () => {
    // 80 MiB touched (bytearray writes every page), then held while the CPU spins a little.
    const code = "import time\nb = bytearray(80 * 1024 * 1024)\nt = time.process_time()\nwhile time.process_time() - t < 0.2:\n    pass\nprint(len(b))";
    const r = await collect(d.sandbox.run({ sandboxId, code }));
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.usageMeasured).toBe(true);
    expect(Number(r.exit.peakMemoryBytes)).toBeGreaterThanOrEqual(80 * MiB);
    expect(Number(r.exit.cpuTimeMs)).toBeGreaterThanOrEqual(200);
    // A small run's peak is its own, not the sandbox's high-water mark.
    const small = await collect(d.sandbox.run({ sandboxId, code: "print(1)" }));
    expect(small.exit.usageMeasured).toBe(true);
    expect(Number(small.exit.peakMemoryBytes)).toBeGreaterThan(0);
    expect(Number(small.exit.peakMemoryBytes)).toBeLessThan(80 * MiB);
  });

  it("GetSandbox reports memory (current, peak, limit), CPU, processes and the writable paths' used bytes", async () => {
    const wrote = await collect(
      d.sandbox.exec({
        sandboxId,
        argv: ["sh", "-c", "head -c 3000000 /dev/zero > /tmp/three-mb && head -c 2000000 /dev/zero > two-mb && b=$(bash -c 'echo ok') && echo $b"],
      }),
    );
    expect(wrote.stdout).toBe("ok\n");
    const peak = await collect(d.sandbox.run({ sandboxId, code: "b = bytearray(60 * 1024 * 1024)" }));
    expect(peak.exit.exitCode).toBe(0);
    const { sandbox } = await d.sandbox.getSandbox({ sandboxId });
    const u = sandbox?.usage;
    expect(u?.available).toBe(true);
    expect(Number(u?.memoryBytes)).toBeGreaterThan(0);
    expect(Number(u?.memoryPeakBytes)).toBeGreaterThanOrEqual(60 * MiB);
    expect(Number(u?.memoryLimitBytes)).toBe(512 * MiB);
    expect(Number(u?.cpuTimeMs)).toBeGreaterThan(0);
    expect(u?.processes).toBeGreaterThanOrEqual(1);
    const byPath = new Map((u?.paths ?? []).map((p) => [p.path, p]));
    const workdir = sandbox?.spec?.workdir ?? "";
    expect([...byPath.keys()].sort()).toEqual(["/tmp", workdir].sort());
    expect(Number(byPath.get("/tmp")?.usedBytes)).toBeGreaterThanOrEqual(3_000_000);
    expect(Number(byPath.get(workdir)?.usedBytes)).toBeGreaterThanOrEqual(2_000_000);
    // The workdir and /tmp are mounts of their own (tmpfs, emptyDir): their size is known.
    expect(Number(byPath.get("/tmp")?.totalBytes)).toBeGreaterThan(Number(byPath.get("/tmp")?.usedBytes));
    // Deleting the files gives the bytes back.
    await collect(d.sandbox.exec({ sandboxId, argv: ["rm", "/tmp/three-mb", "two-mb"] }));
    const after = (await d.sandbox.getSandbox({ sandboxId })).sandbox?.usage;
    const tmpAfter = after?.paths.find((p) => p.path === "/tmp");
    expect(Number(tmpAfter?.usedBytes)).toBeLessThan(Number(byPath.get("/tmp")?.usedBytes) - 2_000_000);
  });

  it("ListSandboxes carries each sandbox's usage too", async () => {
    const { sandboxes } = await d.sandbox.listSandboxes({});
    const mine = sandboxes.find((s) => s.id === sandboxId);
    expect(mine?.usage?.available).toBe(true);
    expect(Number(mine?.usage?.memoryBytes)).toBeGreaterThan(0);
  });

  it("WatchSandbox streams samples that follow the sandbox, and ends when it is destroyed", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox?.id ?? "";
    const idle = (await d.sandbox.getSandbox({ sandboxId: id })).sandbox?.usage;
    expect(Number(idle?.memoryBytes)).toBeLessThan(40 * MiB);
    // A run holding 40 MiB while the samples come; destroying the sandbox ends both.
    const holding = collect(d.sandbox.run({ sandboxId: id, code: "import time\nb = bytearray(40 * 1024 * 1024)\ntime.sleep(60)" })).catch(() => undefined);
    let samples = 0;
    let sawHeld = false;
    let destroying: Promise<unknown> | undefined;
    for await (const { usage } of d.sandbox.watchSandbox({ sandboxId: id, intervalMs: 100 })) {
      expect(usage?.available).toBe(true);
      samples++;
      if (!sawHeld && Number(usage?.memoryBytes) >= 40 * MiB) {
        sawHeld = true;
        destroying = d.sandbox.destroySandbox({ sandboxId: id });
      }
      if (samples > 300) throw new Error("no sample showed the run's 40 MiB, or the stream did not end after DestroySandbox");
    }
    await destroying;
    await holding;
    expect(sawHeld).toBe(true);
  });

  it("WatchSandbox refuses an interval below 100 ms and a missing sandbox", async () => {
    const first = async (req: { sandboxId: string; intervalMs: number }) => {
      try {
        for await (const _ of d.sandbox.watchSandbox(req)) break;
      } catch (err) {
        return (err as { code: number }).code;
      }
      return status.OK;
    };
    expect(await first({ sandboxId, intervalMs: 99 })).toBe(status.INVALID_ARGUMENT);
    expect(await first({ sandboxId: "sb-missing", intervalMs: 500 })).toBe(status.NOT_FOUND);
    expect(await first({ sandboxId: "", intervalMs: 500 })).toBe(status.INVALID_ARGUMENT);
  });

  it("another tenant's sandbox is NOT_FOUND to WatchSandbox", async () => {
    const other = createClient(SandboxService, d.address, { metadata: { authorization: "Bearer beta-secret" } });
    let code = status.OK;
    try {
      for await (const _ of other.watchSandbox({ sandboxId, intervalMs: 500 })) break;
    } catch (err) {
      code = (err as { code: number }).code;
    }
    other.close();
    expect(code).toBe(status.NOT_FOUND);
  });
});
