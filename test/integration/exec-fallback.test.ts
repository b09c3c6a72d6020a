import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { docker, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// An image the resident agent cannot start in (no python3): every run falls back to one
// engine exec, with the same events, exit statuses and deadlines.
let d: DaemonHandle;
let sandboxId: string;
let image = "";

beforeAll(async () => {
  d = await startDaemon();
  const dockerfile = { content: "FROM sandboxd/base:latest\nUSER root\nRUN rm -f /usr/bin/python3*\nUSER 1000:1000\n" };
  const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "bash", dockerfile } });
  sandboxId = sandbox!.id;
  image = sandbox!.image;
});

afterAll(async () => {
  await d?.stop();
  if (image) await docker.getImage(image).remove({ force: true }).catch(() => {});
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
});
