import { createHash, randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { pack as tarPack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { TransferKind } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { TerminalService } from "../../src/gen/sandboxd/v1/terminal_service_pb.js";
import { createClient } from "../helpers/client.js";
import { rawExec } from "../helpers/raw-call.js";
import { docker, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { onKubernetes } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// An image the resident agent cannot start in (no python3): every run falls back to one
// engine exec, with the same events, exit statuses and deadlines.
let d: DaemonHandle;
let sandboxId: string;
let image = "";

beforeAll(async () => {
  // Kubernetes buffers far more between the program and the daemon (kubelet, API server, two TCP hops): its
  // flow-control test writes more, so the output cap is raised there.
  d = await startDaemon(onKubernetes ? { args: ["--max-output-bytes", String(128 * 1024 * 1024)] } : {});
  // Kubernetes builds nothing: scripts/k8s/cluster.sh import-images makes this image with Docker and imports it.
  if (onKubernetes) {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "bash", image: "sandboxd/base-nopython:latest" } });
    sandboxId = sandbox!.id;
    return;
  }
  const dockerfile = { content: "FROM sandboxd/base:latest\nUSER root\nRUN rm -f /usr/bin/python3*\nUSER 1000:1000\n" };
  const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "bash", dockerfile } });
  sandboxId = sandbox!.id;
  image = sandbox!.image;
});

afterAll(async () => {
  await d?.stop();
  if (image)
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
});

