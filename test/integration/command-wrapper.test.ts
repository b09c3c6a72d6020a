import type { MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, RunPhase, type SandboxSpecSchema } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SessionKind } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { PoolService } from "../../src/gen/sandboxd/v1/pool_service_pb.js";
import { createClient } from "../helpers/client.js";
import { docker, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { execBehind, onKubernetes, plainWorkload, type PlainWorkload } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";
import { makeEnvsScript, standInMicromamba } from "../helpers/micromamba.js";
import { makeWheelCode } from "../helpers/packages.js";

// SandboxSpec.command_wrapper, as llm-sandbox's micromamba backend uses it: every run,
// install and command of the sandbox goes through `micromamba run -n <environment>`. The
// wrapper here is a stand-in micromamba (test/helpers/micromamba.ts) that really switches
// between two Python environments, alpha and beta. On Docker and Podman it is in an image
// built from a Dockerfile (on PATH, as in a micromamba image); the Kubernetes backend builds
// no images, so there the environments are made in a plain pod the sandboxes attach to.

type Spec = MessageInitShape<typeof SandboxSpecSchema>;

const suffix = Math.random().toString(16).slice(2, 8);
const podName = `wrapper-envs-${suffix}`;
/** Where the environments are, and how the wrapper is called. */
const root = onKubernetes ? "/tmp/envs" : "/opt/envs";
const micromamba = onKubernetes ? "/tmp/mm/micromamba" : "micromamba";
const dockerfile = {
  content: [
    "FROM sandboxd/python:latest",
    "USER root",
    "COPY micromamba make-envs.sh /tmp/mm/",
    `RUN install -m 0755 /tmp/mm/micromamba /usr/local/bin/micromamba && sh /tmp/mm/make-envs.sh ${root} && rm -rf /tmp/mm`,
    "USER 1000:1000",
    "",
  ].join("\n"),
  contextFiles: { micromamba: Buffer.from(standInMicromamba(root)), "make-envs.sh": Buffer.from(makeEnvsScript) },
};

let d: DaemonHandle;
let pod: PlainWorkload | undefined;
let builtImage = "";

/** The spec of a sandbox whose every process runs in environment `env`. */
function envSpec(env: string): Spec {
  const commandWrapper = [micromamba, "run", "-n", env];
  return onKubernetes ? { language: "python", containerId: podName, commandWrapper } : { language: "python", dockerfile, commandWrapper };
}

async function create(spec: Spec): Promise<string> {
  const { sandbox } = await d.sandbox.createSandbox({ spec });
  // The image built from `dockerfile`, removed at the end (never an image of the setup's).
  if (spec.dockerfile && sandbox?.image.startsWith("sandboxd-build/")) builtImage = sandbox.image;
  return sandbox?.id ?? "";
}

const python = (sandboxId: string, code: string, libraries: string[] = []) => collect(d.sandbox.run({ sandboxId, code, libraries }));
const shell = (sandboxId: string, script: string) => collect(d.sandbox.exec({ sandboxId, shell: script }));

beforeAll(async () => {
  d = await startDaemon({ args: ["--attach.tenants", "default", "--attach.names", podName] });
  if (onKubernetes) {
    pod = await plainWorkload(podName);
    await execBehind(pod.id, [
      "sh",
      "-c",
      'mkdir -p /tmp/mm && printf %s "$1" >/tmp/mm/micromamba && chmod 755 /tmp/mm/micromamba && sh -c "$2" make-envs /tmp/envs',
      "prepare",
      standInMicromamba(root),
      makeEnvsScript,
    ]);
  }
}, 120_000);

afterAll(async () => {
  await d?.stop();
  await pod?.remove();
  if (builtImage)
    await docker
      .getImage(builtImage)
      .remove({ force: true })
      .catch(() => undefined);
});

describe("a sandbox whose processes all run through `micromamba run -n <environment>`", () => {
  let alpha = "";

  beforeAll(async () => {
    alpha = await create(envSpec("alpha"));
  }, 120_000);

  afterAll(async () => {
    if (alpha) await d.sandbox.destroySandbox({ sandboxId: alpha });
  });

  it("runs code in the environment: its prefix, its modules, its variables", async () => {
    const r = await python(alpha, "import os, sys, envmarker\nprint(sys.prefix, envmarker.NAME, os.environ['CONDA_DEFAULT_ENV'])");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${root}/alpha alpha alpha\n`);
  });

  it("runs Exec commands in it, argv and shell alike", async () => {
    const argv = await collect(d.sandbox.exec({ sandboxId: alpha, argv: ["python3", "-c", "import sys; print(sys.prefix)"] }));
    expect(argv.stdout).toBe(`${root}/alpha\n`);
    const sh = await shell(alpha, 'echo "$CONDA_DEFAULT_ENV"; command -v python3');
    expect(sh.stdout).toBe(`alpha\n${root}/alpha/bin/python3\n`);
    // llm-sandbox's /tmp/venv, made by the language setup through the wrapper, links the
    // environment's python3 (an attached container, on Kubernetes here, gets no setup).
    const venv = await shell(alpha, "readlink /tmp/venv/bin/python || echo none");
    expect(venv.stdout).toBe(onKubernetes ? "none\n" : `${root}/alpha/bin/python3\n`);
  });

  it("installs libraries with the environment's pip (Install, and a Run's libraries)", async () => {
    const wheel = (await python(alpha, makeWheelCode("wrapped_sbx", "1.0", `/tmp/wheels-${suffix}`))).stdout.trim();
    const install = await collect(d.sandbox.install({ sandboxId: alpha, libraries: [wheel] }));
    expect(install.exit.exitCode).toBe(0);
    expect(install.stdout).toMatch(/Successfully installed wrapped[-_]sbx-1.0/);
    const where = await python(alpha, "import sys, wrapped_sbx\nprint(sys.prefix, wrapped_sbx.__file__)");
    // A sandbox's root is read-only, so pip of the image's environment (a venv, like a conda
    // environment, that sees the user site) falls back to the user site in the workdir; the
    // attached pod's environment is writable, and the library lands in it.
    if (onKubernetes) expect(where.stdout).toBe(`${root}/alpha ${root}/alpha/lib/python3.11/site-packages/wrapped_sbx/__init__.py\n`);
    else {
      expect(install.stdout).toMatch(/Defaulting to user installation because normal site-packages is not writeable/);
      expect(where.stdout).toBe(`${root}/alpha /sandbox/.local/lib/python3.11/site-packages/wrapped_sbx/__init__.py\n`);
    }
    const other = (await python(alpha, makeWheelCode("wrapped_two", "2.0", `/tmp/wheels-${suffix}`))).stdout.trim();
    const run = await python(alpha, "import wrapped_two; print(wrapped_two.hello())", [other]);
    expect(run.events.some((e) => e.event.case === "started" && e.event.value.phase === RunPhase.INSTALL)).toBe(true);
    expect(run.stdout).toContain("hello from the wheel\n");
    // The stand-in logged each install it ran, under the environment's name (offline,
    // --no-index; an attached container's network is its own).
    const log = (await shell(alpha, "cat /tmp/micromamba-standin.log")).stdout;
    const pip = `run -n alpha python3 -m pip install --break-system-packages --no-input --progress-bar off ${onKubernetes ? "" : "--no-index "}--`;
    expect(log).toContain(`${pip} ${wheel}\n`);
    expect(log).toContain(`${pip} ${other}\n`);
  });

  it("a deadline still kills the whole process tree started through the wrapper", async () => {
    const r = await collect(d.sandbox.exec({ sandboxId: alpha, shell: "sleep 300 & sleep 301; echo never", timeoutMs: 1000 }));
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.stdout).toBe("");
    const ps = await collect(d.sandbox.exec({ sandboxId: alpha, argv: ["ps", "-eo", "args"] }));
    expect(ps.stdout).not.toMatch(/sleep 30[01]/);
  });

  it("reports the wrapper in the sandbox's spec (Get and List)", async () => {
    const got = await d.sandbox.getSandbox({ sandboxId: alpha });
    expect(got.sandbox?.spec?.commandWrapper).toEqual([micromamba, "run", "-n", "alpha"]);
    const listed = (await d.sandbox.listSandboxes({})).sandboxes.find((s) => s.id === alpha);
    expect(listed?.spec?.commandWrapper).toEqual([micromamba, "run", "-n", "alpha"]);
  });

  it("runs an IPython session's cells in the environment (a session's own sandbox, from its inline spec)", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandbox", value: envSpec("beta") }, kind: SessionKind.IPYTHON });
    try {
      const r = await collect(d.interactive.run({ sessionId: session!.id, code: "import sys, envmarker\nprint(sys.prefix, envmarker.NAME)" }));
      expect(r.stdout).toBe(`${root}/beta beta\n`);
      const bang = await collect(d.interactive.run({ sessionId: session!.id, code: "!echo $CONDA_DEFAULT_ENV" }));
      expect(bang.stdout.trim()).toBe("beta");
    } finally {
      await d.interactive.closeSession({ sessionId: session!.id });
    }
  });

  it("runs an ephemeral sandbox's code in the environment its spec names", async () => {
    const r = await collect(d.sandbox.run({ language: "python", code: "import envmarker; print(envmarker.NAME)", ephemeral: envSpec("beta") }));
    expect(r.stdout).toBe("beta\n");
    expect(r.exit.exitCode).toBe(0);
  });

  it("an environment that does not exist fails every run clearly, and nothing runs outside it", async () => {
    const gamma = await create(envSpec("gamma"));
    try {
      const r = await python(gamma, "print('ran anyway')");
      expect(r.exit.status).toBe(ExitStatus.EXITED);
      expect(r.exit.exitCode).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("environment 'gamma' does not exist");
      const e = await shell(gamma, "echo ran anyway");
      expect(e.exit.exitCode).toBe(1);
      expect(e.stdout).toBe("");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: gamma });
    }
  });
});

describe("wrappers on the default image", () => {
  it("a wrapper program the image lacks fails each run with the reason, not the sandbox", async () => {
    const id = await create({ language: "python", commandWrapper: ["micromamba", "run", "-n", "base"] });
    try {
      const r = await python(id, "print('unwrapped')");
      expect(r.stdout).toBe("");
      expect(r.exit.exitCode).toBe(127);
      expect(`${r.stderr} ${r.exit.message}`).toMatch(/micromamba/);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("the language's setup goes through it too (llm-sandbox's /tmp/venv, made when the sandbox starts)", async () => {
    const commandWrapper = ["sh", "-c", 'echo "$0 $*" >>/tmp/wrapped.log; exec "$0" "$@"'];
    const id = await create({ language: "python", commandWrapper });
    try {
      const r = await collect(d.sandbox.exec({ sandboxId: id, shell: "head -n 1 /tmp/wrapped.log; /tmp/venv/bin/python -c 'print(6 * 7)'" }));
      expect(r.stdout).toBe("sh -c py=$(command -v python3) || exit 0\n42\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("a pool's members (PoolService) are set up, get the pool's libraries and run through its spec's wrapper", async () => {
    const pools = createClient(PoolService, d.address);
    const commandWrapper = ["sh", "-c", 'echo "$0 $*" >>/tmp/wrapped.log; exec "$0" "$@"'];
    // pip is in the image: installing it offline is "already satisfied", through the wrapper.
    const { pool } = await pools.createPool({ spec: { language: "python", commandWrapper }, settings: { minReady: 1, maxSize: 2 }, libraries: ["pip"] });
    try {
      expect(pool?.spec?.commandWrapper).toEqual(commandWrapper);
      const { sandbox } = await d.sandbox.createSandbox({ poolId: pool!.id });
      expect(sandbox?.spec?.commandWrapper).toEqual(commandWrapper);
      const log = (await collect(d.sandbox.exec({ sandboxId: sandbox!.id, argv: ["cat", "/tmp/wrapped.log"] }))).stdout.split("\n");
      expect(log[0]).toBe("sh -c py=$(command -v python3) || exit 0");
      expect(log.some((l) => /^python3 -m pip install .*-- pip$/.test(l))).toBe(true);
      expect(log).toContain("cat /tmp/wrapped.log");
    } finally {
      await pools.deletePool({ poolId: pool!.id, destroySandboxes: true });
      pools.close();
    }
  }, 120_000);

  it("a compiled language: the compile step and the program both go through it", async () => {
    // A wrapper every image can run: it logs the argv it is given, then runs it.
    const commandWrapper = ["sh", "-c", 'echo "$0 $*" >>/tmp/wrapped.log; exec "$0" "$@"'];
    const id = await create({ language: "cpp", commandWrapper });
    try {
      const r = await collect(d.sandbox.run({ sandboxId: id, code: '#include <cstdio>\nint main() { std::puts("compiled"); }\n' }));
      expect(r.stdout).toBe("compiled\n");
      const log = (await collect(d.sandbox.exec({ sandboxId: id, argv: ["cat", "/tmp/wrapped.log"] }))).stdout.split("\n");
      expect(log.some((l) => /^g\+\+ .*\.cpp/.test(l))).toBe(true);
      expect(log.some((l) => /^stdbuf -oL -eL \S+\/main$/.test(l))).toBe(true);
      expect(log).toContain("cat /tmp/wrapped.log");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("an image without python3 (as mambaorg/micromamba is): each engine exec of the fallback goes through the wrapper", async () => {
    // Kubernetes builds nothing: scripts/k8s/cluster.sh import-images makes this image with Docker and imports it.
    const image = onKubernetes
      ? { image: "sandboxd/base-nopython:latest" }
      : { dockerfile: { content: "FROM sandboxd/base:latest\nUSER root\nRUN rm -f /usr/bin/python3*\nUSER 1000:1000\n" } };
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "bash", ...image, commandWrapper: ["env", "WRAPPED_BY=fallback"] } });
    const id = sandbox!.id;
    try {
      const r = await collect(d.sandbox.run({ sandboxId: id, code: 'command -v python3 || echo "no python3, $WRAPPED_BY"' }));
      expect(r.stdout).toBe("no python3, fallback\n");
      const e = await collect(d.sandbox.exec({ sandboxId: id, argv: ["printenv", "WRAPPED_BY"] }));
      expect(e.stdout).toBe("fallback\n");
      const slow = await collect(d.sandbox.exec({ sandboxId: id, shell: "sleep 300; echo never", timeoutMs: 1000 }));
      expect(slow.exit.status).toBe(ExitStatus.TIMEOUT);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
      if (!onKubernetes && sandbox!.image.startsWith("sandboxd-build/"))
        await docker
          .getImage(sandbox!.image)
          .remove({ force: true })
          .catch(() => undefined);
    }
  }, 120_000);

  it("the wrapper survives a daemon restart: the adopted sandbox still runs through it", async () => {
    const daemonId = `${d.daemonId}-restart`;
    const first = await startDaemon({ daemonId });
    const { sandbox } = await first.sandbox.createSandbox({ spec: { language: "python", commandWrapper: ["env", "WRAPPED_BY=env wrapper"] } });
    const id = sandbox!.id;
    const before = await collect(first.sandbox.exec({ sandboxId: id, shell: 'echo "$WRAPPED_BY"' }));
    expect(before.stdout).toBe("env wrapper\n");
    await first.stop("SIGKILL");
    const second = await startDaemon({ daemonId });
    try {
      const after = await collect(second.sandbox.run({ sandboxId: id, code: "import os; print(os.environ['WRAPPED_BY'])" }));
      expect(after.stdout).toBe("env wrapper\n");
      expect((await second.sandbox.getSandbox({ sandboxId: id })).sandbox?.spec?.commandWrapper).toEqual(["env", "WRAPPED_BY=env wrapper"]);
    } finally {
      await second.sandbox.destroySandbox({ sandboxId: id }).catch(() => undefined);
      await second.stop();
    }
  }, 90_000);

  it("bad wrappers are INVALID_ARGUMENT on every path that takes a spec, and nothing is created", async () => {
    const before = (await d.sandbox.listSandboxes({})).sandboxes.map((s) => s.id);
    const cases: [string[], RegExp][] = [
      [["micromamba", "", "-n", "base"], /command_wrapper\[1\] is empty/],
      [["micro\0mamba"], /command_wrapper\[0\] contains a NUL byte/],
      [Array.from({ length: 17 }, () => "x"), /command_wrapper has at most 16 elements, got 17/],
      [["env", "x".repeat(2000)], /command_wrapper\[1\] has 2000 bytes, at most 1024/],
    ];
    for (const [commandWrapper, message] of cases) {
      const expected = { code: 3, details: expect.stringMatching(message) };
      await expect(d.sandbox.createSandbox({ spec: { language: "python", commandWrapper } })).rejects.toMatchObject(expected);
      await expect(collect(d.sandbox.run({ language: "python", code: "print(1)", ephemeral: { commandWrapper } }))).rejects.toMatchObject(expected);
      await expect(
        d.interactive.createSession({ target: { case: "sandbox", value: { language: "python", commandWrapper } }, kind: SessionKind.IPYTHON }),
      ).rejects.toMatchObject(expected);
    }
    expect((await d.sandbox.listSandboxes({})).sandboxes.map((s) => s.id)).toEqual(before);
  });
});
