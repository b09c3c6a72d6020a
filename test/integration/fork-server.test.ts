import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// The Python fork server (--python.fork-server, docs/architecture.md › Python fork server):
// with numpy preloaded, a run that finds numpy in sys.modules before importing anything was
// forked from the server; one that does not was started as a fresh python3.
const forkedMark = "import sys as _s\nprint('forked' if 'numpy' in _s.modules else 'spawned')\ndel _s\n";

let d: DaemonHandle;
let sandboxId: string;

async function run(code: string, extra: { stdin?: Uint8Array; env?: Record<string, string>; args?: string[]; timeoutMs?: number } = {}) {
  return collect(d.sandbox.run({ sandboxId, code: forkedMark + code, ...extra }));
}

/** Runs print(1) until a run comes from the server (the first eligible run starts it, spawned). */
async function untilForked(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await run("");
    if (r.stdout === "forked\n") return;
    expect(r.stdout).toBe("spawned\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("no run was forked from the fork server");
}

beforeAll(async () => {
  d = await startDaemon({ args: ["--python.fork-server", "true", "--python.preload", "numpy"] });
  sandboxId = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
  await untilForked();
}, 120_000);

afterAll(async () => {
  await d?.stop();
});

describe("Python fork server", () => {
  it("gives each run a fresh program: no module, global, environment or cwd of an earlier run", async () => {
    const first = await run(
      "import os, json, sys\nimport csv\nimport builtins\nbuiltins.leaked = 1\nos.environ['LEAK'] = 'x'\nos.chdir('/tmp')\nprint('csv' in sys.modules)",
    );
    expect(first.stdout).toBe("forked\nTrue\n");
    const second = await run("import os, sys, builtins\nprint('csv' in sys.modules, hasattr(builtins, 'leaked'), os.environ.get('LEAK'), os.getcwd())");
    expect(second.stdout).toBe("forked\nFalse False None /sandbox\n");
  });

  it("keeps the variables of the run that started the server from the runs it forks, even in /proc", async () => {
    const sb = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
    try {
      const check = "import os, sys\nprint('numpy' in sys.modules, open('/proc/self/environ', 'rb').read().count(b's3cret'), 'RUN_SECRET' in os.environ)";
      const first = await collect(d.sandbox.run({ sandboxId: sb, code: check, env: { RUN_SECRET: "s3cret" } }));
      expect(first.stdout).toBe("False 1 True\n"); // spawned: it starts the server
      let out = "";
      for (let i = 0; i < 200 && !out.startsWith("True"); i++) {
        out = (await collect(d.sandbox.run({ sandboxId: sb, code: check }))).stdout;
        if (!out.startsWith("True")) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(out).toBe("True 0 False\n");
      // A library that appeared while the server was starting is seen too (pip install right
      // after the first run): the server's own view of its site directories counts.
      const sb2 = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
      try {
        const userSite = (await collect(d.sandbox.run({ sandboxId: sb2, code: "import site\nprint(site.getusersitepackages())" }))).stdout.trim();
        const mk = await collect(d.sandbox.exec({ sandboxId: sb2, argv: ["sh", "-c", `mkdir -p '${userSite}' && echo 'X = 7' > '${userSite}/earlylib.py'`] }));
        expect(mk.exit.exitCode).toBe(0);
        for (let i = 0; i < 30; i++) {
          const r = await collect(d.sandbox.run({ sandboxId: sb2, code: "import earlylib\nprint(earlylib.X)" }));
          expect(r.stderr).toBe("");
          expect(r.stdout).toBe("7\n");
        }
      } finally {
        await d.sandbox.destroySandbox({ sandboxId: sb2 });
      }
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sb });
    }
  });

  it("runs the file as __main__ with its argv, stdin, environment and cwd", async () => {
    const code = [
      "import os, sys",
      "print(__name__, __file__ == sys.argv[0], sys.argv[1:])",
      "print(sys.stdin.read().upper(), end='')",
      "print(os.environ['GREETING'], os.getcwd(), sys.path[0] == os.path.dirname(os.path.realpath(__file__)))",
      "print(os.getppid() != 1, os.getsid(0) == os.getpid())",
    ].join("\n");
    const r = await run(code, { stdin: Buffer.from("piped in\n"), env: { GREETING: "hello" }, args: ["a", "b c"] });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("forked\n__main__ True ['a', 'b c']\nPIPED IN\nhello /sandbox True\nTrue True\n");
  });

  it("exits exactly as python3 would", async () => {
    const three = await run("import sys\nsys.exit(3)");
    expect(three.stdout).toBe("forked\n");
    expect(three.exit.status).toBe(ExitStatus.EXITED);
    expect(three.exit.exitCode).toBe(3);

    const msg = await run("import sys\nsys.exit('bad input')");
    expect(msg.exit.exitCode).toBe(1);
    expect(msg.stderr).toBe("bad input\n");

    const zero = await run("import atexit\natexit.register(lambda: print('at exit'))\nraise SystemExit");
    expect(zero.stdout).toBe("forked\nat exit\n");
    expect(zero.exit.exitCode).toBe(0);

    // What a fresh interpreter's end does: joins threads, runs atexit, flushes files left open.
    const ending = await run(
      "import threading, time\nf = open('/tmp/left-open.txt', 'w')\nf.write('kept')\nthreading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()",
    );
    expect(ending.stdout).toBe("forked\nthread done\n");
    expect((await collect(d.sandbox.exec({ sandboxId, argv: ["cat", "/tmp/left-open.txt"] }))).stdout).toBe("kept");

    const boom = await run("def f():\n    raise ValueError('boom')\nf()");
    expect(boom.stdout).toBe("forked\n");
    expect(boom.exit.exitCode).toBe(1);
    expect(boom.stderr).toMatch(/^Traceback \(most recent call last\):\n {2}File "[^"]+\.py", line \d+, in <module>\n/);
    expect(boom.stderr).toMatch(/in f\n.*\nValueError: boom\n$/s);
    expect(boom.stderr).not.toMatch(/forkserver|<string>/);

    const term = await run("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)");
    expect(term.stdout).toBe("forked\n");
    expect(term.exit.status).toBe(ExitStatus.KILLED);
    expect(term.exit.signal).toBe(15);

    const intr = await run("raise KeyboardInterrupt");
    expect(intr.exit.status).toBe(ExitStatus.KILLED);
    expect(intr.exit.signal).toBe(2);
    expect(intr.stderr).toMatch(/KeyboardInterrupt\n$/);
  });

  it("kills a forked run's whole tree at its deadline", async () => {
    const code =
      "import subprocess, time\nsubprocess.Popen(['sleep', '303'])\nsubprocess.Popen(['sh', '-c', 'sleep 304 & sleep 305'])\nprint('spawned', flush=True)\ntime.sleep(300)";
    const r = await run(code, { timeoutMs: 2000 });
    expect(r.stdout).toBe("forked\nspawned\n");
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    const ps = await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "args"] }));
    expect(ps.stdout).not.toMatch(/sleep 30[345]/);
    expect((await run("print('still here')")).stdout).toBe("forked\nstill here\n");
  });

  it("starts a run with its own PYTHONPATH as a fresh python3, which finds its module", async () => {
    const mk = await collect(d.sandbox.exec({ sandboxId, argv: ["sh", "-c", "mkdir -p /tmp/extra && echo 'VALUE = 42' > /tmp/extra/extramod.py"] }));
    expect(mk.exit.exitCode).toBe(0);
    const r = await run("import extramod\nprint(extramod.VALUE)", { env: { PYTHONPATH: "/tmp/extra" } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("spawned\n42\n");
  });

  it("restarts the server when a library is installed mid-session", async () => {
    const site = (await run("import site\nprint(site.getusersitepackages())")).stdout.split("\n")[1] ?? "";
    expect(site).toMatch(/site-packages$/);
    const mk = await collect(d.sandbox.exec({ sandboxId, argv: ["sh", "-c", `mkdir -p '${site}' && echo 'NAME = "fresh"' > '${site}/freshlib.py'`] }));
    expect(mk.exit.exitCode).toBe(0);
    // The user site did not exist when the server started (so it is not on its sys.path): the
    // change is seen, this run is spawned, and a new server (with the user site) forks the next.
    const r = await run("import freshlib\nprint(freshlib.NAME)");
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^(spawned|forked)\nfresh\n$/);
    await untilForked();
    const again = await run("import freshlib\nprint(freshlib.NAME)");
    expect(again.stdout).toBe("forked\nfresh\n");
  });

  it("still captures plots", async () => {
    const r = await run("import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("forked\n");
    const artifacts = r.events.flatMap((e) => (e.event.case === "artifact" ? [e.event.value] : []));
    expect(artifacts.length).toBe(1);
    expect(artifacts[0]?.mimeType).toBe("image/png");
  });

  it("has the preload list imported, but not what an earlier run imported", async () => {
    const first = await run("import sys\nimport numpy\nimport json.tool\nprint(numpy.arange(3).sum(), 'json.tool' in sys.modules)");
    expect(first.stdout).toBe("forked\n3 True\n");
    const second = await run("import sys\nprint('numpy' in sys.modules, 'json.tool' in sys.modules)");
    expect(second.stdout).toBe("forked\nTrue False\n");
  });
});
