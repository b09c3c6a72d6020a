import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { repoRoot, startDaemon } from "../helpers/daemon.js";
import { proxiedBackend, workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";
import { checkHealth } from "../helpers/health.js";
import { freePort } from "../helpers/ports.js";

const run = promisify(execFile);

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("daemon life", () => {
  it("serves health and reflection so grpcurl works out of the box", async () => {
    await using d = await startDaemon();
    expect(await checkHealth(d.address)).toBe("SERVING");
    expect(await checkHealth(d.address, "sandboxd.v1.SandboxService")).toBe("SERVING");
    const grpcurl = process.env["GRPCURL"] ?? "grpcurl";
    const { stdout } = await run(grpcurl, ["-plaintext", d.address, "list"]);
    expect(stdout.split("\n")).toEqual(expect.arrayContaining(["sandboxd.v1.SandboxService", "sandboxd.v1.InteractiveService", "grpc.health.v1.Health"]));
    const desc = await run(grpcurl, ["-plaintext", d.address, "describe", "sandboxd.v1.SandboxService.Run"]);
    expect(desc.stdout).toMatch(/returns \( stream \.sandboxd\.v1\.RunResponse \)/);
    // Health through reflection alone (grpcurl needs its descriptors, map entry names included).
    const check = await run(grpcurl, ["-plaintext", "-d", '{"service":"sandboxd.v1.SandboxService"}', d.address, "grpc.health.v1.Health/Check"]);
    expect(JSON.parse(check.stdout)).toEqual({ status: "SERVING" });
    const list = JSON.parse((await run(grpcurl, ["-plaintext", d.address, "grpc.health.v1.Health/List"])).stdout) as {
      statuses: Record<string, { status: string }>;
    };
    expect(list.statuses["sandboxd.v1.PoolService"]).toEqual({ status: "SERVING" });
  });

  it("logs each call and each run's outcome at info, as JSON lines on stdout only", async () => {
    await using d = await startDaemon({ args: ["--log-level", "info"] });
    let stdout = "";
    d.process.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const r = await collect(d.sandbox.run({ language: "python", code: "import sys\nprint('x' * 9)\nsys.exit(3)" }));
    expect(r.exit.exitCode).toBe(3);
    await expect(d.sandbox.getSandbox({ sandboxId: "sbx_nope" })).rejects.toMatchObject({ code: 5 });
    let lines: Record<string, unknown>[] = [];
    await waitFor("the run's log line", async () => {
      lines = stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>); // throws (and the wait fails) on a line that is not JSON
      return Promise.resolve(lines.some((l) => l["msg"] === "run ended" && l["runId"] === r.runId) && lines.some((l) => l["msg"] === "call failed"));
    });
    expect(lines.find((l) => l["msg"] === "run ended" && l["runId"] === r.runId)).toMatchObject({
      level: 30,
      language: "python",
      status: "exited",
      phase: "run",
      exitCode: 3,
      stdoutBytes: 10,
      stderrBytes: 0,
      tenant: "default",
      durationMs: expect.any(Number),
      sandboxId: expect.stringMatching(/^sbx_/),
    });
    expect(lines.find((l) => l["msg"] === "call" && l["method"] === "/sandboxd.v1.SandboxService/Run")).toMatchObject({
      level: 30,
      code: "OK",
      tenant: "default",
      ms: expect.any(Number),
    });
    expect(lines.find((l) => l["msg"] === "call failed" && l["method"] === "/sandboxd.v1.SandboxService/GetSandbox")).toMatchObject({ code: "NOT_FOUND" });
  });

  it("drains on SIGTERM: running calls finish, new ones are refused, sandboxes are removed, exit 0", async () => {
    const d = await startDaemon();
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const running = collect(d.sandbox.exec({ sandboxId: sandbox!.id, shell: "sleep 1.5; echo finished" }));
    await new Promise((r) => setTimeout(r, 300));
    const exitCode = d.stop("SIGTERM");
    const r = await running;
    expect(r.stdout).toBe("finished\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(await exitCode).toBe(0);
    const left = await workloads([`org.sandboxd.daemon=${d.daemonId}`]);
    expect(left).toEqual([]);
    expect(d.logs()).toMatch(/"msg":"stopped"/);
  });

  it("starts without the engine, answers UNAVAILABLE, and recovers when it comes back", async () => {
    const { proxy, args } = await proxiedBackend("engine");
    const metrics = `127.0.0.1:${await freePort()}`;
    await using d = await startDaemon({ args: [...args, "--metrics-listen", metrics] });
    // The metrics listener's probes: alive all along, ready only with the engine.
    const probe = async (path: string) => {
      const res = await fetch(`http://${metrics}${path}`);
      return `${res.status} ${(await res.text()).trim()}`;
    };
    try {
      expect(await checkHealth(d.address, "sandboxd.v1.SandboxService")).toBe("NOT_SERVING");
      expect(await probe("/healthz")).toBe("200 ok");
      expect(await probe("/readyz")).toMatch(/^503 container engine \(\w+\) unreachable$/);
      await expect(d.sandbox.createSandbox({ spec: { language: "python" } })).rejects.toMatchObject({
        code: 14,
        details: expect.stringMatching(/(engine|Kubernetes API).*unreachable/),
      });

      await proxy.start();
      await waitFor("health SERVING", async () => (await checkHealth(d.address, "sandboxd.v1.SandboxService")) === "SERVING");
      expect(await probe("/readyz")).toBe("200 ready");
      const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
      const id = sandbox!.id;
      expect((await collect(d.sandbox.run({ sandboxId: id, code: "print('up')" }))).stdout).toBe("up\n");

      // The engine goes away mid-run: the run ends UNAVAILABLE with a clear message.
      const stream = d.sandbox.exec({ sandboxId: id, shell: "echo begun; sleep 30" });
      const it = stream[Symbol.asyncIterator]();
      for (;;) {
        const n = await it.next();
        if (n.value?.event?.event.case === "output") break;
      }
      await proxy.stop();
      const failure = await (async () => {
        try {
          for (;;) if ((await it.next()).done) return undefined;
        } catch (err) {
          return err as { code: number; details: string };
        }
      })();
      expect(failure).toMatchObject({ code: 14, details: expect.stringMatching(/agent|engine/) });
      // New calls fail fast while it is gone.
      const t0 = Date.now();
      await expect(d.sandbox.createSandbox({ spec: { language: "python" } })).rejects.toMatchObject({ code: 14 });
      expect(Date.now() - t0).toBeLessThan(5000);
      await waitFor("health NOT_SERVING", async () => (await checkHealth(d.address, "sandboxd.v1.SandboxService")) === "NOT_SERVING");
      expect(await probe("/readyz")).toMatch(/^503 /);
      expect(await probe("/healthz")).toBe("200 ok");

      // Back again: the same sandbox works (a fresh agent is started).
      await proxy.start();
      await waitFor("health SERVING again", async () => (await checkHealth(d.address, "sandboxd.v1.SandboxService")) === "SERVING");
      expect((await collect(d.sandbox.run({ sandboxId: id, code: "print('again')" }))).stdout).toBe("again\n");
      await d.sandbox.destroySandbox({ sandboxId: id });
    } finally {
      await proxy.start().catch(() => {});
      await d.stop();
      await proxy.stop();
    }
  });

  it("a hung engine call fails with DEADLINE_EXCEEDED instead of hanging the client", async () => {
    const { proxy, args } = await proxiedBackend("hung");
    await proxy.start();
    await using d = await startDaemon({ args: [...args, "--engine-call-timeout-ms", "1500"] });
    try {
      proxy.stalled = true;
      const t0 = Date.now();
      await expect(d.sandbox.createSandbox({ spec: { language: "python" } })).rejects.toMatchObject({
        code: 4,
        details: expect.stringMatching(/did not answer .* within 1500 ms/),
      });
      expect(Date.now() - t0).toBeLessThan(10_000);
      await waitFor("health NOT_SERVING", async () => (await checkHealth(d.address, "sandboxd.v1.SandboxService")) === "NOT_SERVING");
      proxy.stalled = false;
      await waitFor("health SERVING", async () => (await checkHealth(d.address, "sandboxd.v1.SandboxService")) === "SERVING");
    } finally {
      await d.stop();
      await proxy.stop();
    }
  });

  it("sends keepalive events on quiet streams", async () => {
    await using d = await startDaemon({ args: ["--keepalive-ms", "200"] });
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const r = await collect(d.sandbox.exec({ sandboxId: sandbox!.id, shell: "sleep 1.2; echo late" }));
    const keepalives = r.events.filter((e) => e.event.case === "keepalive");
    expect(keepalives.length).toBeGreaterThanOrEqual(3);
    expect(keepalives.every((e) => e.seq === 0n)).toBe(true);
    expect(r.stdout).toBe("late\n");
    // Run events stay numbered 1, 2, 3... without the keepalives.
    const seqs = r.events.filter((e) => e.event.case !== "keepalive").map((e) => Number(e.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
  });

  it("refuses bad configuration with a clear message and exit code 2", async () => {
    const err = await run(process.execPath, ["--import", "tsx", join(repoRoot, "src/main.ts"), "--backend", "lxc"], { cwd: repoRoot }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({ code: 2, stderr: expect.stringMatching(/backend must be docker, podman or kubernetes/) });
  });
});
