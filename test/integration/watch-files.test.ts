import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileEventType, type FileEvent } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

let d: DaemonHandle;
let sandboxId: string;
let workdir: string;

beforeAll(async () => {
  d = await startDaemon();
  const res = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = res.sandbox?.id ?? "";
  workdir = res.sandbox?.spec?.workdir ?? "";
});

afterAll(async () => {
  await d?.stop();
});

const name = (t: FileEventType) => FileEventType[t];

/**
 * Opens a watch, runs `shell` in the sandbox once it is ready, and collects events until
 * `until` says enough (or 20 s pass: then the test fails on what it got).
 */
async function watchWhile(req: { path: string; recursive: boolean }, shell: string, until: (seen: FileEvent[]) => boolean): Promise<FileEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 20_000);
  const seen: FileEvent[] = [];
  try {
    for await (const m of d.sandbox.watchFiles({ sandboxId, ...req }, { signal: abort.signal })) {
      if (m.message.case === "ready") {
        const r = await collect(d.sandbox.exec({ sandboxId, shell }));
        expect(r.exit.exitCode).toBe(0);
      } else if (m.message.case === "event") {
        seen.push(m.message.value);
        if (until(seen)) break;
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

describe("WatchFiles (issue 18, section 5)", () => {
  it("reports writing, renaming and deleting a file in order, with absolute paths", async () => {
    const seen = await watchWhile({ path: "", recursive: false }, "echo hi > a.txt && mv a.txt b.txt && rm b.txt", (s) =>
      s.some((e) => e.type === FileEventType.REMOVE && e.path.endsWith("/b.txt")),
    );
    const a = `${workdir}/a.txt`;
    const b = `${workdir}/b.txt`;
    expect(seen.map((e) => [name(e.type), e.path, e.oldPath])).toEqual([
      ["CREATE", a, ""],
      ["WRITE", a, ""],
      ["RENAME", b, a],
      ["REMOVE", b, ""],
    ]);
  });

  it("recursive: changes in subdirectories, including ones created after the watch began", async () => {
    const seen = await watchWhile({ path: "/tmp", recursive: true }, "mkdir -p /tmp/w1/deeper && sleep 0.3 && echo x > /tmp/w1/deeper/out.csv", (s) =>
      s.some((e) => e.type === FileEventType.WRITE && e.path === "/tmp/w1/deeper/out.csv"),
    );
    expect(seen.find((e) => e.path === "/tmp/w1")).toMatchObject({ type: FileEventType.CREATE, isDir: true });
    expect(seen.some((e) => e.type === FileEventType.WRITE && e.path === "/tmp/w1/deeper/out.csv")).toBe(true);
  });

  it("non-recursive: a subdirectory's changes are not reported", async () => {
    await collect(d.sandbox.exec({ sandboxId, shell: "mkdir -p sub" }));
    const seen = await watchWhile({ path: workdir, recursive: false }, "echo x > sub/inner && echo y > top", (s) => s.some((e) => e.path.endsWith("/top")));
    expect(seen.some((e) => e.path.includes("/sub/"))).toBe(false);
  });

  it("ends when the sandbox is destroyed", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox?.id ?? "";
    let ready = false;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 30_000);
    try {
      for await (const m of d.sandbox.watchFiles({ sandboxId: id, path: "/tmp" }, { signal: abort.signal })) {
        if (m.message.case === "ready") {
          ready = true;
          await d.sandbox.destroySandbox({ sandboxId: id });
        }
      }
    } finally {
      clearTimeout(timer);
    }
    expect(ready).toBe(true);
    expect(abort.signal.aborted).toBe(false);
  });

  it("refuses a missing path and a missing sandbox (NOT_FOUND), no sandbox id (INVALID_ARGUMENT)", async () => {
    const code = async (req: { sandboxId: string; path: string }) => {
      try {
        for await (const _ of d.sandbox.watchFiles(req)) break;
      } catch (err) {
        return (err as { code: number }).code;
      }
      return status.OK;
    };
    expect(await code({ sandboxId, path: "/no/such/dir" })).toBe(status.NOT_FOUND);
    expect(await code({ sandboxId: "sb-missing", path: "/tmp" })).toBe(status.NOT_FOUND);
    expect(await code({ sandboxId: "", path: "/tmp" })).toBe(status.INVALID_ARGUMENT);
  });
});
