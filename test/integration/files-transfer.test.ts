import { createHash, randomBytes } from "node:crypto";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransferKind, type DownloadHeader, type DownloadTrailer, type UploadFilesRequest } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { UploadFilesRequestSchema } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect, collectTransfer } from "../helpers/events.js";

let d: DaemonHandle;
let sandboxId: string;

type UploadMsg = MessageInitShape<typeof UploadFilesRequestSchema>;

beforeAll(async () => {
  d = await startDaemon();
  const res = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = res.sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
});

function* uploadMessages(path: string, data: Buffer, opts: { kind?: TransferKind; mode?: number; chunk?: number } = {}): Generator<UploadMsg> {
  yield { message: { case: "header", value: { sandboxId, path, kind: opts.kind ?? TransferKind.FILE, mode: opts.mode ?? 0 } } };
  const size = opts.chunk ?? 64 * 1024;
  for (let off = 0; off < data.length; off += size) yield { message: { case: "chunk", value: data.subarray(off, off + size) } };
}

async function download(path: string, kind = TransferKind.UNSPECIFIED) {
  const { head, trailer, data } = await collectTransfer<DownloadHeader, DownloadTrailer>(d.sandbox.downloadFiles({ sandboxId, path, kind }), "header");
  return { header: head, trailer, data };
}

async function sh(script: string) {
  return collect(d.sandbox.exec({ sandboxId, shell: script }));
}

async function tarOf(
  entries: { name: string; type?: "file" | "directory" | "symlink" | "link" | "character-device" | "fifo"; data?: string; linkname?: string; mode?: number }[],
): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  // Read while packing: the pack stream holds back entries nobody reads.
  const read = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    const type = e.type ?? "file";
    const header = { name: e.name, type, mode: e.mode ?? (type === "directory" ? 0o755 : 0o644), ...(e.linkname ? { linkname: e.linkname } : {}) };
    await new Promise<void>((resolve, reject) =>
      p.entry(header, type === "file" ? (e.data ?? "") : (undefined as never), (err) => (err ? reject(err) : resolve())),
    );
  }
  p.finalize();
  await read;
  return Buffer.concat(chunks);
}

async function untar(data: Buffer): Promise<Map<string, { type: string; data: string; linkname: string }>> {
  const ex = tarExtract();
  const out = new Map<string, { type: string; data: string; linkname: string }>();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(Buffer.from(c as Uint8Array));
      out.set(entry.header.name, { type: entry.header.type, data: Buffer.concat(chunks).toString(), linkname: entry.header.linkname ?? "" });
    }
  })();
  ex.end(data);
  await done;
  return out;
}

const code = (err: unknown) => (err as { code?: number }).code;

