import { describe, expect, it } from "vitest";
import type { ContainerSpec } from "../container-runtime.js";
import { exitCode } from "./kubernetes-runtime.js";
import { claimFor, daemonLabelsOf, hasLabels, labelSelector, labelsAnnotation, objectName, podFor, selectorLabels } from "./pod-spec.js";

const spec: ContainerSpec = {
  name: "sandboxd-test-ab12-sbx_0F9",
  image: "sandboxd/python:latest",
  labels: { "org.sandboxd.sandbox-id": "sbx_0F9", "org.sandboxd.tenant": "team a/ü", "org.sandboxd.config": JSON.stringify({ env: { A: "x".repeat(200) } }) },
  env: { HOME: "/home/sandbox" },
  workdir: "/home/sandbox",
  user: "1000:1000",
  memoryBytes: 256 * 1024 * 1024,
  cpus: 0.5,
  pids: 128,
  diskBytes: 64 * 1024 * 1024,
  network: "none",
  readOnlyRoot: true,
  workdirTmpfs: true,
};

describe("Kubernetes pod spec", () => {
  it("names: valid DNS labels, distinct for names that sanitise alike", () => {
    for (const n of ["sandboxd-test-ab12-sbx_0F9", "sandboxd-test-ab12-sbx-0f9", "X".repeat(100), "__", "ok-name"]) {
      const out = objectName(n);
      expect(out).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }
    expect(objectName("ok-name")).toBe("ok-name");
    expect(objectName("sandboxd-test-ab12-sbx_0F9")).not.toBe(objectName("sandboxd-test-ab12-sbx-0f9"));
  });

  it("labels: any text survives in the annotation; selection uses valid hashed labels", () => {
    const pod = podFor(spec, { namespace: "ns", imagePullPolicy: "Never" });
    const labels = pod.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(labels)) {
      expect(k).toMatch(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
      expect(v.length).toBeLessThanOrEqual(63);
    }
    expect(daemonLabelsOf(pod.metadata?.annotations)).toEqual(spec.labels);
    const sel = labelSelector({ "org.sandboxd.tenant": "team a/ü" });
    for (const part of sel.split(",")) {
      const [k, v] = part.split("=");
      expect(labels[k ?? ""]).toBe(v);
    }
    expect(selectorLabels({ a: "1" })).not.toEqual(selectorLabels({ a: "2" }));
    expect(hasLabels(spec.labels, { "org.sandboxd.tenant": "team a/ü" })).toBe(true);
    expect(hasLabels(spec.labels, { "org.sandboxd.tenant": "team b" })).toBe(false);
    expect(daemonLabelsOf({ [labelsAnnotation]: "not json" })).toEqual({});
    expect(daemonLabelsOf({ [labelsAnnotation]: '{"a":1,"b":"x"}' })).toEqual({ b: "x" });
  });

  it("pods are locked down: no token, no host namespaces, non-root, no capabilities, RuntimeDefault seccomp, read-only root, sized memory volumes", () => {
    const pod = podFor(spec, { namespace: "ns", imagePullPolicy: "Never", runtimeClassName: "gvisor" });
    const s = pod.spec!;
    const c = s.containers[0]!;
    expect(s.automountServiceAccountToken).toBe(false);
    expect([s.hostNetwork, s.hostPID, s.hostIPC]).toEqual([false, false, false]);
    expect(s.runtimeClassName).toBe("gvisor");
    expect(s.securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(c.resources?.limits).toEqual({ cpu: "500m", memory: String(256 * 1024 * 1024) });
    expect(s.volumes).toEqual([
      { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: String(64 * 1024 * 1024) } },
      { name: "workdir", emptyDir: { medium: "Memory", sizeLimit: String(64 * 1024 * 1024) } },
    ]);
    expect(c.volumeMounts?.map((m) => m.mountPath)).toEqual(["/tmp", "/home/sandbox"]);
    expect(c.imagePullPolicy).toBe("Never");
  });

  it("exec status: Success is 0, NonZeroExitCode names the code, anything else is an error", () => {
    expect(exitCode({ status: "Success" })).toBe(0);
    expect(exitCode({ status: "Failure", reason: "NonZeroExitCode", details: { causes: [{ reason: "ExitCode", message: "3" }] } })).toBe(3);
    expect(() => exitCode({ status: "Failure", message: "container not found" })).toThrow(/container not found/);
    expect(exitCode({ status: "Failure", message: 'exec: "python3": executable file not found in $PATH' })).toBe(127);
  });
});