describe("without python3 in the image", () => {
  it("runs code and commands with separate streams and exact exit codes", async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: "command -v python3 || echo no-python\necho err >&2\nexit 3" }));
    expect(r.stdout).toBe("no-python\n");
    expect(r.stderr).toBe("err\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(3);
    expect(r.events[0]?.event.case).toBe("started");
    const e = await collect(d.sandbox.exec({ sandboxId, argv: ["cat"], stdin: Buffer.from("piped") }));
    expect(e.stdout).toBe("piped");
    expect(d.logs()).toMatch(/agent unavailable in this image; using one engine exec per run/);
  });

  it("says usage is unavailable (no agent measures it) and runs' exits carry none", async () => {
    const { sandbox } = await d.sandbox.getSandbox({ sandboxId });
    expect(sandbox?.usage?.available).toBe(false);
    expect(sandbox?.usage?.unavailableReason).toMatch(/no python3/);
    const r = await collect(d.sandbox.exec({ sandboxId, argv: ["true"] }));
    expect(r.exit.usageMeasured).toBe(false);
    expect(Number(r.exit.peakMemoryBytes)).toBe(0);
  });

  it("WatchFiles is FAILED_PRECONDITION (FILE_WATCH_NOT_SUPPORTED): no agent watches", async () => {
    let err: { code?: number; details?: string } | undefined;
    try {
      for await (const _ of d.sandbox.watchFiles({ sandboxId, path: "/tmp" })) break;
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe(9); // FAILED_PRECONDITION
    expect(err?.details).toMatch(/no python3/);
  });

  it("kills the process tree at the deadline", async () => {
    const r = await collect(d.sandbox.exec({ sandboxId, shell: "sleep 300 & sleep 301; echo never", timeoutMs: 1000 }));
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.stdout).toBe("");
    const ps = await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "args"] }));
    expect(ps.stdout).not.toMatch(/sleep 30[01]/);
  });

  it("reports death by signal", async () => {
    const r = await collect(d.sandbox.exec({ sandboxId, shell: "kill -TERM $$" }));
    expect(r.exit.status).toBe(ExitStatus.KILLED);
    expect(r.exit.signal).toBe(15);
  });

  it("a client that does not read blocks the program (the engine stream is paused), then gets every byte", async () => {
    // Docker: 15 MiB (under the default 16 MiB cap), of which at most 5 MiB (the window plus what the engine
    // buffers) may be written while nobody reads. Kubernetes: 120 MiB, of which at most 100 MiB: between the
    // program and the daemon sit two TCP hops (kubelet -> API server -> daemon) whose receive buffers the kernel
    // may grow to net.ipv4.tcp_rmem's maximum (32 MiB each here), plus the daemon's window; a loaded machine
    // grew them past 40 MiB in all. The daemon's own memory stays bounded (flow-control.test.ts measures it).
    const chunks = onKubernetes ? 480 : 240;
    const chunkBytes = onKubernetes ? 262144 : 65536;
    const bufferedChunks = onKubernetes ? 400 : 80;
    const shell = `i=0; while [ $i -lt ${chunks} ]; do head -c ${chunkBytes} /dev/zero | tr '\\0' "$((i % 10))"; i=$((i+1)); echo $i > /tmp/fallback-count; done`;
    const stream = rawExec(d.address, { sandboxId, shell, timeoutMs: 60_000 });
    try {
      const count = async () => Number((await collect(d.sandbox.exec({ sandboxId, shell: "cat /tmp/fallback-count 2>/dev/null || echo 0" }))).stdout.trim());
      // Blocked: the count stops moving once the buffers on the way are full (sooner or later on a loaded machine),
      // and then stays put.
      let first = -1;
      let second = await count();
      for (let i = 0; i < 40 && second !== first; i++) {
        await new Promise((r) => setTimeout(r, 500));
        first = second;
        second = await count();
      }
      await new Promise((r) => setTimeout(r, 1500));
      const third = await count();
      console.log(`exec fallback, stalled reader: ${third} of ${chunks} chunks written`);
      expect(third).toBeLessThanOrEqual(bufferedChunks);
      expect(third - second).toBeLessThanOrEqual(1);
      let offset = 0;
      const parts: Buffer[] = [];
      let exit;
      for await (const { event } of stream) {
        const e = event?.event;
        if (e?.case === "output") {
          expect(Number(e.value.offset)).toBe(offset);
          offset += e.value.data.byteLength;
          parts.push(Buffer.from(e.value.data));
        }
        if (e?.case === "exited") exit = e.value;
      }
      const data = Buffer.concat(parts);
      expect(data.length).toBe(chunks * chunkBytes);
      for (let i = 0; i < chunks; i++) if (data[i * chunkBytes] !== 48 + (i % 10)) throw new Error(`chunk ${i} out of order`);
      expect(exit?.status).toBe(ExitStatus.EXITED);
      expect(exit?.truncated).toBe(false);
    } finally {
      stream.cancel();
    }
  });

  it("moves files in and out (FILE, TAR, refusals) through the same fallback channel", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const sha = createHash("sha256").update(data).digest("hex");
    const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => ({
      message: { case: "chunk" as const, value: data.subarray(i * 65536, (i + 1) * 65536) },
    }));
    const up = await d.sandbox.uploadFiles([{ message: { case: "header", value: { sandboxId, path: "in/blob.bin", mode: 0o600 } } }, ...chunks]);
    expect(up.sha256).toBe(sha);
    const parts: Buffer[] = [];
    let trailerSha = "";
    for await (const r of d.sandbox.downloadFiles({ sandboxId, path: "in/blob.bin" })) {
      if (r.message.case === "chunk") parts.push(Buffer.from(r.message.value));
      if (r.message.case === "trailer") trailerSha = r.message.value.sha256;
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(trailerSha).toBe(sha);
    const p = tarPack();
    p.entry({ name: "t/a.txt", mode: 0o644 }, "from tar");
    p.finalize();
    const tarChunks: Buffer[] = [];
    for await (const c of p) tarChunks.push(Buffer.from(c as Uint8Array));
    const tar = await d.sandbox.uploadFiles([
      { message: { case: "header", value: { sandboxId, path: "tree", kind: TransferKind.TAR } } },
      { message: { case: "chunk", value: Buffer.concat(tarChunks) } },
    ]);
    expect(tar.files).toBe(1);
    expect((await collect(d.sandbox.exec({ sandboxId, shell: "stat -c %a in/blob.bin; cat tree/t/a.txt" }))).stdout).toBe("600\nfrom tar");
    const refused = await d.sandbox
      .uploadFiles([{ message: { case: "header", value: { sandboxId, path: "/etc/evil" } } }, { message: { case: "chunk", value: Buffer.from("x") } }])
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 7 });
    const missing = async () => {
      for await (const _ of d.sandbox.downloadFiles({ sandboxId, path: "no/such" })) void _;
    };
    await expect(missing()).rejects.toMatchObject({ code: 5 });
  });
});

describe("terminals without python3 in the image", () => {
  it("are refused with FAILED_PRECONDITION, reason TERMINAL_NEEDS_AGENT (they need the agent's pty)", async () => {
    const terminals = createClient(TerminalService, d.address);
    try {
      const call = terminals.terminal();
      call.send({ message: { case: "open", value: { sandboxId } } });
      const err = await (async () => {
        try {
          for await (const _ of call.responses) void _;
        } catch (e) {
          return e as grpc.ServiceError;
        }
        return undefined;
      })();
      expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(err?.details).toMatch(/terminals need/);
    } finally {
      terminals.close();
    }
  });
});
