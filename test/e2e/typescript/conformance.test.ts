import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it, onTestFinished, type TestContext } from "vitest";
import { Code, SandboxdError, createClient, type CellEvent, type Sandbox, type SandboxdClient } from "../../../clients/typescript/src/index.js";
import { NetworkMode, SandboxState, Stream } from "../../../clients/typescript/src/gen/sandboxd/v1/common_pb.js";
import { FileEventType, TransferKind } from "../../../clients/typescript/src/gen/sandboxd/v1/sandbox_service_pb.js";
import { docker, onKubernetes } from "../../helpers/daemon.js";
import { startDaemon, stopDaemon } from "./daemon.js";

// The shared scenarios of clients/CONFORMANCE.md through @sandboxd/client.

let d: Awaited<ReturnType<typeof startDaemon>>;
let client: SandboxdClient;
let sandbox: Sandbox;

beforeAll(async () => {
  d = await startDaemon();
  client = createClient({ address: d.address });
  sandbox = await client.createSandbox({ language: "python" });
});

afterAll(async () => {
  await sandbox?.[Symbol.asyncDispose]();
  client?.close();
  if (d) await stopDaemon(d);
});

const probes: Record<string, (c: SandboxdClient) => Promise<unknown>> = {
  files: (c) => c.sandboxes.downloadFiles({ sandboxId: "", path: "/x" })[Symbol.asyncIterator]().next(),
  artifacts: (c) => c.sandboxes.listArtifacts({ sandboxId: "" }),
  interactive: (c) => c.listSessions(),
  policy: (c) => c.checkCode({ language: "python", code: "x = 1" }),
};
const known = new Map<string, boolean>();

/** Skips (visibly) when the daemon answers UNIMPLEMENTED; SANDBOXD_TEST_REQUIRE_ALL=1 fails instead. */
async function requireFeature(ctx: TestContext, name: string): Promise<void> {
  if (!known.has(name)) {
    try {
      await probes[name]?.(client);
      known.set(name, true);
    } catch (err) {
      known.set(name, !SandboxdError.is(err, Code.Unimplemented));
    }
  }
  if (!known.get(name)) {
    const msg = `daemon does not implement feature ${name} yet (UNIMPLEMENTED)`;
    if (process.env["SANDBOXD_TEST_REQUIRE_ALL"] === "1") throw new Error(msg);
    ctx.skip(msg);
  }
}

/** A python sandbox whose policy refuses `os.system(` (HIGH, threshold MEDIUM). */
const policySandbox = () =>
  client.createSandbox({
    language: "python",
    security: {
      case: "securityPolicy",
      value: { severityThreshold: 3, patterns: [{ pattern: String.raw`\bos\.system\s*\(`, description: "System command execution", severity: 4 }] },
    },
  });

