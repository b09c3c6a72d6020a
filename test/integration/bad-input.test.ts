import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ErrorDetailSchema, ErrorStatusSchema } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon({ args: ["--limits.max-message-bytes", "1m"] });
  sandboxId = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
});

afterAll(async () => {
  await d?.stop();
});

async function firstError(stream: AsyncIterable<unknown>): Promise<{ code: number; details: string; metadata: import("@grpc/grpc-js").Metadata }> {
  try {
    for await (const _ of stream) {
      // drain
    }
  } catch (err) {
    return err as { code: number; details: string; metadata: import("@grpc/grpc-js").Metadata };
  }
  throw new Error("expected the call to fail");
}

describe("bad input gets the right status and a clear message", () => {
  it("unknown language: INVALID_ARGUMENT naming the supported ones, with a machine-readable reason", async () => {
    const err = await d.sandbox
      .createSandbox({ spec: { language: "cobol" } })
      .catch((e: { code: number; details: string; metadata: import("@grpc/grpc-js").Metadata }) => e);
    expect(err).toMatchObject({ code: 3, details: expect.stringMatching(/cobol.*not supported.*python/) });
    const raw = (err as { metadata: import("@grpc/grpc-js").Metadata }).metadata.get("grpc-status-details-bin")[0] as Buffer;
    const status = fromBinary(ErrorStatusSchema, raw);
    expect(status.code).toBe(3);
    const detail = anyUnpack(status.details[0]!, ErrorDetailSchema);
    expect(detail?.reason).toBe("LANGUAGE_NOT_SUPPORTED");
  });

  it("empty code and missing target", async () => {
    expect(await firstError(d.sandbox.run({ sandboxId, code: "   " }))).toMatchObject({ code: 3, details: expect.stringMatching(/empty/) });
    expect(await firstError(d.sandbox.run({ code: "print(1)" }))).toMatchObject({ code: 3, details: expect.stringMatching(/sandbox_id or language/) });
  });

  it("absurd limits", async () => {
    await expect(d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 1n << 50n } } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/memory_bytes.*maximum/),
    });
    await expect(d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 1024n } } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/at least 16 MiB/),
    });
    await expect(d.sandbox.createSandbox({ spec: { language: "python", resources: { cpus: -1 } } })).rejects.toMatchObject({ code: 3 });
    await expect(d.sandbox.createSandbox({ spec: { language: "python", workdir: "relative/dir" } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/workdir/),
    });
    await expect(d.sandbox.createSandbox({ spec: { language: "python", user: "root" } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/root/),
    });
    expect(await firstError(d.sandbox.run({ sandboxId, code: "print(1)", timeoutMs: 4_000_000_000 }))).toMatchObject({ code: 3 });
  });

  it("a workdir outside the allowed roots (/etc would hand uid 1000 the system's files)", async () => {
    for (const workdir of ["/etc", "/usr/lib", "/proc/self", "/var", "/sandboxes"]) {
      await expect(d.sandbox.createSandbox({ spec: { language: "python", workdir } }), workdir).rejects.toMatchObject({
        code: 3,
        details: expect.stringMatching(/not under an allowed root/),
      });
    }
    const ok = (await d.sandbox.createSandbox({ spec: { language: "python", workdir: "/home/user" } })).sandbox!.id;
    const r = await collect(d.sandbox.exec({ sandboxId: ok, shell: "pwd; touch /home/user/f && echo writable" }));
    expect(r.stdout).toBe("/home/user\nwritable\n");
    await d.sandbox.destroySandbox({ sandboxId: ok });
  });

  it("labels too large or too many: INVALID_ARGUMENT, not the engine's 431 (which a 1 MB value got)", async () => {
    await expect(d.sandbox.createSandbox({ spec: { language: "python", labels: { big: "x".repeat(100 * 1024) } } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/at most 1024 bytes/),
    });
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    await expect(d.sandbox.createSandbox({ spec: { language: "python", labels: many } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/at most 64 labels/),
    });
  });

  it("NaN and infinite limits: 'must be a finite number'", async () => {
    for (const cpus of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      await expect(d.sandbox.createSandbox({ spec: { language: "python", resources: { cpus } } })).rejects.toMatchObject({
        code: 3,
        details: expect.stringMatching(/resources.cpus must be a finite number/),
      });
    }
  });

  it("a missing image: FAILED_PRECONDITION naming the image", async () => {
    await expect(d.sandbox.createSandbox({ spec: { language: "python", image: "sandboxd/not-built:latest" } })).rejects.toMatchObject({
      code: 9,
      details: expect.stringMatching(/image sandboxd\/not-built:latest is not present/),
    });
  });

  it("unknown and destroyed sandboxes: NOT_FOUND", async () => {
    await expect(d.sandbox.getSandbox({ sandboxId: "sbx_doesnotexist" })).rejects.toMatchObject({ code: 5, details: expect.stringMatching(/not found/) });
    const tmp = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
    await d.sandbox.destroySandbox({ sandboxId: tmp });
    expect(await firstError(d.sandbox.run({ sandboxId: tmp, code: "print(1)" }))).toMatchObject({ code: 5, details: expect.stringMatching(/destroyed/) });
    await expect(d.sandbox.attach({ runId: "run_nope" })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 5 });
  });

  it("an over-large message: RESOURCE_EXHAUSTED, and the daemon keeps serving", async () => {
    expect(await firstError(d.sandbox.run({ sandboxId, code: `print(${"1".repeat(2 * 1024 * 1024)})` }))).toMatchObject({ code: 8 });
    const ok = await collect(d.sandbox.run({ sandboxId, code: "print('alive')" }));
    expect(ok.stdout).toBe("alive\n");
  });

  it("bad exec requests and bad library names", async () => {
    expect(await firstError(d.sandbox.exec({ sandboxId }))).toMatchObject({ code: 3, details: expect.stringMatching(/argv and shell/) });
    expect(await firstError(d.sandbox.exec({ sandboxId, argv: ["ls"], env: { "BAD-NAME": "x" } }))).toMatchObject({ code: 3 });
    expect(await firstError(d.sandbox.run({ sandboxId, code: "print(1)", libraries: ["numpy; rm -rf /"] }))).toMatchObject({
      code: 3,
      details: expect.stringMatching(/invalid library/),
    });
    await expect(d.sandbox.signal({ runId: "run_x", signal: "SIGTERM" })).rejects.toMatchObject({ code: 5 });
  });

  it("a signal name that does not exist", async () => {
    const stream = d.sandbox.exec({ sandboxId, shell: "sleep 5" });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    const runId = first.value?.event?.event.case === "started" ? first.value.event.event.value.runId : "";
    await expect(d.sandbox.signal({ runId, signal: "SIGFOO" })).rejects.toMatchObject({ code: 3, details: expect.stringMatching(/unknown signal/) });
    await d.sandbox.signal({ runId, signal: "TERM" });
    for (;;) if ((await it.next()).done) break;
  });
});
