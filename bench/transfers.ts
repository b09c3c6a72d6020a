/**
 * Benchmark: 1 GiB through UploadFiles and DownloadFiles (FILE kind, 256 KiB chunks) vs the
 * engine's own archive API moving the same bytes (dockerode putArchive of a tar holding one
 * 1 GiB file, getArchive of it back), into and out of a container of the same image, in the
 * same run. MiB/s each; the daemon's RSS is sampled every 50 ms during each transfer and
 * the peak growth over the start is reported (goal <= 64 MiB: the transfer streams).
 * The sandbox's workdir is a tmpfs counted against its memory, so the sandbox asks for a
 * disk and memory large enough for the file. The baseline container has the same image and
 * command but a writable root and no tmpfs (the archive API writes the container's root
 * filesystem, not its tmpfs mounts, and refuses a read-only root).
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TransferKind, type UploadFilesRequestSchema } from "../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { sandboxClient } from "./lib/client.js";
import { collect, envInt, readySandbox } from "./lib/common.js";
import { processStats, startBenchDaemon } from "./lib/daemon.js";
import { carriers, withCpu } from "./lib/cpu.js";
import { createOptionsLike, docker, rawCreateStart, removeContainer } from "./lib/engine.js";
import { goal, isMain, mainOf, runBenchmark, type BenchResult } from "./lib/result.js";
import { now, ratio, round } from "./lib/stats.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const chunkBytes = 256 * 1024;

/** The i-th 256 KiB chunk of the payload: one block with its index stamped in, so order matters. */
function makeChunks(block: Buffer, count: number): () => Generator<Buffer> {
  return function* () {
    for (let i = 0; i < count; i++) {
      const c = Buffer.from(block);
      c.writeUInt32BE(i, 0);
      yield c;
    }
  };
}

/** A ustar header for one regular file. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  h.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, "0")}\0`,
    136,
    "ascii",
  );
  h.write("        ", 148, "ascii");
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

/** Samples the daemon's RSS while `fn` runs; the peak growth over the value at the start. */
async function withRss<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; ms: number; rssGrowthBytes: number }> {
  const base = processStats(pid).rssBytes;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, processStats(pid).rssBytes);
  }, 50);
  const t0 = now();
  try {
    const result = await fn();
    const ms = now() - t0;
    peak = Math.max(peak, processStats(pid).rssBytes);
    return { result, ms, rssGrowthBytes: peak - base };
  } finally {
    clearInterval(timer);
  }
}

