import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ErrorDetailSchema, ErrorStatusSchema, SandboxState } from "../../src/gen/sandboxd/v1/common_pb.js";
import { randomBytes } from "node:crypto";
import { docker, onKubernetes, startDaemon, testDaemonPrefix, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// PauseSandbox / ResumeSandbox against real containers: the engine freezes every process,
// the sandbox keeps its files and processes, calls that need it running are refused (or
// resume it, with auto_resume), the reaper never counts it idle but its TTL still ends it.

let d: DaemonHandle;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
});

interface GrpcError {
  code: number;
  details: string;
  metadata: Metadata;
}

function reasonOf(err: unknown): string | undefined {
  const raw = (err as GrpcError).metadata?.get("grpc-status-details-bin")[0] as Buffer | undefined;
  if (!raw) return undefined;
  return anyUnpack(fromBinary(ErrorStatusSchema, raw).details[0]!, ErrorDetailSchema)?.reason;
}

async function rejection(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (err) {
    return err as GrpcError;
  }
  throw new Error("the call succeeded");
}

async function create(spec: Record<string, unknown> = {}): Promise<string> {
  const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", ...spec } });
  const id = sandbox!.id;
  onTestFinished(async () => {
    await d.sandbox.destroySandbox({ sandboxId: id });
  });
  return id;
}

async function shell(sandboxId: string, script: string) {
  return collect(d.sandbox.exec({ sandboxId, shell: script }));
}

const count = async (id: string) => Number((await shell(id, "cat /sandbox/count 2>/dev/null || echo 0")).stdout.trim());

