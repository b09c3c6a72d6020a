import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkMode, SandboxState } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { exists, killFromOutside, labelsOf, onKubernetes, sandboxSettings, workloads } from "../helpers/engine.js";
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
    const labels = await labelsOf(a.sandbox!.containerId);
    expect(labels["org.sandboxd.sandbox-id"]).toBe(idA);
    expect(labels["org.sandboxd.daemon"]).toBe(d.daemonId);
    expect(Number(labels["org.sandboxd.expires-at"])).toBeGreaterThan(Date.now());

    expect((await d.sandbox.destroySandbox({ sandboxId: idA })).destroyed).toBe(true);
    expect((await d.sandbox.destroySandbox({ sandboxId: idA })).destroyed).toBe(false);
    expect(await exists(a.sandbox!.containerId)).toBe(false);
    await expect(d.sandbox.run({ sandboxId: idA, code: "print(1)" })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 5 });
    await d.sandbox.destroySandbox({ sandboxId: idB });
  });

  it("applies the secure defaults and resource limits", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 256n * 1024n * 1024n, cpus: 0.5, pids: 64 } } });
    const id = sandbox!.id;
    try {
      const settings = await sandboxSettings(sandbox!.containerId);
      expect(settings).toMatchObject({ memoryBytes: 256 * 1024 * 1024, nanoCpus: 500_000_000, noNewPrivileges: true, readOnlyRoot: true, hostMounts: 0 });
      expect(settings.serviceAccountToken).toBe(false);
      // Kubernetes has no per-pod pids limit (the node's podPidsLimit applies) and always gives a pod the cluster network.
      if (!onKubernetes) expect(settings).toMatchObject({ pids: 64, networkNone: true });
      // Capabilities are checked from inside (CapEff below): engines spell CapDrop differently.

      const probe = await collect(
        d.sandbox.exec({
          sandboxId: id,
          shell: [
            "id -u",
            "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status",
            "touch /usr/x 2>/dev/null && echo root-writable || echo root-readonly",
            "touch /sandbox/x && echo workdir-writable",
            "touch /tmp/x && echo tmp-writable",
            ...(onKubernetes ? [] : ["ls /sys/class/net"]),
            "test -S /var/run/docker.sock && echo engine-socket || echo no-engine-socket",
          ].join("; "),
        }),
      );
      expect(probe.stdout).toBe(
        `1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nroot-readonly\nworkdir-writable\ntmp-writable\n${onKubernetes ? "" : "lo\n"}no-engine-socket\n`,
      );
      const net = await collect(
        d.sandbox.run({
          sandboxId: id,
          // Docker: no route at all. Kubernetes: the pod's only peer is the node (its gateway), here the kubelet's port, which the host firewall must drop.
          code: onKubernetes
            ? "import socket, struct\nr = [l.split() for l in open('/proc/net/route').read().splitlines()[1:]]\nd = [x for x in r if x[1] == '00000000']\n# The gateway, or without a default route the bridge: the first address of the pod subnet.\ngw = socket.inet_ntoa(bytes.fromhex(d[0][2])[::-1]) if d else socket.inet_ntoa(struct.pack('!I', struct.unpack('!I', bytes.fromhex(r[0][1])[::-1])[0] + 1))\ntry:\n    socket.create_connection((gw, 10250), timeout=2)\n    print('egress')\nexcept OSError as e:\n    print('no egress')"
            : "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('egress')\nexcept OSError as e:\n    print('no egress')",
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
    // The sandbox ends at once; its container or pod is removed right after (a pod's delete is an API call).
    let left = true;
    for (let i = 0; i < 100 && left; i++) {
      left = await exists(sandbox!.containerId);
      if (left) await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toBe(false);
  });

  it("reaps an idle sandbox", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", idleTimeoutMs: 1500 } });
    await new Promise((r) => setTimeout(r, 3500));
    await expect(d.sandbox.getSandbox({ sandboxId: sandbox!.id })).rejects.toMatchObject({ code: 9 });
  });

  it("notices a container killed from outside", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    await killFromOutside(sandbox!.containerId);
    let code = 0;
    for (let i = 0; i < 50 && code === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      code = await d.sandbox.getSandbox({ sandboxId: sandbox!.id }).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
    }
    expect(code).toBe(9);
    // The daemon removes what is left of it (a stopped container; on Kubernetes the pod is already being deleted).
    await expect.poll(async () => workloads([`org.sandboxd.sandbox-id=${sandbox!.id}`]), { timeout: 15_000, interval: 250 }).toEqual([]);
  });
});