describe("network policy", () => {
  it("denies everything both ways, selects only its pod, and is owned by it", async () => {
    const { denyAllPolicyFor } = await import("./pod-spec.js");
    const pod = podFor(spec, { namespace: "ns", imagePullPolicy: "Never" });
    pod.metadata!.uid = "0000-1111";
    const policy = denyAllPolicyFor(pod);
    expect(policy.spec).toEqual({ podSelector: { matchLabels: pod.metadata?.labels }, policyTypes: ["Ingress", "Egress"], ingress: [], egress: [] });
    expect(policy.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Pod", name: pod.metadata?.name, uid: "0000-1111" });
    const other = podFor(
      { ...spec, name: "other", labels: { ...spec.labels, "org.sandboxd.sandbox-id": "sbx_other" } },
      { namespace: "ns", imagePullPolicy: "Never" },
    );
    const sel = policy.spec?.podSelector?.matchLabels ?? {};
    expect(Object.entries(sel).every(([k, v]) => other.metadata?.labels?.[k] === v)).toBe(false);
  });
});

describe("a client's pod manifest (llm-sandbox's pod_manifest)", () => {
  const base = () => podFor(spec, { namespace: "ns", imagePullPolicy: "Never" });
  it("adds labels, annotations, scheduling and requests; the daemon's own fields win", async () => {
    const { mergePodManifest } = await import("./pod-spec.js");
    const pod = mergePodManifest(
      base(),
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "ignored", labels: { team: "ml" }, annotations: { note: "x" } },
        spec: {
          nodeSelector: { pool: "sandboxes" },
          tolerations: [{ key: "sandbox", operator: "Exists" }],
          containers: [{ name: "main", resources: { requests: { cpu: "250m" } } }],
        },
      }),
    );
    expect(pod.metadata?.name).toBe(base().metadata?.name);
    expect(pod.metadata?.labels).toMatchObject({ team: "ml", "sandboxd.org/managed": "true" });
    expect(pod.metadata?.annotations).toMatchObject({ note: "x" });
    expect(pod.spec?.nodeSelector).toEqual({ pool: "sandboxes" });
    expect(pod.spec?.tolerations).toEqual([{ key: "sandbox", operator: "Exists" }]);
    expect(pod.spec?.containers[0]?.resources).toEqual({
      limits: base().spec?.containers[0]?.resources?.limits,
      requests: { cpu: "250m", memory: String(256 * 1024 * 1024) },
    });
    expect(pod.spec?.securityContext).toEqual(base().spec?.securityContext);
  });

  it("refuses every field that would weaken the sandbox, naming it", async () => {
    const { mergePodManifest } = await import("./pod-spec.js");
    const refused: [unknown, RegExp][] = [
      [{ spec: { hostNetwork: true } }, /spec\.hostNetwork/],
      [{ spec: { securityContext: { runAsUser: 0 } } }, /spec\.securityContext/],
      [{ spec: { automountServiceAccountToken: true } }, /automountServiceAccountToken/],
      [{ spec: { volumes: [{ name: "h", hostPath: { path: "/" } }] } }, /spec\.volumes/],
      [{ spec: { containers: [{ name: "c", securityContext: { privileged: true } }] } }, /containers\[0\]\.securityContext/],
      [{ spec: { containers: [{ name: "c", image: "evil" }] } }, /containers\[0\]\.image/],
      [{ spec: { containers: [{ name: "c", resources: { limits: { memory: "64Gi" } } }] } }, /requests only/],
      [{ spec: { containers: [{ name: "a" }, { name: "b" }] } }, /one container/],
      [{ metadata: { labels: { "sandboxd.org/managed": "false" } } }, /sandboxd\.org keys/],
      [{ metadata: { ownerReferences: [] } }, /metadata\.ownerReferences/],
      [{ kind: "Deployment" }, /kind must be Pod/],
    ];
    for (const [m, why] of refused) expect(() => mergePodManifest(base(), JSON.stringify(m)), JSON.stringify(m)).toThrow(why);
  });
});

describe("Kubernetes named volumes", () => {
  it("a named volume is a PersistentVolumeClaim of the StorageClass, with the daemon's labels kept exactly", () => {
    const labels = { "org.sandboxd.tenant": "team a/ü", "org.sandboxd.volume-id": "vol_abc" };
    const claim = claimFor("sandboxd-test-ab12-vol-abc", labels, "fast", 5 * 1024 ** 2, "ns");
    expect(claim.metadata).toMatchObject({ name: "sandboxd-test-ab12-vol-abc", namespace: "ns" });
    expect(daemonLabelsOf(claim.metadata?.annotations)).toEqual(labels);
    expect(claim.spec).toEqual({ accessModes: ["ReadWriteOnce"], storageClassName: "fast", resources: { requests: { storage: String(5 * 1024 ** 2) } } });
    expect(claimFor("v", labels, "fast", 0, "ns").spec?.resources?.requests?.["storage"]).toBe(String(1024 ** 3));
  });

  it("mounts its claims into the pod at their paths, read-only where asked, beside /tmp and the workdir", () => {
    const pod = podFor(
      {
        ...spec,
        mounts: [
          { type: "volume", source: "claim-a", target: "/data/a", readOnly: false },
          { type: "volume", source: "claim-b", target: "/mnt/b", readOnly: true },
        ],
      },
      { namespace: "ns", imagePullPolicy: "IfNotPresent" },
    );
    expect(pod.spec?.volumes?.filter((v) => v.persistentVolumeClaim)).toEqual([
      { name: "mount-0", persistentVolumeClaim: { claimName: "claim-a", readOnly: false } },
      { name: "mount-1", persistentVolumeClaim: { claimName: "claim-b", readOnly: true } },
    ]);
    expect(pod.spec?.containers[0]?.volumeMounts).toEqual([
      { name: "tmp", mountPath: "/tmp" },
      { name: "workdir", mountPath: "/home/sandbox" },
      { name: "mount-0", mountPath: "/data/a", readOnly: false },
      { name: "mount-1", mountPath: "/mnt/b", readOnly: true },
    ]);
    // The group of the sandbox user owns what the claim's driver supports (fsGroup).
    expect(pod.spec?.securityContext?.fsGroup).toBe(1000);
  });
});
