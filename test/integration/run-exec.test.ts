import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, RunPhase, Stream } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { execBehind } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon({ args: ["--max-output-bytes", "1m"] });
  const res = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = res.sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
});

describe("Run", () => {
  it("streams stdout and stderr separately and reports the exact exit code", async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(7)" }));
    expect(r.stdout).toBe("to out\n");
    expect(r.stderr).toBe("to err\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(7);
    expect(Number(r.exit.stdoutBytes)).toBe(7);
    expect(Number(r.exit.stderrBytes)).toBe(7);
  });

  it("delivers output live, while the program still runs", async () => {
    // The program only continues after the client saw its first line: buffered output would hang it.
    const code = "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/go-on'):\n    time.sleep(0.02)\nprint('second')";
    const stream = d.sandbox.run({ sandboxId, code, timeoutMs: 20_000 });
    const seen: string[] = [];
    let exit;
    for await (const { event } of stream) {
      const e = event?.event;
      if (e?.case === "output") {
        const text = Buffer.from(e.value.data).toString();
        seen.push(text);
        if (text.includes("first")) {
          const touch = await collect(d.sandbox.exec({ sandboxId, argv: ["touch", "/tmp/go-on"] }));
          expect(touch.exit.exitCode).toBe(0);
        }
      }
      if (e?.case === "exited") exit = e.value;
    }
    expect(seen.join("")).toBe("first\nsecond\n");
    expect(exit?.status).toBe(ExitStatus.EXITED);
  });

  it("numbers events and gives each output chunk its byte offsets", async () => {
    const r = await collect(
      d.sandbox.run({ sandboxId, code: "import sys\nfor i in range(50):\n    print('x' * 10, flush=True)\n    print('y' * 5, file=sys.stderr, flush=True)" }),
    );
    const seqs = r.events.map((e) => Number(e.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    let offset = 0;
    const perStream = { [Stream.STDOUT]: 0, [Stream.STDERR]: 0 } as Record<number, number>;
    for (const e of r.events) {
      if (e.event.case !== "output") continue;
      expect(Number(e.event.value.offset)).toBe(offset);
      expect(Number(e.event.value.streamOffset)).toBe(perStream[e.event.value.stream]);
      offset += e.event.value.data.byteLength;
      perStream[e.event.value.stream] = (perStream[e.event.value.stream] ?? 0) + e.event.value.data.byteLength;
    }
    expect(r.stdout).toBe("xxxxxxxxxx\n".repeat(50));
    expect(r.stderr).toBe("yyyyy\n".repeat(50));
  });

  it("reports death by signal", async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)" }));
    expect(r.exit.status).toBe(ExitStatus.KILLED);
    expect(r.exit.signal).toBe(9);
  });

  it("kills the whole process tree at the deadline and stays usable", async () => {
    const code =
      "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\nsubprocess.Popen(['sh', '-c', 'sleep 301 & sleep 302'])\nprint('spawned', flush=True)\ntime.sleep(300)";
    const r = await collect(d.sandbox.run({ sandboxId, code, timeoutMs: 1500 }));
    expect(r.stdout).toBe("spawned\n");
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.exit.message).toMatch(/deadline/);
    const ps = await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "args"] }));
    expect(ps.stdout).not.toMatch(/sleep 30[012]/);
    const after = await collect(d.sandbox.run({ sandboxId, code: "print('still here')" }));
    expect(after.stdout).toBe("still here\n");
  });

  it("uses the sandbox's execution timeout when the run gives none", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", executionTimeoutMs: 1000 } });
    try {
      const r = await collect(d.sandbox.run({ sandboxId: sandbox!.id, code: "import time\ntime.sleep(60)" }));
      expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
    }
  });

  it("caps a flood of output, says truncated, and keeps the daemon's memory bounded", async () => {
    const before = d.rssBytes();
    const r = await collect(
      d.sandbox.run({
        sandboxId,
        code: "import sys\nchunk = b'z' * 65536\nfor _ in range(3200):\n    sys.stdout.buffer.write(chunk)\nsys.stdout.flush()\nprint('done', file=sys.stderr)",
        timeoutMs: 60_000,
      }),
    );
    expect(r.exit.truncated).toBe(true);
    expect(r.stdout.length + r.stderr.length).toBe(1024 * 1024);
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    // 200 MiB were written; the daemon kept at most the 1 MiB cap of it.
    expect(d.rssBytes() - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("feeds stdin", async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: "import sys\ndata = sys.stdin.read()\nprint(data.upper())", stdin: Buffer.from("hello stdin") }));
    expect(r.stdout).toBe("HELLO STDIN\n");
  });

  it("passes program arguments and per-run env", async () => {
    const r = await collect(
      d.sandbox.run({ sandboxId, code: "import os, sys\nprint(sys.argv[1:], os.environ['GREETING'])", args: ["a b", "c"], env: { GREETING: "hi" } }),
    );
    expect(r.stdout).toBe("['a b', 'c'] hi\n");
  });

  it("runs javascript and bash", async () => {
    const js = await collect(d.sandbox.run({ language: "javascript", code: "console.log('js', 6 * 7); process.exitCode = 2;" }));
    expect(js.stdout).toBe("js 42\n");
    expect(js.exit.exitCode).toBe(2);
    const sh = await collect(d.sandbox.run({ language: "bash", code: 'echo "$BASH_VERSION" | cut -c1; echo oops >&2; exit 4' }));
    expect(sh.stdout).toMatch(/^\d\n$/);
    expect(sh.stderr).toBe("oops\n");
    expect(sh.exit.exitCode).toBe(4);
  });

  it("runs an ephemeral sandbox and removes it afterwards", async () => {
    const before = await d.sandbox.listSandboxes({});
    const r = await collect(d.sandbox.run({ language: "python", code: "print('ephemeral')" }));
    expect(r.stdout).toBe("ephemeral\n");
    const started = r.events.find((e) => e.event.case === "started");
    const ephemeralId = started?.event.case === "started" ? started.event.value.sandboxId : "";
    expect(ephemeralId).not.toBe(sandboxId);
    const after = await d.sandbox.listSandboxes({});
    expect(after.sandboxes.map((s) => s.id)).toEqual(before.sandboxes.map((s) => s.id));
    await expect(d.sandbox.getSandbox({ sandboxId: ephemeralId })).rejects.toMatchObject({ code: 5 });
  });
});

