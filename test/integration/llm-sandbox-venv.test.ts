import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";
import { makeWheelCode } from "../helpers/packages.js";

// llm-sandbox creates a virtualenv at /tmp/venv in Python sandboxes, and its users call
// /tmp/venv/bin/python and /tmp/venv/bin/pip by path (execute_command). Those paths work
// in sandboxd's Python sandboxes, new or from the warm pool, on their read-only root, and
// what that pip installs is what every run imports.

let d: DaemonHandle;

async function waitFor(what: string, check: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  d = await startDaemon({ args: ["--pools.python", "1"] });
  await waitFor("a warm pool member", () => d.logs().includes("pool member ready"));
});

afterAll(async () => {
  await d?.stop();
});

const sh = async (sandboxId: string, shell: string) => collect(d.sandbox.exec({ sandboxId, shell, timeoutMs: 60_000 }));

async function checkVenv(sandboxId: string): Promise<void> {
  // llm-sandbox's own example (examples/test_exit_codes.py): exit codes through the venv python.
  expect((await sh(sandboxId, "/tmp/venv/bin/python -c 'raise ValueError()'")).exit.exitCode).toBe(1);
  expect((await sh(sandboxId, "/tmp/venv/bin/python -c 'import sys; sys.exit(3)'")).exit.exitCode).toBe(3);
  const info = await sh(sandboxId, "/tmp/venv/bin/python -c 'import sys, numpy; print(sys.executable); print(numpy.__name__)'");
  expect(info.stdout).toBe("/tmp/venv/bin/python\nnumpy\n");
  const pip = await sh(sandboxId, "/tmp/venv/bin/pip --version");
  expect(pip.exit.exitCode).toBe(0);
  expect(pip.stdout).toMatch(/^pip \d+/);
  expect((await sh(sandboxId, "test -d /tmp/pip_cache && echo cache")).stdout).toBe("cache\n");
  // The root stays read-only: only /tmp and the workdir are written.
  expect((await sh(sandboxId, "touch /usr/venv-probe")).exit.exitCode).not.toBe(0);
}

describe("llm-sandbox's /tmp/venv paths", () => {
  it("work in a new Python sandbox; its pip installs where every run imports from", async () => {
    // An env makes the request one the pool cannot serve: a new container.
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", env: { WHO: "new" } } });
    const id = sandbox!.id;
    try {
      expect(sandbox!.fromPool).toBe(false);
      await checkVenv(id);
      const wheel = (await collect(d.sandbox.run({ sandboxId: id, code: makeWheelCode("venv_sbx", "1.0", "/sandbox/wheels") }))).stdout.trim();
      const pip = await sh(id, `/tmp/venv/bin/pip install ${wheel} --cache-dir /tmp/pip_cache`);
      expect(pip.exit.exitCode).toBe(0);
      expect(pip.stdout).toMatch(/Successfully installed venv[-_]sbx-1\.0/);
      // The sandbox's own runs (python3) import it, and so does the venv python.
      expect((await collect(d.sandbox.run({ sandboxId: id, code: "import venv_sbx\nprint(venv_sbx.hello())" }))).stdout).toBe("hello from the wheel\n");
      expect((await sh(id, "/tmp/venv/bin/python -c 'import venv_sbx; print(venv_sbx.hello())'")).stdout).toBe("hello from the wheel\n");
      // `source /tmp/venv/bin/activate` puts them first on PATH.
      expect((await sh(id, ". /tmp/venv/bin/activate && command -v python && command -v pip && echo $VIRTUAL_ENV")).stdout).toBe(
        "/tmp/venv/bin/python\n/tmp/venv/bin/pip\n/tmp/venv\n",
      );
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("work in a sandbox handed out from the warm pool", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox!.id;
    try {
      expect(sandbox!.fromPool).toBe(true);
      await checkVenv(id);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("are not made in sandboxes of other languages", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "bash" } });
    try {
      expect((await sh(sandbox!.id, "test -e /tmp/venv || echo none")).stdout).toBe("none\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
    }
  });
});