describe("UploadFiles / DownloadFiles", () => {
  it("uploads a file with its mode, creating parents, and downloads the same bytes", async () => {
    const data = randomBytes(300_000);
    const sha = createHash("sha256").update(data).digest("hex");
    const res = await d.sandbox.uploadFiles(uploadMessages("data/nested/blob.bin", data, { mode: 0o750 }));
    expect(Number(res.bytes)).toBe(data.length);
    expect(res.files).toBe(1);
    expect(res.sha256).toBe(sha);
    const ls = await sh("stat -c '%a %s' /sandbox/data/nested/blob.bin && ls -A /sandbox/data/nested");
    expect(ls.stdout).toBe(`750 ${data.length}\nblob.bin\n`);
    const dl = await download("/sandbox/data/nested/blob.bin");
    expect(dl.header?.kind).toBe(TransferKind.FILE);
    expect(dl.header?.mode).toBe(0o750);
    expect(Number(dl.header?.size)).toBe(data.length);
    expect(dl.data.equals(data)).toBe(true);
    expect(dl.trailer?.sha256).toBe(sha);
    expect(Number(dl.trailer?.bytes)).toBe(data.length);
  });

  it("gives new files mode 0644 by default, replaces existing ones, and accepts an empty file", async () => {
    await d.sandbox.uploadFiles(uploadMessages("plain.txt", Buffer.from("first")));
    await d.sandbox.uploadFiles(uploadMessages("plain.txt", Buffer.from("second")));
    await d.sandbox.uploadFiles(uploadMessages("/tmp/empty", Buffer.alloc(0)));
    const r = await sh("stat -c '%a' plain.txt; cat plain.txt; echo; stat -c '%s' /tmp/empty");
    expect(r.stdout).toBe("644\nsecond\n0\n");
  });

  it("unpacks a tar (a project directory) in one call and downloads a directory as tar", async () => {
    const tar = await tarOf([
      { name: "proj/", type: "directory" },
      { name: "proj/main.py", data: "from lib.util import f\nprint(f())\n" },
      { name: "proj/lib/__init__.py", data: "" },
      { name: "proj/lib/util.py", data: "def f():\n    return 'imported ok'\n" },
      { name: "proj/run.sh", data: "#!/bin/sh\necho run\n", mode: 0o755 },
      { name: "proj/node_modules/.bin/tool", type: "symlink", linkname: "../pkg/bin.js" },
      { name: "proj/node_modules/pkg/bin.js", data: "x" },
    ]);
    const res = await d.sandbox.uploadFiles(uploadMessages("work", tar, { kind: TransferKind.TAR, chunk: 1000 }));
    expect(res.files).toBe(5);
    expect(res.sha256).toBe(createHash("sha256").update(tar).digest("hex"));
    const run = await collect(
      d.sandbox.run({ sandboxId, code: "import runpy, sys\nsys.path.insert(0, '/sandbox/work/proj')\nrunpy.run_path('/sandbox/work/proj/main.py')" }),
    );
    expect(run.stdout).toBe("imported ok\n");
    const check = await sh("cd work/proj && stat -c '%a' run.sh && readlink node_modules/.bin/tool && cat node_modules/.bin/tool && ls -A /sandbox/work");
    expect(check.stdout).toBe("755\n../pkg/bin.js\nxproj\n");

    const dl = await download("work/proj");
    expect(dl.header?.kind).toBe(TransferKind.TAR);
    const entries = await untar(dl.data);
    expect(entries.get("./lib/util.py")?.data).toBe("def f():\n    return 'imported ok'\n");
    expect(entries.get("./node_modules/.bin/tool")).toMatchObject({ type: "symlink", linkname: "../pkg/bin.js" });
    expect(dl.trailer?.sha256).toBe(createHash("sha256").update(dl.data).digest("hex"));

    // A second tar merges into the existing directory.
    await d.sandbox.uploadFiles(
      uploadMessages(
        "work/proj",
        await tarOf([
          { name: "extra.txt", data: "more" },
          { name: "lib/util.py", data: "new" },
        ]),
        { kind: TransferKind.TAR },
      ),
    );
    const merged = await sh("cd work/proj && cat extra.txt lib/util.py main.py | head -c 200");
    expect(merged.stdout).toBe("morenewfrom lib.util import f\nprint(f())\n");

    // An empty path is the workdir itself: a project's files land beside the program.
    const top = await d.sandbox.uploadFiles(
      uploadMessages(
        "",
        await tarOf([
          { name: "top.txt", data: "top" },
          { name: "pkg/m.py", data: "X = 1" },
        ]),
        { kind: TransferKind.TAR },
      ),
    );
    expect(top.files).toBe(2);
    const imported = await collect(d.sandbox.run({ sandboxId, code: "import pkg.m\nprint(open('top.txt').read(), pkg.m.X)" }));
    expect(imported.stdout).toBe("top 1\n");
  });

  it("downloads one file as TAR when asked", async () => {
    await d.sandbox.uploadFiles(uploadMessages("one.txt", Buffer.from("single")));
    const dl = await download("one.txt", TransferKind.TAR);
    expect(dl.header?.kind).toBe(TransferKind.TAR);
    const entries = await untar(dl.data);
    expect(entries.get("one.txt")?.data).toBe("single");
  });

  it("answers NOT_FOUND for a missing path and INVALID_ARGUMENT for a directory asked as FILE", async () => {
    await expect(download("no/such/file")).rejects.toMatchObject({ code: 5 });
    await expect(download("/tmp/nothing-here")).rejects.toMatchObject({ code: 5 });
    await expect(download("work", TransferKind.FILE)).rejects.toMatchObject({ code: 3 });
  });

  it("refuses paths outside the workdir and /tmp, '..' and symlinks pointing out, writing nothing", async () => {
    await sh("ln -sfn /dev/shm /sandbox/shm-link && ln -sfn /etc /sandbox/etc-link && ln -sfn /sandbox/work /tmp/inside-link");
    const attempts: [string, number][] = [
      ["/etc/evil", 7],
      ["/dev/shm/evil", 7],
      ["/sandbox-other/evil", 7],
      ["../evil", 3],
      ["data/../../evil", 3],
      ["/tmp/../dev/shm/evil", 3],
      ["shm-link/evil", 7],
      ["etc-link/evil", 7],
    ];
    for (const [path, status] of attempts) {
      const err = await d.sandbox.uploadFiles(uploadMessages(path, Buffer.from("x"))).catch((e: unknown) => e);
      expect(code(err), path).toBe(status);
    }
    const shm = await sh("ls -A /dev/shm; ls -A /sandbox | grep -c sandboxd-upload; true");
    expect(shm.stdout).toBe("0\n");
    // Downloads through a link out, or of devices, are refused too; a link inside is followed.
    await expect(download("etc-link/passwd")).rejects.toMatchObject({ code: 7 });
    await expect(download("/etc/passwd")).rejects.toMatchObject({ code: 7 });
    await expect(download("/dev/null")).rejects.toMatchObject({ code: 7 });
    const inside = await download("/tmp/inside-link/proj/extra.txt");
    expect(inside.data.toString()).toBe("more");
  });

  it("refuses bad tar entries and keeps nothing of such an upload", async () => {
    const bad: [string, Parameters<typeof tarOf>[0], number][] = [
      [
        "absolute name",
        [
          { name: "ok.txt", data: "ok" },
          { name: "/tmp/abs-evil", data: "x" },
        ],
        3,
      ],
      [
        "dot-dot name",
        [
          { name: "ok.txt", data: "ok" },
          { name: "a/../../dotdot-evil", data: "x" },
        ],
        3,
      ],
      [
        "hard link",
        [
          { name: "ok.txt", data: "ok" },
          { name: "hard", type: "link", linkname: "ok.txt" },
        ],
        3,
      ],
      [
        "device",
        [
          { name: "ok.txt", data: "ok" },
          { name: "null", type: "character-device" },
        ],
        3,
      ],
      [
        "fifo",
        [
          { name: "ok.txt", data: "ok" },
          { name: "pipe", type: "fifo" },
        ],
        3,
      ],
      [
        "symlink out",
        [
          { name: "ok.txt", data: "ok" },
          { name: "out", type: "symlink", linkname: "/dev/shm" },
        ],
        7,
      ],
      [
        "symlink climbing out",
        [
          { name: "ok.txt", data: "ok" },
          { name: "sub/up", type: "symlink", linkname: "../../.." },
        ],
        7,
      ],
      [
        "symlink with inner ..",
        [
          { name: "ok.txt", data: "ok" },
          { name: "self", type: "symlink", linkname: "." },
          { name: "esc", type: "symlink", linkname: "self/../x" },
        ],
        7,
      ],
      [
        "write through symlink",
        [
          { name: "ok.txt", data: "ok" },
          { name: "lnk", type: "symlink", linkname: "sub" },
          { name: "lnk/f", data: "x" },
        ],
        7,
      ],
    ];
    for (const [what, entries, status] of bad) {
      const tar = await tarOf(entries);
      const err = await d.sandbox.uploadFiles(uploadMessages("bad-upload/target", tar, { kind: TransferKind.TAR })).catch((e: unknown) => e);
      expect(code(err), what).toBe(status);
    }
    const garbage = await d.sandbox.uploadFiles(uploadMessages("bad-upload/target", randomBytes(5000), { kind: TransferKind.TAR })).catch((e: unknown) => e);
    expect(code(garbage)).toBe(3);
    const left = await sh(
      "ls -A /sandbox/bad-upload 2>&1; ls -A /tmp | grep -c -e abs-evil -e sandboxd-upload; ls -A /dev/shm; find / -name dotdot-evil 2>/dev/null | wc -l",
    );
    expect(left.stdout).toBe("ls: cannot access '/sandbox/bad-upload': No such file or directory\n0\n0\n");
  });

  it("keeps nothing of an upload the client abandons midway (FILE and TAR)", async () => {
    const tar = await tarOf(Array.from({ length: 40 }, (_, i) => ({ name: `f${i}.bin`, data: randomBytes(30_000).toString("hex") })));
    for (const [kind, path, data] of [
      [TransferKind.FILE, "abandoned/file.bin", randomBytes(20 * 64 * 1024)],
      [TransferKind.TAR, "abandoned-tree/dir", tar.subarray(0, tar.length - 200_000)],
    ] as const) {
      async function* abandoned(): AsyncGenerator<UploadMsg> {
        yield* uploadMessages(path, data, { kind });
        await new Promise((r) => setTimeout(r, 300));
        // The client helper cancels the call when its message source fails.
        throw new Error("client gave up");
      }
      await expect(d.sandbox.uploadFiles(abandoned())).rejects.toThrow("client gave up");
      // The daemon never commits a cancelled upload, and removes what it staged (and the
      // parent it created) within moments.
      let left = "";
      for (let i = 0; i < 50; i++) {
        left = (await sh("ls -A /sandbox | grep -c abandoned; true")).stdout;
        if (left === "0\n") break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(left, `${kind}`).toBe("0\n");
    }
  });

  it("answers RESOURCE_EXHAUSTED when the sandbox's disk is full, keeping nothing", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", resources: { diskBytes: BigInt(16 * 1024 * 1024) } } });
    const id = sandbox?.id ?? "";
    try {
      const big = Buffer.alloc(24 * 1024 * 1024, 1);
      const msgs = [...uploadMessages("too-big.bin", big, { chunk: 1024 * 1024 })].map((m) =>
        m.message?.case === "header" ? { message: { case: "header" as const, value: { ...m.message.value, sandboxId: id } } } : m,
      );
      const err = await d.sandbox.uploadFiles(msgs).catch((e: unknown) => e);
      expect(code(err)).toBe(8);
      const left = await collect(d.sandbox.exec({ sandboxId: id, shell: "ls -A /sandbox | wc -l" }));
      expect(left.stdout).toBe("0\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("rejects a stream that does not start with a header, and another tenant's or unknown sandbox", async () => {
    const noHeader = await d.sandbox.uploadFiles([{ message: { case: "chunk", value: Buffer.from("x") } }]).catch((e: unknown) => e);
    expect(code(noHeader)).toBe(3);
    const unknown = await d.sandbox.uploadFiles([{ message: { case: "header", value: { sandboxId: "sbx_nope", path: "x" } } }]).catch((e: unknown) => e);
    expect(code(unknown)).toBe(5);
    await expect(d.sandbox.downloadFiles({ sandboxId: "sbx_nope", path: "x" })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 5 });
    const badMode = await d.sandbox.uploadFiles(uploadMessages("m.txt", Buffer.from("x"), { mode: 0o170000 })).catch((e: unknown) => e);
    expect(code(badMode)).toBe(3);
  });
});

export type { UploadFilesRequest };
