import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { kubeNamespace, onKubernetes, workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// Pods that never run, and pods taken away: what a user of the Kubernetes backend is told.
// Docker and Podman have no scheduler, pod manifests or evictions; their counterparts
// (a missing image, a container killed from outside) are in lifecycle.test.ts.
let d: DaemonHandle;
let core: CoreV1Api;

beforeAll(async () => {
  if (!onKubernetes) return;
  const kc = new KubeConfig();
  kc.loadFromDefault();
  core = kc.makeApiClient(CoreV1Api);
  d = await startDaemon({ args: ["--kubernetes.unschedulable-timeout-ms", "3000", "--limits.max-memory-bytes", "1024g"] });
});

afterAll(async () => {
  await d?.stop();
});

const podsOf = async (daemonId: string) =>
  (await workloads([`org.sandboxd.daemon=${daemonId}`])).filter((w) => w.labels["org.sandboxd.sandbox-id"] !== undefined);

describe.skipIf(!onKubernetes)("pods that cannot run (Kubernetes: a scheduler, pod manifests, evictions)", () => {
  it("a pod no node matches fails CreateSandbox within the unschedulable timeout, in the scheduler's words, and leaves no pod", async () => {
    const t0 = Date.now();
    const err = await d.sandbox
      .createSandbox({ spec: { language: "python", podManifest: JSON.stringify({ spec: { nodeSelector: { "sandboxd.org/test-no-such-node": "x" } } }) } })
      .then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      );
    expect(err?.code).toBe(9); // FAILED_PRECONDITION: no node is of the kind asked for
    expect(err?.details).toMatch(/no node can run pod .*node affinity\/selector/);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(await podsOf(d.daemonId)).toEqual([]);
  });

  it("a pod asking for more memory than any node has is RESOURCE_EXHAUSTED (Insufficient memory), and leaves no pod", async () => {
    const err = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 512n * 1024n ** 3n } } }).then(
      () => undefined,
      (e: { code: number; details: string }) => e,
    );
    expect(err?.code).toBe(8);
    expect(err?.details).toMatch(/Insufficient memory/);
    expect(await podsOf(d.daemonId)).toEqual([]);
  });

  it("an image no node has: FAILED_PRECONDITION at once with pull policy Never; a failed pull is NOT_FOUND; no pod is left", async () => {
    await expect(d.sandbox.createSandbox({ spec: { language: "python", image: "sandboxd/never-imported:latest" } })).rejects.toMatchObject({
      code: 9,
      details: expect.stringMatching(/never-imported:latest is not present/),
    });
    expect(await podsOf(d.daemonId)).toEqual([]);
    // Nodes pull what they lack: a registry that refuses (a closed port on this machine) fails the pod's start.
    const pulling = await startDaemon({ args: ["--kubernetes.image-pull-policy", "IfNotPresent"] });
    try {
      await expect(pulling.sandbox.createSandbox({ spec: { language: "python", image: "127.0.0.1:1/sandboxd/never:latest" } })).rejects.toMatchObject({
        code: 5,
        details: expect.stringMatching(/not available to the cluster \((ErrImagePull|ImagePullBackOff)/),
      });
      expect(await podsOf(pulling.daemonId)).toEqual([]);
    } finally {
      await pulling.stop();
    }
  });

  it("the pod manifest's labels and scheduling reach the pod; the daemon's own settings stay", async () => {
    const manifest = {
      metadata: { labels: { team: "blue" }, annotations: { "example.org/owner": "ci" } },
      spec: { tolerations: [{ key: "example.org/x", operator: "Exists" }] },
    };
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", podManifest: JSON.stringify(manifest) } });
    try {
      const pod = await core.readNamespacedPod({ name: sandbox!.containerId, namespace: kubeNamespace });
      expect(pod.metadata?.labels?.["team"]).toBe("blue");
      expect(pod.metadata?.annotations?.["example.org/owner"]).toBe("ci");
      expect(pod.spec?.tolerations?.some((t) => t.key === "example.org/x")).toBe(true);
      expect(pod.spec?.automountServiceAccountToken).toBe(false);
      expect(pod.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem).toBe(true);
      const r = await collect(d.sandbox.exec({ sandboxId: sandbox!.id, shell: "id -u" }));
      expect(r.stdout).toBe("1000\n");
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
    }
  });

  it("an evicted pod (the Eviction API, as kubectl drain uses): its run is lost (UNAVAILABLE) and the sandbox says it was evicted", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox!.id;
    const run = collect(d.sandbox.exec({ sandboxId: id, shell: "echo started; sleep 60" }));
    // The run is under way before the eviction.
    await new Promise((r) => setTimeout(r, 1500));
    await core.createNamespacedPodEviction({
      name: sandbox!.containerId,
      namespace: kubeNamespace,
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: sandbox!.containerId, namespace: kubeNamespace } },
    });
    const ended = await run.then(
      (r) => ({ code: 0, details: `ended ${ExitStatus[r.exit.status]}` }),
      (e: { code: number; details: string }) => e,
    );
    // Its processes went with the pod: the run is lost (UNAVAILABLE), not an exit, not CANCELLED.
    expect(ended).toMatchObject({ code: 14 });
    await expect
      .poll(
        () =>
          d.sandbox.getSandbox({ sandboxId: id }).then(
            () => "running",
            (e: { details: string }) => e.details,
          ),
        { timeout: 20_000, interval: 250 },
      )
      .toMatch(/evicted \(EvictionByEvictionAPI/);
    await expect.poll(() => podsOf(d.daemonId), { timeout: 20_000, interval: 500 }).toEqual([]);
  });
});