describe("conformance", () => {
  it("C01 hello", async () => {
    const r = await sandbox.run("print('hello')").result();
    expect(r.stdout).toBe("hello\n");
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.status).toBe("EXITED");
    expect(r.ok).toBe(true);
  });

  it("C02 streams kept apart, exit code", async () => {
    const r = await sandbox.run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(7)").result();
    expect(r.stdout).toBe("to out\n");
    expect(r.stderr).toBe("to err\n");
    expect(r.exitCode).toBe(7);
    expect(r.ok).toBe(false);
  });

  it("C03 streaming order, live", async () => {
    const code = "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/c03-go'):\n    time.sleep(0.02)\nprint('second', flush=True)";
    const seen: string[] = [];
    for await (const ev of sandbox.run(code, { runTimeoutMs: 20_000 })) {
      if (ev.event.case !== "output") continue;
      const text = new TextDecoder().decode(ev.event.value.data);
      seen.push(text);
      if (text.includes("first")) expect((await sandbox.exec(["touch", "/tmp/c03-go"]).result()).exitCode).toBe(0);
    }
    expect(seen.join("")).toBe("first\nsecond\n");
  });

  it("C04 event numbering and offsets", async () => {
    const r = await sandbox.run("import sys\nfor i in range(30):\n    print('x' * 10, flush=True)\n    print('y' * 5, file=sys.stderr, flush=True)").result();
    expect(r.events.map((e) => Number(e.seq))).toEqual(r.events.map((_, i) => i + 1));
    let offset = 0;
    for (const e of r.events) {
      if (e.event.case !== "output") continue;
      expect(Number(e.event.value.offset)).toBe(offset);
      offset += e.event.value.data.byteLength;
    }
    expect(r.stdout).toBe("xxxxxxxxxx\n".repeat(30));
    expect(r.events.at(-1)?.event.case).toBe("exited");
    expect(r.events.filter((e) => e.event.case === "output" && e.event.value.stream === Stream.STDERR).length).toBeGreaterThan(0);
  });

  it("C05 death by signal", async () => {
    const r = await sandbox.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)").result();
    expect(r.status).toBe("KILLED");
    expect(r.signal).toBe(9);
  });

  it("C06 timeout; the sandbox stays usable", async () => {
    const started = Date.now();
    const r = await sandbox.run("import time\nprint('before', flush=True)\ntime.sleep(60)", { runTimeoutMs: 1000 }).result();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.status).toBe("TIMEOUT");
    expect(r.stdout).toBe("before\n");
    expect((await sandbox.run("print('still here')").result()).stdout).toBe("still here\n");
  });

  it("C07 exec: argv, shell, workdir, env", async () => {
    const argv = await sandbox.exec(["sh", "-c", "echo $1-$FOO", "sh", "arg"], { env: { FOO: "bar" } }).result();
    expect(argv.stdout).toBe("arg-bar\n");
    const shell = await sandbox.exec("pwd; exit 3", { workdir: "/tmp" }).result();
    expect(shell.stdout).toBe("/tmp\n");
    expect(shell.exitCode).toBe(3);
  });

  it("C08 stdin", async () => {
    const r = await sandbox.run("import sys\nprint(sys.stdin.read().upper())", { stdin: "from stdin" }).result();
    expect(r.stdout).toBe("FROM STDIN\n");
  });

  it("C09 lifecycle", async () => {
    const label = `c09-${Date.now()}`;
    const s = await client.createSandbox({ language: "python", labels: { suite: label } });
    expect((await client.getSandbox(s.id)).id).toBe(s.id);
    expect((await client.listSandboxes({ suite: label })).map((x) => x.id)).toEqual([s.id]);
    expect(await client.destroySandbox(s.id)).toBe(true);
    expect(await client.destroySandbox(s.id)).toBe(false);
    const err = await client.getSandbox(s.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxdError);
    expect(["SANDBOX_NOT_FOUND", "SANDBOX_DESTROYED"]).toContain((err as SandboxdError).reason);
  });

  it("C10 typed errors", async () => {
    const err = await client.createSandbox({ language: "cobol" }).catch((e: unknown) => e);
    expect(SandboxdError.is(err, Code.InvalidArgument, "LANGUAGE_NOT_SUPPORTED")).toBe(true);
    expect((err as SandboxdError).metadata["language"]).toBe("cobol");
    const missing = await client.getSandbox("sbx_does_not_exist").catch((e: unknown) => e);
    expect(SandboxdError.is(missing, Code.NotFound, "SANDBOX_NOT_FOUND")).toBe(true);
  });

  it("C11 cancel with an AbortSignal ends the run", async () => {
    const controller = new AbortController();
    const run = sandbox.run("import time\nprint('running', flush=True)\ntime.sleep(60)", { signal: controller.signal, runTimeoutMs: 120_000 });
    let runId = "";
    const err = await (async () => {
      for await (const ev of run) {
        if (ev.event.case === "started") runId = ev.event.value.runId;
        if (ev.event.case === "output") controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(SandboxdError.is(err, Code.Cancelled)).toBe(true);
    const after = await client.attach(runId).result();
    expect(after.status).toBe("CANCELLED");
    expect((await sandbox.run("print('ok')").result()).stdout).toBe("ok\n");
  });

  it("C12 attach replays from an offset", async () => {
    const r = await sandbox.run("print('abcdefghij', end='')").result();
    const replay = await client.attach(r.runId, 3).result();
    expect(replay.stdout).toBe("defghij");
  });

  it("C13 files round trip", async (ctx) => {
    await requireFeature(ctx, "files");
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 256;
    await sandbox.upload("/sandbox/in/data.bin", payload);
    const sum = await sandbox.exec("sha256sum /sandbox/in/data.bin").result();
    expect(sum.stdout.split(" ")[0]).toBe(createHash("sha256").update(payload).digest("hex"));
    const back = await sandbox.download("/sandbox/in/data.bin");
    expect(Buffer.from(back.data).equals(payload)).toBe(true);
    await sandbox.exec("mkdir -p /sandbox/tree/sub && printf A > /sandbox/tree/a.txt && printf B > /sandbox/tree/sub/b.txt").result();
    const tree = await sandbox.download("/sandbox/tree");
    expect(tree.header?.kind).toBe(TransferKind.TAR);
    await sandbox.upload("/sandbox/copy", tree.data, { kind: TransferKind.TAR });
    expect((await sandbox.exec("cat /sandbox/copy/a.txt /sandbox/copy/sub/b.txt").result()).stdout).toBe("AB");
  });

  it("C14 artifacts", async (ctx) => {
    await requireFeature(ctx, "artifacts");
    await using s = await client.createSandbox({ language: "python" });
    const r = await s.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()").result();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.artifacts).toHaveLength(1);
    const [artifact] = r.artifacts;
    expect(artifact?.format).toBe("png");
    expect(artifact?.width).toBeGreaterThan(0);
    const { data } = await s.downloadArtifact(artifact?.id ?? "");
    expect(Buffer.from(data.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    await s.clearArtifacts();
    expect(await s.listArtifacts()).toEqual([]);
  });

  it("C15 IPython state", async (ctx) => {
    await requireFeature(ctx, "interactive");
    await using session = await sandbox.createSession({ kind: "ipython" });
    expect((await session.run("x = 41").result()).exitCode).toBe(0);
    expect((await session.run("print(x + 1)").result()).stdout).toBe("42\n");
    const failed = await session.run("1 / 0").result();
    expect(failed.ok).toBe(false);
    expect(failed.errors[0]?.name ?? failed.stderr).toContain("ZeroDivisionError");
    expect((await session.run("print(x)").result()).stdout).toBe("41\n");
  });

  it("C16 shell state", async (ctx) => {
    await requireFeature(ctx, "interactive");
    await using sh = await sandbox.createSession({ kind: "shell", shell: "/bin/sh", env: { GREETING: "hi" } });
    expect((await sh.run("cd /tmp").result()).exitCode).toBe(0);
    expect((await sh.run("pwd").result()).stdout).toBe("/tmp\n");
    await sh.run("export FOO=bar").result();
    expect((await sh.run("echo $FOO $GREETING").result()).stdout).toBe("bar hi\n");
    const failed = await sh.run("echo oops >&2; false").result();
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toBe("oops\n");
    expect(failed.stdout).toBe("");
  });

  it("C17 policy", async (ctx) => {
    await requireFeature(ctx, "policy");
    await using s = await policySandbox();
    const check = await s.checkCode("import os\n\nos.system('ls')");
    expect(check.safe).toBe(false);
    expect(check.violations[0]?.line).toBe(3);
    expect(check.violations[0]?.severity).toBe("HIGH");
    const err = await s
      .run("import os\nos.system('ls')")
      .result()
      .catch((e: unknown) => e);
    expect(SandboxdError.is(err, Code.PermissionDenied, "POLICY_VIOLATION")).toBe(true);
    expect((err as SandboxdError).violations.length).toBeGreaterThan(0);
  });

  it("C19 image build from a Dockerfile", async () => {
    const tag = createHash("sha256").update(`${process.pid}-${Date.now()}`).digest("hex").slice(0, 12);
    const dockerfile = {
      content: `FROM sandboxd/base:latest\nCOPY note.txt /note.txt\nRUN echo built-${tag}\n`,
      contextFiles: { "note.txt": new TextEncoder().encode(tag) },
    };
    const output: string[] = [];
    const building = client.buildImage(dockerfile, { onOutput: (t) => output.push(t) });
    if (onKubernetes) {
      const err = await building.catch((e: unknown) => e);
      expect(SandboxdError.is(err, Code.FailedPrecondition, "NOT_SUPPORTED_BY_BACKEND")).toBe(true);
      return;
    }
    const built = await building;
    expect(output.join("")).toMatch(new RegExp(`^built-${tag}$`, "m"));
    expect(built).toMatchObject({ cached: false, image: expect.stringMatching(/^sandboxd-build\//) });
    onTestFinished(() =>
      docker
        .getImage(built.image)
        .remove({ force: true })
        .then(
          () => undefined,
          () => undefined,
        ),
    );
    await using s = await client.createSandbox({ language: "bash", image: built.image });
    expect((await s.exec(["cat", "/note.txt"]).result()).stdout).toBe(tag);
    const again: string[] = [];
    expect(await client.buildImage(dockerfile, { onOutput: (t) => again.push(t) })).toMatchObject({ image: built.image, cached: true });
    expect(again).toEqual([]);
    const failed = await client
      .buildImage({ content: `FROM sandboxd/base:latest\nRUN echo no-${tag} && exit 4\n` }, { onOutput: (t) => output.push(t) })
      .catch((e: unknown) => e);
    expect(SandboxdError.is(failed, Code.InvalidArgument, "IMAGE_BUILD_FAILED")).toBe(true);
    expect(output.join("")).toMatch(new RegExp(`^no-${tag}$`, "m"));
  });

  it("C20 interactive Execute stream", async (ctx) => {
    await requireFeature(ctx, "interactive");
    await using session = await sandbox.createSession({ kind: "ipython" });
    await using stream = session.execute();
    const ids = [
      stream.send("x = 41"),
      stream.send("x + 1"),
      stream.send("import sys, time\nsys.stdout.write('sleeping\\n')\nsys.stdout.flush()\ntime.sleep(60)"),
      stream.send("print('should not run')"),
      stream.send("print(x)", { cellId: "last" }),
    ];
    expect(ids).toEqual(["cell-1", "cell-2", "cell-3", "cell-4", "last"]);
    const seen: CellEvent[] = [];
    let interrupted = false;
    for await (const ev of stream) {
      seen.push(ev);
      if (ev.cellId === "cell-3" && ev.event.event.case === "output" && !interrupted) {
        interrupted = true;
        stream.interrupt("cell-4"); // queued: dropped without running
        stream.interrupt("cell-3"); // running: stopped
        stream.end(); // the stream ends once "last" has run
      }
    }
    // Events come cell after cell, in the order sent, each tagged with its cell's id.
    const order = seen.map((e) => e.cellId).filter((id, i, all) => id !== all[i - 1]);
    expect(order).toEqual(ids);
    for (const id of ids) expect(seen.filter((e) => e.cellId === id).at(-1)?.event.event.case).toBe("exited");
    const shown = (await stream.cell("cell-2")).events.flatMap((e) => (e.event.case === "result" ? [e.event.value] : []));
    expect(new TextDecoder().decode(shown[0]?.data["text/plain"])).toBe("42");
    const slept = await stream.cell("cell-3");
    expect(slept.stdout).toBe("sleeping\n");
    expect(slept.status).toBe("CANCELLED");
    expect(slept.durationMs).toBeLessThan(60_000);
    const dropped = await stream.cell("cell-4");
    expect(dropped.status).toBe("CANCELLED");
    expect(dropped.stdout).toBe("");
    expect((await stream.cell("last")).stdout).toBe("41\n");
    await stream.done();
  });

  it("C20 interactive Execute stream: shell session, cells given up front", async (ctx) => {
    await requireFeature(ctx, "interactive");
    await using sh = await sandbox.createSession({ kind: "shell", shell: "bash" });
    const stream = sh.execute(["cd /tmp", "pwd", { code: "echo oops >&2; (exit 3)", cellId: "fails" }, "echo $BASH_VERSION | cut -c1"]);
    expect((await stream.cell("cell-2")).stdout).toBe("/tmp\n");
    const failed = await stream.cell("fails");
    expect(failed.exitCode).toBe(3);
    expect(failed.stderr).toBe("oops\n");
    expect((await stream.cell("cell-3")).stdout).toMatch(/^[0-9]\n$/);
    await stream.done(); // the iterable ended, so the stream was half-closed
    expect(stream.cellIds).toEqual(["cell-1", "cell-2", "fails", "cell-3"]);
  });

  it("C20 interactive Execute stream: a refused cell ends the stream with PERMISSION_DENIED", async (ctx) => {
    await requireFeature(ctx, "interactive");
    await requireFeature(ctx, "policy");
    await using s = await policySandbox();
    await using session = await s.createSession({ kind: "ipython" });
    const stream = session.execute(["print('allowed')", "import os\nos.system('ls')"]);
    expect((await stream.cell("cell-1")).stdout).toBe("allowed\n");
    const refused = await stream.cell("cell-2").catch((e: unknown) => e);
    expect(SandboxdError.is(refused, Code.PermissionDenied, "POLICY_VIOLATION")).toBe(true);
    const ended = await stream.done().catch((e: unknown) => e);
    expect(SandboxdError.is(ended, Code.PermissionDenied, "POLICY_VIOLATION")).toBe(true);
  });

  it("C21 pause and resume: a process keeps its state and makes no progress while paused", async () => {
    await using s = await client.createSandbox({ language: "python" });
    if (onKubernetes) {
      const err = await s.pause().catch((e: unknown) => e);
      expect(SandboxdError.is(err, Code.FailedPrecondition, "NOT_SUPPORTED_BY_BACKEND")).toBe(true);
      return;
    }
    const count = async () => Number((await s.exec("cat /sandbox/count 2>/dev/null || echo 0").result()).stdout.trim());
    const until = async (target: number) => {
      while ((await count()) <= target) await new Promise((r) => setTimeout(r, 200));
    };
    // A counter in a detached run: it goes on after this call ends.
    const abort = new AbortController();
    const counter = s.exec("i=0; while :; do i=$((i+1)); echo $i > /sandbox/count.tmp; mv /sandbox/count.tmp /sandbox/count; sleep 0.05; done", {
      runTimeoutMs: 120_000,
      detachOnCancel: true,
      signal: abort.signal,
    });
    const ended = counter.result().catch(() => undefined);
    await until(3);
    abort.abort();
    await ended;
    const before = await count();
    const paused = await client.pauseSandbox(s.id);
    expect(paused.changed).toBe(true);
    expect(paused.sandbox?.state).toBe(SandboxState.PAUSED);
    expect(await s.pause()).toBe(false);
    expect((await s.refresh()).state).toBe(SandboxState.PAUSED);
    const refused = await count().catch((e: unknown) => e);
    expect(SandboxdError.is(refused, Code.FailedPrecondition, "SANDBOX_PAUSED")).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    const resumed = await client.resumeSandbox(s.id);
    expect(resumed.changed).toBe(true);
    expect(resumed.sandbox?.state).toBe(SandboxState.RUNNING);
    expect(await s.resume()).toBe(false);
    const after = await count();
    // 1.5 s at 20 steps a second would be 30 steps: frozen, it made only the few around the calls.
    expect(after - before).toBeLessThan(20);
    await until(after + 3);
  });

  it("C27 egress allow-list", async () => {
    // Two servers of this machine: the listed one (its address as a CIDR, its port) and one on a port not listed.
    const hostIp = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    expect(hostIp).toBeDefined();
    const servers = await Promise.all(
      ["listed", "unlisted"].map(async (name) => {
        const server = createServer((_req, res) => res.end(`${name} server\n`));
        await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
        onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
        return (server.address() as AddressInfo).port;
      }),
    );
    const [listed, unlisted] = servers as [number, number];
    const spec = { language: "python", network: NetworkMode.ALLOW_LIST, egress: { cidrs: [`${hostIp}/32`], ports: [listed] } };
    if (onKubernetes) {
      const err = await client.createSandbox(spec).catch((e: unknown) => e);
      expect(SandboxdError.is(err, Code.FailedPrecondition, "NOT_SUPPORTED_BY_BACKEND")).toBe(true);
      return;
    }
    await using s = await client.createSandbox(spec);
    const code = [
      "import urllib.request, urllib.error",
      `for port in (${listed}, ${unlisted}):`,
      "    try:",
      `        print(urllib.request.urlopen('http://${hostIp}:%d/' % port, timeout=10).read().decode().strip())`,
      "    except urllib.error.HTTPError as e:",
      "        print('refused', e.code)",
    ].join("\n");
    const r = await s.run(code).result();
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("listed server\nrefused 403\n");
  });

  it("C26 terminal: a real pty, its size and resize, exit code, reattach replays", async () => {
    let screen = "";
    const until = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 100));
      expect(screen).toMatch(re);
    };
    const term = await sandbox.terminal({ argv: ["/bin/sh"], rows: 30, cols: 100, onOutput: (d) => (screen += Buffer.from(d).toString()) });
    expect(term.id).not.toBe("");
    term.write("tty; stty size\n");
    await until(/\/dev\/pts\/\d+/);
    await until(/^30 100\r?$/m);
    term.resize(40, 120);
    term.write("stty size; echo mark-$((6*7))\n");
    await until(/^40 120\r?$/m);
    await until(/mark-42/);
    term.detach();
    await term.wait().catch(() => undefined);
    let replay = "";
    const again = await client.attachTerminal(term.id, { onOutput: (d) => (replay += Buffer.from(d).toString()) });
    again.write("exit 3\n");
    const exit = await again.wait();
    expect(replay).toContain("mark-42");
    expect(exit.status).toBe("EXITED");
    expect(exit.exitCode).toBe(3);
  });

  it("C23 usage: a run's peak memory and CPU time, the sandbox's usage, WatchSandbox", async () => {
    const MiB = 1024 * 1024;
    const s = await client.createSandbox({ language: "python" });
    const r = await s.run("b = bytearray(50 * 1024 * 1024)\nprint(len(b))").result();
    expect(r.stdout).toBe(`${50 * MiB}\n`);
    expect(r.peakMemoryBytes).toBeGreaterThanOrEqual(50 * MiB);
    expect(r.cpuTimeMs).toBeGreaterThan(0);
    expect((await s.exec(["sh", "-c", "head -c 3000000 /dev/zero > /tmp/c23"]).result()).exitCode).toBe(0);
    const u = await s.usage();
    expect(u?.available).toBe(true);
    expect(Number(u?.memoryPeakBytes)).toBeGreaterThanOrEqual(50 * MiB);
    expect(Number(u?.memoryBytes)).toBeGreaterThan(0);
    expect(Number(u?.cpuTimeMs)).toBeGreaterThan(0);
    expect(u?.processes).toBeGreaterThanOrEqual(1);
    expect(Number(u?.paths.find((p) => p.path === "/tmp")?.usedBytes)).toBeGreaterThanOrEqual(3_000_000);
    const tooFast = await s
      .watch(50)
      .next()
      .catch((e: unknown) => e);
    expect(SandboxdError.is(tooFast, Code.InvalidArgument)).toBe(true);
    let samples = 0;
    for await (const sample of s.watch(100)) {
      expect(sample.available).toBe(true);
      if (++samples === 2) await s.destroy();
      if (samples > 50) throw new Error("the stream did not end after the sandbox was destroyed");
    }
    expect(samples).toBeGreaterThanOrEqual(2);
  });

  it("C24 WatchFiles: writing, renaming and deleting a file produce those events in order", async () => {
    const workdir = (await sandbox.refresh()).spec?.workdir ?? "";
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 20_000);
    const seen: string[] = [];
    try {
      const changes = sandbox.watchFiles("", {
        signal: abort.signal,
        onReady: async () =>
          expect((await sandbox.exec(["sh", "-c", "echo hi > c24.txt && mv c24.txt c24-renamed.txt && rm c24-renamed.txt"]).result()).exitCode).toBe(0),
      });
      for await (const e of changes) {
        seen.push(`${FileEventType[e.type]} ${e.oldPath ? `${e.oldPath} -> ` : ""}${e.path}`);
        if (e.type === FileEventType.REMOVE) break;
      }
    } finally {
      clearTimeout(timer);
    }
    expect(seen).toEqual([
      `CREATE ${workdir}/c24.txt`,
      `WRITE ${workdir}/c24.txt`,
      `RENAME ${workdir}/c24.txt -> ${workdir}/c24-renamed.txt`,
      `REMOVE ${workdir}/c24-renamed.txt`,
    ]);
    const missing = await sandbox
      .watchFiles("/no/such/dir")
      .next()
      .catch((e: unknown) => e);
    expect(SandboxdError.is(missing, Code.NotFound, "FILE_WATCH_PATH_NOT_FOUND")).toBe(true);
  });

  it("runs in an ephemeral sandbox", async () => {
    const r = await client.runEphemeral("python", "print(6 * 7)").result();
    expect(r.stdout).toBe("42\n");
  });

  it("C25 volumes: data outlives a sandbox; read-only mounts refuse writes; in use it stays; a host bind not allowed is refused", async () => {
    const refused = await client
      .createSandbox({ language: "python", mounts: [{ source: { case: "hostPath", value: "/etc" }, path: "/data/etc", readOnly: true }] })
      .catch((e: unknown) => e);
    expect(SandboxdError.is(refused, Code.PermissionDenied, "VOLUME_HOST_PATH_NOT_ALLOWED")).toBe(true);
    const name = `c25-ts-${process.pid}-${Date.now()}`;
    if (onKubernetes) {
      const err = await client.createVolume(name).catch((e: unknown) => e);
      expect(SandboxdError.is(err, Code.FailedPrecondition, "NOT_SUPPORTED_BY_BACKEND")).toBe(true);
      return;
    }
    const volume = await client.createVolume(name, 16 * 1024 * 1024);
    onTestFinished(() =>
      client.deleteVolume(volume.id).then(
        () => undefined,
        () => undefined,
      ),
    );
    expect(volume.name).toBe(name);
    {
      await using writer = await client.createSandbox({
        language: "python",
        mounts: [{ source: { case: "volume", value: name }, path: "/data/c25", readOnly: false }],
      });
      expect((await writer.exec("echo persisted > /data/c25/note.txt").result()).exitCode).toBe(0);
    }
    await using reader = await client.createSandbox({
      language: "python",
      mounts: [{ source: { case: "volume", value: volume.id }, path: "/mnt/c25", readOnly: true }],
    });
    expect((await reader.exec(["cat", "/mnt/c25/note.txt"]).result()).stdout).toBe("persisted\n");
    expect((await reader.exec("echo x > /mnt/c25/other.txt").result()).exitCode).not.toBe(0);
    expect((await client.listVolumes()).map((v) => v.id)).toContain(volume.id);
    const busy = await client.deleteVolume(name).catch((e: unknown) => e);
    expect(SandboxdError.is(busy, Code.FailedPrecondition, "VOLUME_IN_USE")).toBe(true);
    await reader[Symbol.asyncDispose]();
    expect(await client.deleteVolume(name)).toBe(true);
    const gone = await client.getVolume(volume.id).catch((e: unknown) => e);
    expect(SandboxdError.is(gone, Code.NotFound, "VOLUME_NOT_FOUND")).toBe(true);
  });
});
