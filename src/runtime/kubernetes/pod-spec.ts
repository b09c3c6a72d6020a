import { createHash } from "node:crypto";
import type { V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { ContainerSpec } from "../container-runtime.js";

/**
 * How a ContainerSpec becomes a Pod, and how the daemon's labels survive Kubernetes' label
 * syntax. Pure: the runtime (kubernetes-runtime.ts) does the API calls.
 *
 * The daemon's labels carry arbitrary text (tenant names, a sandbox's JSON config), which
 * Kubernetes label values cannot hold (63 characters of [A-Za-z0-9._-]). So every label is
 * kept verbatim in one annotation, and for selection each key/value pair also becomes a
 * Kubernetes label whose key and value are hashes: `list({k: v})` selects on the hashed
 * pairs and then compares the annotation exactly.
 */

export const labelsAnnotation = "sandboxd.org/labels";
/** Marks every object this backend made, so `kubectl get pods -l sandboxd.org/managed` finds them. */
const managedLabel = "sandboxd.org/managed";
export const containerName = "sandbox";

function digest(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** The Kubernetes label that stands for one daemon label (key and value hashed). */
function selectorLabel(key: string, value: string): [string, string] {
  return [`l.sandboxd.org/${digest(key, 20)}`, digest(`${key}\u0000${value}`, 40)];
}

export function selectorLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { [managedLabel]: "true" };
  for (const [k, v] of Object.entries(labels)) {
    const [hk, hv] = selectorLabel(k, v);
    out[hk] = hv;
  }
  return out;
}

export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(selectorLabels(labels))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The daemon labels of an object, from its annotation; {} when it has none or it is unreadable. */
export function daemonLabelsOf(annotations: Record<string, string> | undefined): Record<string, string> {
  const raw = annotations?.[labelsAnnotation];
  if (raw === undefined) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === "string") out[k] = v;
    return out;
  } catch {
    return {};
  }
}

export function hasLabels(have: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

/**
 * A DNS-1123 label (what pod and lease names must be, at most 63 characters) for a daemon
 * name such as `sandboxd-test-a1b2-sbx_9f`: lower-cased, other characters turned into `-`,
 * and when that changed or shortened it, a hash of the original appended so two names never
 * meet.
 */
export function objectName(name: string): string {
  let out = name.toLowerCase().replace(/[^a-z0-9-]+/g, "-");
  out = out.replace(/^-+/, "").replace(/-+$/, "");
  if (out === name && out.length <= 63 && out.length > 0) return out;
  const suffix = digest(name, 8);
  out = out.slice(0, 63 - suffix.length - 1).replace(/-+$/, "");
  return out ? `${out}-${suffix}` : `x-${suffix}`;
}

/** uid and gid of a numeric `uid[:gid]`; Kubernetes cannot run as a user name. */
function numericUser(user: string): { uid: number; gid: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) return undefined;
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}

export interface PodOptions {
  namespace: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** RuntimeClass for sandboxes (gVisor, Kata); undefined: the cluster's default. */
  runtimeClassName?: string;
}

/**
 * The pod of one sandbox: one container that sleeps (the agent is started in it through an
 * exec, as on Docker), with the secure defaults: no service-account token, no host
 * namespaces, non-root unless asked, every capability dropped, no privilege escalation, the
 * runtime's default seccomp profile, a read-only root, size-limited memory-backed volumes
 * for the workdir and /tmp (they count against the memory limit, as Docker's tmpfs does).
 */
