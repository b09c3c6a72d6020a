import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";
import { describe, expect, it } from "vitest";
import { SandboxdError } from "../common/errors.js";
import { allowedRoots, isWithinRoots, resolveClientPath } from "./sandbox-paths.js";
import { TarEntryGuard, repackTar } from "./tar-guard.js";

const entry = (name: string, type: Header["type"] = "file", extra: Partial<Header> = {}) => ({ name, type, mode: 0o644, size: 0, ...extra });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SandboxdError ? err.code : "not a SandboxdError";
  }
}

describe("TarEntryGuard", () => {
  it("normalizes names and keeps files, directories and contained symlinks", () => {
    const g = new TarEntryGuard();
    expect(g.check(entry("./", "directory"))).toBeNull();
    expect(g.check(entry("./proj/a.py"))).toMatchObject({ type: "file", name: "proj/a.py" });
    expect(g.check(entry("proj//sub/./b", "directory", { mode: 0o500 }))).toMatchObject({ type: "directory", name: "proj/sub/b", mode: 0o700 });
    expect(g.check(entry("proj/node_modules/.bin/x", "symlink", { linkname: "../pkg/cli.js" }))).toMatchObject({ type: "symlink", linkname: "../pkg/cli.js" });
    expect(g.check(entry("proj/link", "symlink", { linkname: "sub/b" }))).toMatchObject({ type: "symlink" });
  });

  it("refuses absolute and climbing names, links, devices and FIFOs", () => {
    const g = new TarEntryGuard();
    expect(codeOf(() => g.check(entry("/etc/passwd")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("a/../../x")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("..")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("bad\nname")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("hard", "link", { linkname: "x" })))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("dev", "character-device")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("blk", "block-device")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry("pipe", "fifo")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => g.check(entry(".sandboxd-upload-abc/x")))).toBe("INVALID_ARGUMENT");
  });

  it("refuses symlinks that leave the destination or could, and writes through them", () => {
    const g = new TarEntryGuard();
    expect(codeOf(() => g.check(entry("abs", "symlink", { linkname: "/etc" })))).toBe("PERMISSION_DENIED");
    expect(codeOf(() => g.check(entry("up", "symlink", { linkname: "../x" })))).toBe("PERMISSION_DENIED");
    expect(codeOf(() => g.check(entry("a/b/up", "symlink", { linkname: "../../../x" })))).toBe("PERMISSION_DENIED");
    expect(codeOf(() => g.check(entry("inner", "symlink", { linkname: "self/../x" })))).toBe("PERMISSION_DENIED");
    expect(g.check(entry("dir", "symlink", { linkname: "real" }))).not.toBeNull();
    expect(codeOf(() => g.check(entry("dir/file")))).toBe("PERMISSION_DENIED");
    expect(codeOf(() => g.check(entry("dir")))).toBe("INVALID_ARGUMENT");
  });
});

describe("repackTar", () => {
  async function tarOf(entries: { name: string; data?: string; type?: Header["type"]; linkname?: string }[]): Promise<Buffer> {
    const p = tarPack();
    for (const e of entries)
      p.entry(
        { name: e.name, type: e.type ?? "file", ...(e.linkname ? { linkname: e.linkname } : {}) },
        e.type && e.type !== "file" ? (undefined as never) : (e.data ?? ""),
      );
    p.finalize();
    const out: Buffer[] = [];
    for await (const c of p) out.push(Buffer.from(c as Uint8Array));
    return Buffer.concat(out);
  }

  async function names(tar: Buffer): Promise<string[]> {
    const ex = tarExtract();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of ex) {
        seen.push(`${e.header.type}:${e.header.name}`);
        for await (const _ of e) void _;
      }
    })();
    ex.end(tar);
    await done;
    return seen;
  }

  async function* chunks(buf: Buffer, size = 700): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  }

  it("re-packs the accepted entries and appends the commit marker", async () => {
    const out: Buffer[] = [];
    const res = await repackTar(
      chunks(
        await tarOf([
          { name: "./a.txt", data: "A" },
          { name: "d/", type: "directory" },
          { name: "d/b", data: "B".repeat(5000) },
        ]),
      ),
      async (c) => void out.push(Buffer.from(c)),
      ".marker",
      new AbortController().signal,
    );
    expect(res).toEqual({ files: 2, directories: 1, symlinks: 0 });
    expect(await names(Buffer.concat(out))).toEqual(["file:a.txt", "directory:d", "file:d/b", "file:.marker"]);
  });

  it("fails on a bad entry without writing the marker", async () => {
    const out: Buffer[] = [];
    const err = await repackTar(
      chunks(
        await tarOf([
          { name: "ok", data: "x" },
          { name: "/abs", data: "y" },
        ]),
      ),
      async (c) => void out.push(Buffer.from(c)),
      ".marker",
      new AbortController().signal,
    ).catch((e: unknown) => e);
    expect((err as SandboxdError).code).toBe("INVALID_ARGUMENT");
    expect(Buffer.concat(out).includes(Buffer.from(".marker"))).toBe(false);
  });

  it("calls garbage not a tar", async () => {
    const err = await repackTar(chunks(Buffer.alloc(3000, 7)), async () => {}, ".m", new AbortController().signal).catch((e: unknown) => e);
    expect((err as SandboxdError).code).toBe("INVALID_ARGUMENT");
  });
});

describe("client paths", () => {
  it("resolves relative paths against the workdir and refuses '..'", () => {
    expect(resolveClientPath("/sandbox", "a/b.txt")).toBe("/sandbox/a/b.txt");
    expect(resolveClientPath("/sandbox", "")).toBe("/sandbox");
    expect(resolveClientPath("/sandbox", "/tmp/x/")).toBe("/tmp/x");
    expect(codeOf(() => resolveClientPath("/sandbox", "../x"))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => resolveClientPath("/sandbox", "a\0b"))).toBe("INVALID_ARGUMENT");
  });

  it("allows only the workdir and /tmp", () => {
    const roots = allowedRoots("/sandbox");
    expect(isWithinRoots("/sandbox", roots)).toBe(true);
    expect(isWithinRoots("/tmp/a", roots)).toBe(true);
    expect(isWithinRoots("/sandboxes/a", roots)).toBe(false);
    expect(isWithinRoots("/tmpfoo", roots)).toBe(false);
    expect(isWithinRoots("/etc/passwd", roots)).toBe(false);
  });
});
