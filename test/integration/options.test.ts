import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, RunPhase } from "../../src/gen/sandboxd/v1/common_pb.js";
import { backend, docker, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { ensureRuntimeClass, onKubernetes, plainWorkload, sandboxRuntimeOf } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";
import { makeWheelCode } from "../helpers/packages.js";

let d: DaemonHandle;
/** On Kubernetes a pod's name is its id, so only a listed name may be attached to. */
const attachName = `options-attach-${Math.random().toString(16).slice(2, 8)}`;

beforeAll(async () => {
  d = await startDaemon({ args: ["--attach.tenants", "default", "--attach.names", attachName] });
});

afterAll(async () => {
  await d?.stop();
});

describe("libraries", () => {
  it("installs a local wheel before running, streams the installer, and does not reinstall", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox!.id;
    try {
      const built = await collect(d.sandbox.run({ sandboxId: id, code: makeWheelCode("hello_sbx", "1.0", "/sandbox/wheels") }));
      const wheel = built.stdout.trim();
      const first = await collect(d.sandbox.run({ sandboxId: id, code: "import hello_sbx\nprint(hello_sbx.hello())", libraries: [wheel] }));
      expect(first.stdout).toContain("hello from the wheel\n");
      const phases = new Set(first.events.flatMap((e) => (e.event.case === "output" ? [e.event.value.phase] : [])));
      expect(phases).toContain(RunPhase.INSTALL);
      expect(first.stdout).toMatch(/Successfully installed hello-sbx-1.0|Successfully installed hello_sbx-1.0/);
      const second = await collect(d.sandbox.run({ sandboxId: id, code: "import hello_sbx\nprint(hello_sbx.hello())", libraries: [wheel] }));
      expect(second.stdout).toBe("hello from the wheel\n");
      expect(second.events.some((e) => e.event.case === "started" && e.event.value.phase === RunPhase.INSTALL)).toBe(false);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("a failing install ends the run in the install phase with a clear message", async () => {
    const r = await collect(d.sandbox.run({ language: "python", code: "print('never')", libraries: ["/sandbox/missing-1.0-py3-none-any.whl"] }));
    expect(r.exit.phase).toBe(RunPhase.INSTALL);
    expect(r.exit.exitCode).not.toBe(0);
    expect(r.exit.message).toBe("installing libraries failed");
    expect(r.stdout).not.toContain("never");
  });

  it("Install streams the package manager's output", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    try {
      const wheel = (await collect(d.sandbox.run({ sandboxId: sandbox!.id, code: makeWheelCode("other_sbx", "2.0", "/tmp/w") }))).stdout.trim();
      const r = await collect(d.sandbox.install({ sandboxId: sandbox!.id, libraries: [wheel] }));
      expect(r.exit.status).toBe(ExitStatus.EXITED);
      expect(r.exit.exitCode).toBe(0);
      expect(r.stdout).toMatch(/Successfully installed other/);
      expect((await collect(d.sandbox.run({ sandboxId: sandbox!.id, code: "import other_sbx; print('ok')" }))).stdout).toBe("ok\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
    }
  });
});

describe.skipIf(onKubernetes)("images (Docker and Podman build and commit them; not the Kubernetes backend)", () => {
  it("builds a Dockerfile once per content and runs in it", async () => {
    const dockerfile = {
      content: "FROM sandboxd/python:latest\nCOPY greeting.txt /opt/greeting.txt\n",
      contextFiles: { "greeting.txt": Buffer.from("built from a Dockerfile\n") },
    };
    const a = await d.sandbox.createSandbox({ spec: { language: "python", dockerfile } });
    const b = await d.sandbox.createSandbox({ spec: { language: "python", dockerfile } });
    try {
      expect(a.sandbox?.image).toMatch(/^sandboxd-build\//);
      expect(b.sandbox?.image).toBe(a.sandbox?.image);
      const r = await collect(d.sandbox.run({ sandboxId: a.sandbox!.id, code: "print(open('/opt/greeting.txt').read(), end='')" }));
      expect(r.stdout).toBe("built from a Dockerfile\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: a.sandbox!.id });
      await d.sandbox.destroySandbox({ sandboxId: b.sandbox!.id });
    }
    await docker.getImage(a.sandbox!.image).remove({ force: true });
  });

  it("builds the Dockerfile asked for, even when the context holds a file named Dockerfile", async () => {
    // llm-sandbox's dockerfile="ctx/Dockerfile.bad" with ctx/Dockerfile beside it: the client
    // sends Dockerfile.bad's content and the folder (its Dockerfile included) as the context.
    const dockerfile = {
      content: "FROM sandboxd/python:latest\nCOPY requested.txt /opt/built-by.txt\n",
      contextFiles: {
        Dockerfile: Buffer.from("FROM sandboxd/python:latest\nCOPY other.txt /opt/built-by.txt\n"),
        "requested.txt": Buffer.from("the requested Dockerfile\n"),
        "other.txt": Buffer.from("the context's Dockerfile\n"),
        ".sandboxd.Dockerfile": Buffer.from("not a Dockerfile either\n"),
      },
    };
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", dockerfile } });
    try {
      const r = await collect(d.sandbox.exec({ sandboxId: sandbox!.id, shell: "cat /opt/built-by.txt" }));
      expect(r.stdout).toBe("the requested Dockerfile\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
      await docker.getImage(sandbox!.image).remove({ force: true });
    }
  });

  it("a bad Dockerfile fails with INVALID_ARGUMENT and the builder's message", async () => {
    await expect(
      d.sandbox.createSandbox({ spec: { language: "python", dockerfile: { content: "FROM sandboxd/python:latest\nRUN exit 3\n" } } }),
    ).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/build failed/),
    });
  });

  it("commit_on_close saves the sandbox as an image a later sandbox can use", async () => {
    const tag = `sandboxd-test/committed-${Date.now()}:latest`;
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", commitOnClose: tag } });
    await collect(d.sandbox.exec({ sandboxId: sandbox!.id, shell: "echo kept > /sandbox/kept.txt" }));
    const res = await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
    expect(res.committedImage).toBe(tag);
    const again = await d.sandbox.createSandbox({ spec: { language: "python", image: tag, commitOnClose: "", workdir: "/sandbox" } });
    try {
      // The committed image carries the state (a committed sandbox keeps its changes in the container layer).
      const r = await collect(d.sandbox.exec({ sandboxId: again.sandbox!.id, shell: "cat /sandbox/kept.txt 2>&1 || ls -la /sandbox" }));
      expect(r.stdout).toBe("kept\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: again.sandbox!.id });
      await docker.getImage(tag).remove({ force: true });
    }
  });

  it("attaches to an existing container and never removes it", async () => {
    const container = await plainWorkload(attachName);
    try {
      const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", containerId: onKubernetes ? container.name : container.id } });
      expect(sandbox?.containerId).toBe(container.id);
      const r = await collect(d.sandbox.run({ sandboxId: sandbox!.id, code: "import socket; print(socket.gethostname())" }));
      expect(r.stdout.trim()).toBe(onKubernetes ? container.name : container.id.slice(0, 12));
      expect((await d.sandbox.destroySandbox({ sandboxId: sandbox!.id })).destroyed).toBe(true);
      expect(await container.running()).toBe(true);
    } finally {
      await container.remove();
    }
    await expect(d.sandbox.createSandbox({ spec: { language: "python", containerId: "doesnotexist123" } })).rejects.toMatchObject({ code: 5 });
  });
});

describe.runIf(onKubernetes)("what the Kubernetes backend refuses", () => {
  it("Dockerfiles, commit on close and bridge networks: FAILED_PRECONDITION that names the backend", async () => {
    const dockerfile = { content: "FROM sandboxd/python:latest\n" };
    await expect(d.sandbox.createSandbox({ spec: { language: "python", dockerfile } })).rejects.toMatchObject({
      code: 9,
      details: expect.stringMatching(/not available on the Kubernetes backend/),
    });
    await expect(d.sandbox.createSandbox({ spec: { language: "python", network: 2 } })).rejects.toMatchObject({
      code: 9,
      details: expect.stringMatching(/not available on the Kubernetes backend/),
    });
  });
});

describe("the engine's OCI runtime for sandboxes (--sandbox-runtime: runsc for gVisor, kata-runtime, ...; on Kubernetes --kubernetes.runtime-class)", () => {
  it("sandboxes run under the named runtime; an unknown one is a clear error, not INTERNAL", async () => {
    if (backend === "podman") {
      // Podman's compatible API ignores a per-container runtime: refusing beats a silent runc.
      await expect(startDaemon({ args: ["--sandbox-runtime", "runc"] })).rejects.toThrow(
        /not honoured by Podman's API; set the runtime in Podman's containers.conf/,
      );
      return;
    }
    const flag = onKubernetes ? "--kubernetes.runtime-class" : "--sandbox-runtime";
    const runc = onKubernetes ? await ensureRuntimeClass("sandboxd-test-runc", "runc") : "runc";
    const named = await startDaemon({ args: [flag, runc] });
    try {
      const { sandbox } = await named.sandbox.createSandbox({ spec: { language: "python" } });
      expect(await sandboxRuntimeOf(sandbox!.containerId)).toBe(runc);
      expect((await collect(named.sandbox.run({ sandboxId: sandbox!.id, code: "print('under runc')" }))).stdout).toBe("under runc\n");
    } finally {
      await named.stop();
    }
    const unknown = await startDaemon({ args: [flag, "no-such-runtime"] });
    try {
      const err = await unknown.sandbox.createSandbox({ spec: { language: "python" } }).catch((e: { code: number; details: string }) => e);
      expect(err).toMatchObject({ code: expect.any(Number), details: expect.stringMatching(/no-such-runtime/) });
      expect([3, 9]).toContain((err as { code: number }).code);
    } finally {
      await unknown.stop();
    }
  });
});
