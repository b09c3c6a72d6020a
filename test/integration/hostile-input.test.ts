import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon();
  sandboxId = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
});

afterAll(async () => {
  await d?.stop();
});

/** Sends raw bytes as a request body, bypassing the client's encoder. */
function rawUnary(method: string, body: Buffer): Promise<Buffer> {
  const client = new grpc.Client(d.address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as Buffer);
      },
    );
  });
}

function status(p: Promise<unknown> | AsyncIterable<unknown>): Promise<{ code: number; details: string }> {
  const run = Symbol.asyncIterator in (p as object) ? collect(p as AsyncIterable<{ event?: never }>) : (p as Promise<unknown>);
  return run.then(
    () => ({ code: 0, details: "" }),
    (e: { code: number; details: string }) => ({ code: e.code, details: e.details }),
  );
}

describe("hostile input", () => {
  it("malformed protobuf bytes are INVALID_ARGUMENT, not a crash", async () => {
    for (const body of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from("not a protobuf at all"), Buffer.from([0x0a, 0x80])]) {
      await expect(rawUnary("/sandboxd.v1.SandboxService/CreateSandbox", body)).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/malformed/),
      });
    }
    // A string field with invalid UTF-8 (field 1 = sandbox_id).
    await expect(rawUnary("/sandboxd.v1.SandboxService/GetSandbox", Buffer.from([0x0a, 0x02, 0xc3, 0x28]))).rejects.toMatchObject({ code: expect.any(Number) });
  });

  it("huge code is refused with the limit named", async () => {
    const r = await status(d.sandbox.run({ sandboxId, code: "#".repeat(5 * 1024 * 1024) }));
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/limit is 4194304/);
  });

  it("binary, non-UTF-8 and NUL output arrives byte for byte", async () => {
    const r = await collect(
      d.sandbox.run({ sandboxId, code: "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 3)\nsys.stderr.buffer.write(b'\\x00\\xff\\xfe')" }),
    );
    const out = Buffer.concat(r.events.flatMap((e) => (e.event.case === "output" && e.event.value.stream === 1 ? [Buffer.from(e.event.value.data)] : [])));
    expect(out.equals(Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i))].flatMap((b) => [b, b, b])))).toBe(true);
    expect(Number(r.exit.stderrBytes)).toBe(3);
  });

  it("NUL bytes in code, argv and env are handled", async () => {
    // The interpreter decides what a NUL in source means; the run ends normally either way.
    const r = await collect(d.sandbox.run({ sandboxId, code: "print('a')\0print('b')" }));
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect((await status(d.sandbox.exec({ sandboxId, argv: ["echo", "a\0b"] }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await status(d.sandbox.exec({ sandboxId, argv: ["env"], env: { A: "x\0y" } }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("path traversal in path fields is refused", async () => {
    for (const workdir of ["../etc", "/sandbox/../etc", "relative", "/a/\0/b"]) {
      expect((await status(d.sandbox.createSandbox({ spec: { language: "python", workdir } }))).code).toBe(grpc.status.INVALID_ARGUMENT);
      expect((await status(d.sandbox.exec({ sandboxId, argv: ["pwd"], workdir }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    expect((await status(d.sandbox.createSandbox({ spec: { language: "python", artifacts: { outputDir: "/sandbox/../../etc" } } }))).code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
  });

  it("negative and absurd limits", async () => {
    for (const resources of [{ cpus: -2 }, { cpus: 1e9 }, { pids: 4_000_000_000 }, { memoryBytes: 18446744073709551615n }, { diskBytes: 1n }]) {
      expect((await status(d.sandbox.createSandbox({ spec: { language: "python", resources } }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    expect((await status(d.sandbox.createSandbox({ spec: { language: "python", ttlMs: 4_294_967_295 } }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("random RPC sequences get clear statuses, never INTERNAL, and lose nothing of others", async () => {
    // A deterministic pseudo-random sequence of calls, many of them nonsensical.
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const ids = [sandboxId, "sbx_nope", "", "x".repeat(300), "../../etc", "sbx_\u0000"];
    const runIds = ["run_nope", "", "run_" + "z".repeat(40)];
    const codes = new Map<number, number>();
    const mine: string[] = [];
    for (let i = 0; i < 120; i++) {
      const id = ids[rnd(ids.length)]!;
      let r: { code: number; details: string };
      switch (rnd(9)) {
        case 0:
          r = await status(d.sandbox.getSandbox({ sandboxId: id }));
          break;
        case 1:
          r = await status(d.sandbox.destroySandbox({ sandboxId: id === sandboxId ? "sbx_other" : id }));
          break;
        case 2:
          r = await status(d.sandbox.attach({ runId: runIds[rnd(runIds.length)]!, offset: BigInt(rnd(1000)) }));
          break;
        case 3:
          r = await status(d.sandbox.signal({ runId: runIds[rnd(runIds.length)]!, signal: ["SIGKILL", "", "SIGNOPE", "9"][rnd(4)]! }));
          break;
        case 4:
          r = await status(d.sandbox.writeInput({ runId: runIds[rnd(runIds.length)]!, data: Buffer.from("x"), close: rnd(2) === 0 }));
          break;
        case 5:
          r = await status(d.sandbox.exec({ sandboxId: id, argv: rnd(2) ? [] : ["true"], shell: rnd(2) ? "true" : "" }));
          break;
        case 6:
          r = await status(d.sandbox.run({ sandboxId: id, code: rnd(2) ? "" : "print(1)", language: ["", "python", "klingon"][rnd(3)]! }));
          break;
        case 7: {
          const created = await d.sandbox.createSandbox({ spec: { language: ["python", "nope", ""][rnd(3)]!, labels: { [`k${rnd(3)}`]: "v" } } }).then(
            (res) => {
              mine.push(res.sandbox!.id);
              return { code: 0, details: "" };
            },
            (e: { code: number; details: string }) => ({ code: e.code, details: e.details }),
          );
          r = created;
          break;
        }
        default:
          r = await status(d.sandbox.listSandboxes({ labels: { [`k${rnd(3)}`]: "v" } }));
      }
      expect(r.code, `call ${i}: ${r.details}`).not.toBe(grpc.status.INTERNAL);
      expect(r.code, `call ${i}: ${r.details}`).not.toBe(grpc.status.UNKNOWN);
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    }
    expect(codes.size).toBeGreaterThan(2);
    for (const id of mine) await d.sandbox.destroySandbox({ sandboxId: id });
    // The sandbox under attack by nonsense is intact and the daemon logged the failures.
    expect((await collect(d.sandbox.run({ sandboxId, code: "print('intact')" }))).stdout).toBe("intact\n");
    expect(d.logs()).toMatch(/"msg":"call failed"/);
    expect(d.logs()).not.toMatch(/"msg":"internal error"/);
  });
});