describe("Exec", () => {
  it("runs argv with workdir, env and stdin", async () => {
    const r = await collect(
      d.sandbox.exec({ sandboxId, argv: ["sh", "-c", "pwd; echo $FOO; cat"], workdir: "/tmp", env: { FOO: "bar" }, stdin: Buffer.from("piped") }),
    );
    expect(r.stdout).toBe("/tmp\nbar\npiped");
    expect(r.exit.exitCode).toBe(0);
  });

  it("runs a shell string", async () => {
    const r = await collect(d.sandbox.exec({ sandboxId, shell: "echo one && echo two >&2 && exit 5" }));
    expect(r.stdout).toBe("one\n");
    expect(r.stderr).toBe("two\n");
    expect(r.exit.exitCode).toBe(5);
    expect(r.exit.phase).toBe(RunPhase.RUN);
  });

  it("reports a missing program as exit 127 with a message", async () => {
    const r = await collect(d.sandbox.exec({ sandboxId, argv: ["no-such-program"] }));
    expect(r.exit.exitCode).toBe(127);
    expect(r.stderr).toMatch(/no-such-program/);
  });

  it("cancelling the call kills the run; the sandbox stays usable", async () => {
    const controller = new AbortController();
    const stream = d.sandbox.exec({ sandboxId, shell: "echo started; sleep 400" }, { signal: controller.signal });
    let runId = "";
    await expect(
      (async () => {
        for await (const { event } of stream) {
          if (event?.event.case === "started") runId = event.event.value.runId;
          if (event?.event.case === "output") controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: 1 });
    // The run ends as CANCELLED; Attach shows it.
    const attached = await collect(d.sandbox.attach({ runId, offset: 0n }));
    expect(attached.exit.status).toBe(ExitStatus.CANCELLED);
    const ps = await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "args"] }));
    expect(ps.stdout).not.toMatch(/sleep 400/);
  });

  it("signals and feeds a running process", async () => {
    const stream = d.sandbox.exec({
      sandboxId,
      shell: "trap 'echo got-usr1' USR1; read line; echo \"read:$line\"; while :; do sleep 0.1; done",
      keepStdinOpen: true,
    });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    const runId = first.value?.event?.event.case === "started" ? first.value.event.event.value.runId : "";
    expect(runId).toMatch(/^run_/);
    await d.sandbox.writeInput({ runId, data: Buffer.from("hello\n") });
    let out = "";
    while (!out.includes("read:hello")) {
      const n = await it.next();
      if (n.value?.event?.event.case === "output") out += Buffer.from(n.value.event.event.value.data).toString();
    }
    await d.sandbox.signal({ runId, signal: "SIGKILL" });
    let exit;
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      if (n.value?.event?.event.case === "exited") exit = n.value.event.event.value;
    }
    expect(exit?.status).toBe(ExitStatus.KILLED);
    expect(exit?.signal).toBe(9);
  });
});

describe("the resident agent", () => {
  it("when it dies, its runs end LOST (UNAVAILABLE), their processes are killed, and a new agent serves the next run", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox!.id;
    try {
      const stream = d.sandbox.exec({ sandboxId: id, shell: "echo up; exec sleep 300" });
      const it = stream[Symbol.asyncIterator]();
      for (;;) {
        const n = await it.next();
        if (n.value?.event?.event.case === "output") break;
      }
      // Kill the agent behind the daemon's back, as an OOM kill or a bug would.
      await execBehind(sandbox!.containerId, ["pkill", "-9", "-f", "sandboxd-agent"]);
      const err = await (async () => {
        try {
          for (;;) if ((await it.next()).done) return undefined;
        } catch (e) {
          return e as { code: number; details: string };
        }
      })();
      expect(err).toMatchObject({ code: 14, details: expect.stringMatching(/agent/) });
      const next = await collect(d.sandbox.run({ sandboxId: id, code: "print('new agent')" }));
      expect(next.stdout).toBe("new agent\n");
      const ps = await collect(d.sandbox.exec({ sandboxId: id, argv: ["ps", "-eo", "args"] }));
      expect(ps.stdout).not.toMatch(/sleep 300/);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });
});
