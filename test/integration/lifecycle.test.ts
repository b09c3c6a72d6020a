import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkMode, SandboxState } from "../../src/gen/sandboxd/v1/common_pb.js";
import { docker, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

let d: DaemonHandle;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
});

describe("sandbox lifecycle", () => {
  it("creates, gets, lists by label and destroys idempotently", async () => {
    const a = await d.sandbox.createSandbox({ spec: { language: "python", labels: { team: "red", job: "1" } } });
    const b = await d.sandbox.createSandbox({ spec: { language: "python", labels: { team: "blue" } } });
    const idA = a.sandbox!.id;
    const idB = b.sandbox!.id;
    expect(a.sandbox?.state).toBe(SandboxState.RUNNING);
    expect(a.sandbox?.spec?.workdir).toBe("/sandbox");
    expect(a.sandbox?.spec?.network).toBe(NetworkMode.NONE);
    const got = await d.sandbox.getSandbox({ sandboxId: idA });
    expect(got.sandbox?.spec?.labels).toEqual({ team: "red", job: "1" });
    const red = await d.sandbox.listSandboxes({ labels: { team: "red" } });
    expect(red.sandboxes.map((s) => s.id)).toEqual([idA]);
    const all = await d.sandbox.listSandboxes({});
    expect(all.sandboxes.map((s) => s.id).sort()).toEqual([idA, idB].sort());

    // State lives in labels on the container.
    const info = await docker.getContainer(a.sandbox!.containerId).inspect();
    expect(info.Config.Labels["org.sandboxd.sandbox-id"]).toBe(idA);
    expect(info.Config.Labels["org.sandboxd.daemon"]).toBe(d.daemonId);
    expect(Number(info.Config.Labels["org.sandboxd.expires-at"])).toBeGreaterThan(Date.now());

    expect((await d.sandbox.destroySandbox({ sandboxId: idA })).destroyed).toBe(true);
    expect((await d.sandbox.destroySandbox({ sandboxId: idA })).destroyed).toBe(false);
    await expect(docker.getContainer(a.sandbox!.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(d.sandbox.run({ sandboxId: idA, code: "print(1)" })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 5 });
    await d.sandbox.destroySandbox({ sandboxId: idB });
  });

  it("applies the secure defaults and resource limits", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 256n * 1024n * 1024n, cpus: 0.5, pids: 64 } } });
    const id = sandbox!.id;
    try {
      const info = await docker.getContainer(sandbox!.containerId).inspect();
      expect(info.HostConfig.Memory).toBe(256 * 1024 * 1024);
      expect(info.HostConfig.NanoCpus).toBe(500_000_000);
      expect(info.HostConfig.PidsLimit).toBe(64);
      expect(info.HostConfig.NetworkMode).toBe("none");
      // Capabilities are checked from inside (CapEff below): engines spell CapDrop differently.
      expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges");
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(info.HostConfig.Binds ?? []).toEqual([]);

      const probe = await collect(
        d.sandbox.exec({
          sandboxId: id,
          shell: [
            "id -u",
            "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status",
            "touch /usr/x 2>/dev/null && echo root-writable || echo root-readonly",
            "touch /sandbox/x && echo workdir-writable",
            "touch /tmp/x && echo tmp-writable",
            "ls /sys/class/net",
            "test -S /var/run/docker.sock && echo engine-socket || echo no-engine-socket",
          ].join("; "),
        }),
      );
      expect(probe.stdout).toBe("1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nroot-readonly\nworkdir-writable\ntmp-writable\nlo\nno-engine-socket\n");
      const net = await collect(
        d.sandbox.run({
          sandboxId: id,
          code: "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('egress')\nexcept OSError as e:\n    print('no egress')",
        }),
      );
      expect(net.stdout).toBe("no egress\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("reaps a sandbox when its TTL passes and says it expired", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", ttlMs: 1500 } });
    const id = sandbox!.id;
    await new Promise((r) => setTimeout(r, 3500));
    await expect(d.sandbox.run({ sandboxId: id, code: "print(1)" })[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 9,
      details: expect.stringMatching(/expired/),
    });
    await expect(docker.getContainer(sandbox!.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("reaps an idle sandbox", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", idleTimeoutMs: 1500 } });
    await new Promise((r) => setTimeout(r, 3500));
    await expect(d.sandbox.getSandbox({ sandboxId: sandbox!.id })).rejects.toMatchObject({ code: 9 });
  });

  it("notices a container killed from outside", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    await docker.getContainer(sandbox!.containerId).kill();
    let code = 0;
    for (let i = 0; i < 50 && code === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      code = await d.sandbox.getSandbox({ sandboxId: sandbox!.id }).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
    }
    expect(code).toBe(9);
    const left = await docker.listContainers({ all: true, filters: { label: [`org.sandboxd.sandbox-id=${sandbox!.id}`] } });
    expect(left).toEqual([]);
  });
});
