import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransferKind, type UploadFilesRequestSchema } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { repoRoot, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon();
  // tmpfs pages count against the container's memory, so both are sized for the file: the
  // workdir and /tmp (1.25 GiB each) must leave a quarter of the memory to processes.
  const res = await d.sandbox.createSandbox({ spec: { language: "python", resources: { diskBytes: BigInt(1.25 * GiB), memoryBytes: BigInt(3.5 * GiB) } } });
  sandboxId = res.sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
});

/** Samples the daemon's RSS while `fn` runs; returns the peak growth over the baseline. */
async function peakRssGrowth<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const base = d.rssBytes();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, d.rssBytes());
  }, 50);
  try {
    const result = await fn();
    peak = Math.max(peak, d.rssBytes());
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

describe("large transfers", () => {
  it("round-trips 1 GiB with the daemon's RSS growing less than 64 MiB", async () => {
    // Warm up the code paths (module loading, JIT) so only size-dependent growth is measured.
    const warm = randomBytes(8 * MiB);
    await d.sandbox.uploadFiles([
      { message: { case: "header", value: { sandboxId, path: "warm.bin" } } },
      ...Array.from({ length: 32 }, (_, i) => ({ message: { case: "chunk" as const, value: warm.subarray(i * 256 * 1024, (i + 1) * 256 * 1024) } })),
    ]);
    for await (const _ of d.sandbox.downloadFiles({ sandboxId, path: "warm.bin" })) void _;
    const block = randomBytes(256 * 1024);
    const sent = createHash("sha256");
    async function* messages(): AsyncGenerator<MessageInitShape<typeof UploadFilesRequestSchema>> {
      yield { message: { case: "header", value: { sandboxId, path: "big.bin", kind: TransferKind.FILE } } };
      for (let i = 0; i < 4096; i++) {
        const chunk = Buffer.from(block);
        chunk.writeUInt32BE(i, 0); // every chunk differs, so order matters to the hash
        sent.update(chunk);
        yield { message: { case: "chunk", value: chunk } };
      }
    }
    const t0 = Date.now();
    const up = await peakRssGrowth(() => d.sandbox.uploadFiles(messages()));
    const uploadMs = Date.now() - t0;
    const sha = sent.digest("hex");
    expect(Number(up.result.bytes)).toBe(GiB);
    expect(up.result.sha256).toBe(sha);

    const t1 = Date.now();
    const down = await peakRssGrowth(async () => {
      const h = createHash("sha256");
      let bytes = 0;
      let trailer: { bytes: bigint; sha256: string } | undefined;
      for await (const r of d.sandbox.downloadFiles({ sandboxId, path: "big.bin" })) {
        if (r.message.case === "chunk") {
          h.update(r.message.value);
          bytes += r.message.value.byteLength;
        } else if (r.message.case === "trailer") trailer = r.message.value;
      }
      return { sha: h.digest("hex"), bytes, trailer };
    });
    const downloadMs = Date.now() - t1;
    expect(down.result.bytes).toBe(GiB);
    expect(down.result.sha).toBe(sha);
    expect(down.result.trailer?.sha256).toBe(sha);
    const numbers = { uploadMs, downloadMs, uploadRssGrowthMiB: +(up.growth / MiB).toFixed(1), downloadRssGrowthMiB: +(down.growth / MiB).toFixed(1) };
    mkdirSync(join(repoRoot, ".cache", "bench"), { recursive: true });
    writeFileSync(join(repoRoot, ".cache", "bench", "files-large.json"), `${JSON.stringify(numbers)}\n`);
    expect(up.growth).toBeLessThan(64 * MiB);
    expect(down.growth).toBeLessThan(64 * MiB);
  }, 300_000);

  it("holds a slow reader back instead of buffering in the daemon", async () => {
    const made = await collect(d.sandbox.exec({ sandboxId, shell: "head -c 268435456 /dev/zero > /tmp/zeros.bin && echo ok" }));
    expect(made.stdout).toBe("ok\n");
    const base = d.rssBytes();
    const it = d.sandbox.downloadFiles({ sandboxId, path: "/tmp/zeros.bin" })[Symbol.asyncIterator]();
    let bytes = 0;
    const first = await it.next();
    expect(first.value?.message.case).toBe("header");
    // Read a little, then stall: the daemon must not read the rest of the 256 MiB ahead.
    for (let i = 0; i < 4; i++) {
      const n = await it.next();
      if (n.value?.message.case === "chunk") bytes += n.value.message.value.byteLength;
    }
    await new Promise((r) => setTimeout(r, 3000));
    const stalledGrowth = d.rssBytes() - base;
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      if (n.value.message.case === "chunk") bytes += n.value.message.value.byteLength;
    }
    expect(bytes).toBe(256 * MiB);
    expect(stalledGrowth).toBeLessThan(32 * MiB);
  }, 120_000);
});