export function run(): Promise<BenchResult> {
  return runBenchmark("transfers", "1 GiB UploadFiles / DownloadFiles vs the engine's archive put/get of the same bytes", async (ctx) => {
    const totalBytes = envInt("BENCH_TRANSFER_MIB", 1024) * MiB;
    const repeats = envInt("BENCH_TRANSFER_REPEATS", 2);
    const count = Math.ceil(totalBytes / chunkBytes);
    // Both tmpfs mounts (workdir, /tmp) may hold disk_bytes; a quarter of the memory stays for processes.
    const diskBytes = totalBytes + 256 * MiB;
    const memoryBytes = Math.ceil((2 * diskBytes * 4) / 3 / MiB) * MiB + 64 * MiB;
    ctx.config = { bytes: totalBytes, chunkBytes, repeats, sandbox: { diskBytes, memoryBytes }, kind: "FILE" };
    const d = await startBenchDaemon();
    const client = sandboxClient(d.address);
    const pid = d.process.pid as number;
    let rawId: string | undefined;
    try {
      const sb = await readySandbox(client, { resources: { diskBytes: BigInt(diskBytes), memoryBytes: BigInt(memoryBytes) } });
      const opts = await createOptionsLike(sb.containerId);
      opts.HostConfig = { ...opts.HostConfig, ReadonlyRootfs: false, Tmpfs: {}, Memory: 0, MemorySwap: 0 };
      opts.User = "0:0";
      rawId = await rawCreateStart(opts);
      const raw = docker.getContainer(rawId);
      const chunks = makeChunks(Buffer.alloc(chunkBytes, 0x5a), count);
      const expected = createHash("sha256");
      for (const c of chunks()) expected.update(c);
      const sha = expected.digest("hex");

      // Warm-up: module loading and JIT, so the RSS growth measured is the transfer's.
      const warm = Buffer.alloc(8 * MiB, 1);
      await client.uploadFiles([
        { message: { case: "header", value: { sandboxId: sb.id, path: "warm.bin" } } },
        ...Array.from({ length: 32 }, (_, i) => ({ message: { case: "chunk" as const, value: warm.subarray(i * chunkBytes, (i + 1) * chunkBytes) } })),
      ]);
      for await (const _ of client.downloadFiles({ sandboxId: sb.id, path: "warm.bin" })) void _;

      const rows: Record<string, number>[] = [];
      const cpuRows: Record<string, Record<string, number>>[] = [];
      for (let r = 0; r < repeats; r++) {
        async function* messages(): AsyncGenerator<MessageInitShape<typeof UploadFilesRequestSchema>> {
          yield { message: { case: "header", value: { sandboxId: sb.id, path: "big.bin", kind: TransferKind.FILE } } };
          for (const c of chunks()) yield { message: { case: "chunk", value: c } };
        }
        const ours = () => ({ daemon: [pid], bench: [process.pid], ...carriers(sb.containerId) });
        const engine = () => ({ bench: [process.pid], ...carriers(rawId as string) });
        const upCpu = await withCpu(ours, () => withRss(pid, () => client.uploadFiles(messages())));
        const up = upCpu.result;
        if (Number(up.result.bytes) !== count * chunkBytes || up.result.sha256 !== sha) throw new Error("upload: wrong bytes or hash");
        const downCpu = await withCpu(ours, () =>
          withRss(pid, async () => {
            const h = createHash("sha256");
            let bytes = 0;
            for await (const m of client.downloadFiles({ sandboxId: sb.id, path: "big.bin" })) {
              if (m.message.case === "chunk") {
                h.update(m.message.value);
                bytes += m.message.value.byteLength;
              }
            }
            return { bytes, sha: h.digest("hex") };
          }),
        );
        const down = downCpu.result;
        if (down.result.bytes !== count * chunkBytes || down.result.sha !== sha) throw new Error("download: wrong bytes or hash");
        // An upload stages beside the old file until it commits: make room for the next round.
        await collect(client.exec({ sandboxId: sb.id, argv: ["rm", "-f", "big.bin"] }));

        // The engine: the same bytes as a tar into the container's root, and back out.
        const putCpu = await withCpu(engine, async () => {
          const t0 = now();
          await raw.putArchive(
            Readable.from(
              (function* () {
                yield tarHeader("big.bin", count * chunkBytes);
                yield* chunks();
                yield Buffer.alloc(1024);
              })(),
            ),
            { path: "/tmp" },
          );
          return now() - t0;
        });
        const putMs = putCpu.result;
        const getCpu = await withCpu(engine, async () => {
          const t1 = now();
          const tarStream = (await raw.getArchive({ path: "/tmp/big.bin" })) as NodeJS.ReadableStream;
          let tarBytes = 0;
          for await (const c of tarStream) tarBytes += (c as Buffer).length;
          if (tarBytes < count * chunkBytes) throw new Error(`getArchive returned ${tarBytes} bytes`);
          return now() - t1;
        });
        const getMs = getCpu.result;
        await raw.exec({ Cmd: ["rm", "-f", "/tmp/big.bin"] }).then((e) => e.start({ Detach: true }));
        const bytesMiB = (count * chunkBytes) / MiB;
        rows.push({
          upload_mib_s: round(bytesMiB / (up.ms / 1000), 1),
          download_mib_s: round(bytesMiB / (down.ms / 1000), 1),
          engine_put_mib_s: round(bytesMiB / (putMs / 1000), 1),
          engine_get_mib_s: round(bytesMiB / (getMs / 1000), 1),
          upload_rss_growth_mib: round(up.rssGrowthBytes / MiB, 1),
          download_rss_growth_mib: round(down.rssGrowthBytes / MiB, 1),
        });
        // CPU ms per process group: where each path spends, load-independent unlike MiB/s.
        cpuRows.push({ upload: upCpu.cpuMs, download: downCpu.cpuMs, engine_put: putCpu.cpuMs, engine_get: getCpu.cpuMs });
      }
      ctx.metrics["rounds"] = rows;
      ctx.metrics["cpu_ms"] = cpuRows;
      const best = (k: string) => Math.max(...rows.map((x) => x[k] as number));
      const worst = (k: string) => Math.max(...rows.map((x) => x[k] as number));
      const upRatio = ratio(best("upload_mib_s"), best("engine_put_mib_s"));
      const downRatio = ratio(best("download_mib_s"), best("engine_get_mib_s"));
      ctx.metrics["best"] = {
        upload_mib_s: best("upload_mib_s"),
        download_mib_s: best("download_mib_s"),
        engine_put_mib_s: best("engine_put_mib_s"),
        engine_get_mib_s: best("engine_get_mib_s"),
      };
      ctx.goals.push(
        goal("upload_over_engine_put", `UploadFiles ${totalBytes / GiB} GiB MiB/s ÷ engine putArchive MiB/s (best of ${repeats} each)`, ">=", 0.8, upRatio),
        goal(
          "download_over_engine_get",
          `DownloadFiles ${totalBytes / GiB} GiB MiB/s ÷ engine getArchive MiB/s (best of ${repeats} each)`,
          ">=",
          0.8,
          downRatio,
        ),
        goal("upload_rss_growth_mib", "daemon RSS peak growth during the upload (worst round), MiB", "<=", 64, worst("upload_rss_growth_mib")),
        goal("download_rss_growth_mib", "daemon RSS peak growth during the download (worst round), MiB", "<=", 64, worst("download_rss_growth_mib")),
      );
      ctx.reported.push(
        { metric: "upload_mib_s", description: "UploadFiles throughput (best)", value: best("upload_mib_s"), unit: "MiB/s" },
        { metric: "download_mib_s", description: "DownloadFiles throughput (best)", value: best("download_mib_s"), unit: "MiB/s" },
      );
    } finally {
      client.close();
      if (rawId) await removeContainer(rawId);
      await d.stop();
    }
  });
}

if (isMain(import.meta.url)) void mainOf(run);