export function podFor(spec: ContainerSpec, options: PodOptions): V1Pod {
  const user = numericUser(spec.user);
  const cpu = `${Math.max(1, Math.round(spec.cpus * 1000))}m`;
  const memory = String(spec.memoryBytes);
  const size = String(spec.diskBytes);
  const volumes = [{ name: "tmp", emptyDir: { medium: "Memory", sizeLimit: size } }];
  const mounts = [{ name: "tmp", mountPath: "/tmp" }];
  if (spec.workdirTmpfs) {
    volumes.push({ name: "workdir", emptyDir: { medium: "Memory", sizeLimit: size } });
    mounts.push({ name: "workdir", mountPath: spec.workdir });
  }
  // Named volumes are PersistentVolumeClaims (createVolume); host binds never reach here.
  const claims: V1Volume[] = [];
  const claimMounts: V1VolumeMount[] = [];
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    if (m.type !== "volume") continue;
    claims.push({ name: `mount-${i}`, persistentVolumeClaim: { claimName: m.source, readOnly: m.readOnly } });
    claimMounts.push({ name: `mount-${i}`, mountPath: m.target, readOnly: m.readOnly });
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: objectName(spec.name),
      namespace: options.namespace,
      labels: selectorLabels(spec.labels),
      annotations: { [labelsAnnotation]: JSON.stringify(spec.labels), "sandboxd.org/name": spec.name },
    },
    spec: {
      restartPolicy: "Never",
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      shareProcessNamespace: false,
      ...(options.runtimeClassName ? { runtimeClassName: options.runtimeClassName } : {}),
      securityContext: {
        ...(user ? { runAsUser: user.uid, runAsGroup: user.gid, fsGroup: user.gid, runAsNonRoot: user.uid !== 0 } : {}),
        seccompProfile: { type: "RuntimeDefault" },
      },
      volumes: [...volumes, ...claims],
      containers: [
        {
          name: containerName,
          image: spec.image,
          imagePullPolicy: options.imagePullPolicy,
          command: ["sleep", "infinity"],
          workingDir: spec.workdir,
          env: Object.entries(spec.env).map(([name, value]) => ({ name, value })),
          resources: { limits: { cpu, memory }, requests: { cpu: "10m", memory } },
          securityContext: {
            allowPrivilegeEscalation: false,
            privileged: false,
            readOnlyRootFilesystem: spec.readOnlyRoot,
            capabilities: { drop: ["ALL"] },
          },
          volumeMounts: [...mounts, ...claimMounts],
          stdin: false,
          tty: false,
        },
      ],
    },
  };
}

/**
 * The NetworkPolicy of one sandbox pod: it selects that pod alone (all of its selector
 * labels, the sandbox id's among them) and allows nothing in either direction. Owned by the
 * pod, so it goes with it.
 */
export function denyAllPolicyFor(pod: V1Pod): V1NetworkPolicy {
  const name = pod.metadata?.name ?? "";
  const own = { ...(pod.metadata?.labels ?? {}) };
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name,
      namespace: pod.metadata?.namespace ?? "",
      labels: { [managedLabel]: "true" },
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name, uid: pod.metadata?.uid ?? "", controller: false, blockOwnerDeletion: false }],
    },
    spec: { podSelector: { matchLabels: own }, policyTypes: ["Ingress", "Egress"], ingress: [], egress: [] },
  };
}

/**
 * What a client's pod manifest (llm-sandbox's `pod_manifest`) may add to the daemon's pod.
 * Everything the daemon enforces (security contexts, host namespaces, the service-account
 * token, volumes, the container's command, image, env and limits, restart policy) is the
 * daemon's: a manifest that sets any field outside this list is refused, not quietly
 * overridden, so a caller learns at once that it cannot weaken a sandbox.
 */
const podSpecFields = new Set([
  "nodeSelector",
  "affinity",
  "tolerations",
  "priorityClassName",
  "schedulerName",
  "topologySpreadConstraints",
  "imagePullSecrets",
  "runtimeClassName",
]);
const metadataFields = new Set(["labels", "annotations", "name", "namespace", "generateName"]);
const containerFields = new Set(["name", "resources"]);

export class PodManifestError extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === "string")) throw new PodManifestError(`${field} must map strings to strings`);
  return v as Record<string, string>;
}