/** Polls `check` until it holds (the test's own timeout bounds it). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 200));
}

const stateOf = async (id: string) => (await d.sandbox.getSandbox({ sandboxId: id })).sandbox?.state;

describe.skipIf(onKubernetes)("pause and resume", () => {
  it("freezes a running process, keeps its files, and resumes it where it was", async () => {
    const id = await create();
    const { sandbox } = await d.sandbox.getSandbox({ sandboxId: id });
    await shell(id, "echo kept > /sandbox/note.txt");
    // A counter that runs for the whole test, in a run of its own (detached: it outlives the call).
    const abort = new AbortController();
    const counter = collect(
      d.sandbox.exec(
        {
          sandboxId: id,
          shell: "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo $i > /sandbox/count.tmp; mv /sandbox/count.tmp /sandbox/count; sleep 0.05; done",
          timeoutMs: 120_000,
        },
        { signal: abort.signal },
      ),
    ).catch(() => undefined);
    onTestFinished(async () => {
      abort.abort();
      await counter;
    });
    await until(async () => (await count(id)) > 5);

    const paused = await d.sandbox.pauseSandbox({ sandboxId: id });
    expect(paused.changed).toBe(true);
    expect(paused.sandbox?.state).toBe(SandboxState.PAUSED);
    expect(paused.sandbox?.pausedAt).toBeDefined();
    expect((await docker.getContainer(sandbox!.containerId).inspect()).State.Paused).toBe(true);
    // Idempotent.
    expect((await d.sandbox.pauseSandbox({ sandboxId: id })).changed).toBe(false);
    expect(await stateOf(id)).toBe(SandboxState.PAUSED);
    expect((await d.sandbox.listSandboxes({})).sandboxes.find((s) => s.id === id)?.state).toBe(SandboxState.PAUSED);

    // Calls that need it running are refused while it is paused.
    const refused = await rejection(shell(id, "true"));
    expect(refused).toMatchObject({ code: 9, details: expect.stringMatching(/is paused/) });
    expect(reasonOf(refused)).toBe("SANDBOX_PAUSED");
    const run = await rejection(collect(d.sandbox.run({ sandboxId: id, code: "print(1)" })));
    expect(reasonOf(run)).toBe("SANDBOX_PAUSED");

    const resumed = await d.sandbox.resumeSandbox({ sandboxId: id });
    expect(resumed.changed).toBe(true);
    expect(resumed.sandbox?.state).toBe(SandboxState.RUNNING);
    expect(resumed.sandbox?.pausedAt).toBeUndefined();
    expect((await d.sandbox.resumeSandbox({ sandboxId: id })).changed).toBe(false);
    const before = await count(id);
    // The same process goes on counting from where it was: not restarted, not killed.
    await until(async () => (await count(id)) > before + 5);
    expect((await shell(id, "cat /sandbox/note.txt")).stdout).toBe("kept\n");
  });

  it("makes no progress while paused", async () => {
    const id = await create();
    const abort = new AbortController();
    const counter = collect(
      d.sandbox.exec(
        {
          sandboxId: id,
          shell: "i=0; while :; do i=$((i+1)); echo $i > /sandbox/count.tmp; mv /sandbox/count.tmp /sandbox/count; sleep 0.05; done",
          timeoutMs: 120_000,
        },
        { signal: abort.signal },
      ),
    ).catch(() => undefined);
    onTestFinished(async () => {
      abort.abort();
      await counter;
    });
    await until(async () => (await count(id)) > 5);
    const atPause = await count(id);
    await d.sandbox.pauseSandbox({ sandboxId: id });
    await new Promise((r) => setTimeout(r, 2000));
    await d.sandbox.resumeSandbox({ sandboxId: id });
    const afterPause = await count(id);
    // Two seconds at 20 steps a second would be 40 steps; frozen, it took the few of the calls around the pause.
    expect(afterPause - atPause).toBeLessThan(30);
    await until(async () => (await count(id)) > afterPause + 5);
  });

  it("a paused sandbox is not idle, but its TTL still ends it", async () => {
    const idle = await create({ idleTimeoutMs: 1500 });
    await d.sandbox.pauseSandbox({ sandboxId: idle });
    // Well past the idle timeout and a few reaper rounds.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await stateOf(idle)).toBe(SandboxState.PAUSED);
    await d.sandbox.resumeSandbox({ sandboxId: idle });
    expect((await shell(idle, "echo alive")).stdout).toBe("alive\n");

    const short = await create({ ttlMs: 3000 });
    await d.sandbox.pauseSandbox({ sandboxId: short });
    let ended: GrpcError | undefined;
    await until(async () => {
      ended = await d.sandbox.getSandbox({ sandboxId: short }).then(
        () => undefined,
        (err: unknown) => err as GrpcError,
      );
      return ended !== undefined;
    });
    expect(reasonOf(ended)).toBe("SANDBOX_EXPIRED");
  });

  it("auto-pauses after auto_pause_ms without calls and auto-resumes on the next call", async () => {
    const id = await create({ autoPauseMs: 1000, autoResume: true });
    await shell(id, "echo before > /sandbox/f");
    await until(async () => (await stateOf(id)) === SandboxState.PAUSED);
    const got = (await d.sandbox.getSandbox({ sandboxId: id })).sandbox!;
    expect(got.spec?.autoPauseMs).toBe(1000);
    expect(got.spec?.autoResume).toBe(true);
    // The next call resumes it and runs.
    expect((await shell(id, "cat /sandbox/f")).stdout).toBe("before\n");
    expect(await stateOf(id)).toBe(SandboxState.RUNNING);
  });

  it("a paused sandbox is adopted paused by the next daemon, and resumes there", async () => {
    const daemonId = `${testDaemonPrefix}${randomBytes(4).toString("hex")}`;
    const d1 = await startDaemon({ daemonId });
    let d2: DaemonHandle | undefined;
    try {
      const sandboxId = (await d1.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
      await collect(d1.sandbox.exec({ sandboxId, shell: "echo kept > /sandbox/f" }));
      await d1.sandbox.pauseSandbox({ sandboxId });
      await d1.stop("SIGKILL");
      d2 = await startDaemon({ daemonId });
      expect((await d2.sandbox.getSandbox({ sandboxId })).sandbox?.state).toBe(SandboxState.PAUSED);
      expect(reasonOf(await rejection(collect(d2.sandbox.exec({ sandboxId, shell: "true" }))))).toBe("SANDBOX_PAUSED");
      expect((await d2.sandbox.resumeSandbox({ sandboxId })).changed).toBe(true);
      expect((await collect(d2.sandbox.exec({ sandboxId, shell: "cat /sandbox/f" }))).stdout).toBe("kept\n");
      // Destroying a paused sandbox removes its container too.
      await d2.sandbox.pauseSandbox({ sandboxId });
      expect((await d2.sandbox.destroySandbox({ sandboxId })).destroyed).toBe(true);
    } finally {
      await d1.stop();
      await d2?.stop();
    }
  });

  it("another tenant's or a missing sandbox is NOT_FOUND; sandbox_id is required", async () => {
    expect(await rejection(d.sandbox.pauseSandbox({ sandboxId: "sbx-missing" }))).toMatchObject({ code: 5 });
    expect(await rejection(d.sandbox.resumeSandbox({ sandboxId: "sbx-missing" }))).toMatchObject({ code: 5 });
    expect(await rejection(d.sandbox.pauseSandbox({ sandboxId: "" }))).toMatchObject({ code: 3 });
  });
});

describe.skipIf(!onKubernetes)("pause and resume on Kubernetes", () => {
  it("is refused with FAILED_PRECONDITION, reason NOT_SUPPORTED_BY_BACKEND", async () => {
    const id = await create();
    for (const call of [d.sandbox.pauseSandbox({ sandboxId: id }), d.sandbox.resumeSandbox({ sandboxId: id })]) {
      const err = await rejection(call);
      expect(err).toMatchObject({ code: 9, details: expect.stringMatching(/not available on the Kubernetes backend/) });
      expect(reasonOf(err)).toBe("NOT_SUPPORTED_BY_BACKEND");
    }
    expect(await stateOf(id)).toBe(SandboxState.RUNNING);
    const auto = await rejection(d.sandbox.createSandbox({ spec: { language: "python", autoPauseMs: 1000 } }));
    expect(auto).toMatchObject({ code: 9 });
    expect(reasonOf(auto)).toBe("NOT_SUPPORTED_BY_BACKEND");
  });
});