/** The daemon's pod with the manifest's allowed fields merged in; PodManifestError names a field it may not set. */
export function mergePodManifest(pod: V1Pod, manifestJson: string): V1Pod {
  const manifest = JSON.parse(manifestJson) as unknown;
  if (!isObject(manifest)) throw new PodManifestError("pod_manifest must be a Pod object");
  for (const k of Object.keys(manifest)) {
    if (!["apiVersion", "kind", "metadata", "spec"].includes(k)) throw new PodManifestError(`pod_manifest.${k} is not a Pod field sandboxd takes`);
  }
  if (manifest["kind"] !== undefined && manifest["kind"] !== "Pod") throw new PodManifestError("pod_manifest.kind must be Pod");
  const out: V1Pod = structuredClone(pod);
  const meta = manifest["metadata"];
  if (meta !== undefined) {
    if (!isObject(meta)) throw new PodManifestError("pod_manifest.metadata must be an object");
    for (const k of Object.keys(meta)) if (!metadataFields.has(k)) throw new PodManifestError(`pod_manifest.metadata.${k} is set by sandboxd`);
    // The pod's name and namespace are the daemon's (its state lives in them); a manifest's are ignored, as llm-sandbox replaces them too.
    const ours = (k: string) => k.startsWith("sandboxd.org/") || k.includes(".sandboxd.org/");
    for (const [field, add] of [
      ["labels", stringMap(meta["labels"], "pod_manifest.metadata.labels")],
      ["annotations", stringMap(meta["annotations"], "pod_manifest.metadata.annotations")],
    ] as const) {
      for (const k of Object.keys(add)) if (ours(k)) throw new PodManifestError(`pod_manifest.metadata.${field}.${k}: sandboxd.org keys are the daemon's`);
      out.metadata = { ...out.metadata, [field]: { ...add, ...(out.metadata?.[field] ?? {}) } };
    }
  }
  const spec = manifest["spec"];
  if (spec !== undefined) {
    if (!isObject(spec)) throw new PodManifestError("pod_manifest.spec must be an object");
    for (const [k, v] of Object.entries(spec)) {
      if (k === "containers") continue;
      if (!podSpecFields.has(k)) throw new PodManifestError(`pod_manifest.spec.${k} is enforced by sandboxd (or not supported)`);
      if (k === "runtimeClassName" && out.spec?.runtimeClassName !== undefined && v !== out.spec.runtimeClassName) {
        throw new PodManifestError("pod_manifest.spec.runtimeClassName differs from the daemon's --kubernetes.runtime-class");
      }
      (out.spec as unknown as Record<string, unknown>)[k] = v;
    }
    const containers = spec["containers"];
    if (containers !== undefined) {
      if (!Array.isArray(containers) || containers.length > 1)
        throw new PodManifestError("pod_manifest.spec.containers may hold one container (the sandbox's)");
      const c = containers[0] as unknown;
      if (c !== undefined) {
        if (!isObject(c)) throw new PodManifestError("pod_manifest.spec.containers[0] must be an object");
        for (const k of Object.keys(c)) if (!containerFields.has(k)) throw new PodManifestError(`pod_manifest.spec.containers[0].${k} is enforced by sandboxd`);
        const res = c["resources"];
        if (res !== undefined) {
          if (!isObject(res) || Object.keys(res).some((k) => k !== "requests")) {
            throw new PodManifestError("pod_manifest.spec.containers[0].resources may set requests only (the limits are the sandbox's resources)");
          }
          const requests = stringMap(res["requests"], "pod_manifest.spec.containers[0].resources.requests");
          const target = out.spec?.containers[0];
          if (target) target.resources = { ...target.resources, requests: { ...(target.resources?.requests ?? {}), ...requests } };
        }
      }
    }
  }
  return out;
}

/**
 * The PersistentVolumeClaim of a named volume: one claim of the operator's StorageClass,
 * ReadWriteOnce, requesting the volume's size (1 GiB when none was asked), the daemon's
 * labels kept as on pods.
 */
export function claimFor(
  name: string,
  labels: Record<string, string>,
  storageClassName: string,
  sizeBytes: number,
  namespace: string,
): V1PersistentVolumeClaim {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: objectName(name), namespace, labels: selectorLabels(labels), annotations: { [labelsAnnotation]: JSON.stringify(labels) } },
    spec: {
      accessModes: ["ReadWriteOnce"],
      storageClassName,
      resources: { requests: { storage: String(sizeBytes > 0 ? sizeBytes : 1024 ** 3) } },
    },
  };
}
