import { createHash } from "node:crypto";
import type { V1NetworkPolicy, V1Pod } from "@kubernetes/client-node";
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
export const managedLabel = "sandboxd.org/managed";
export const containerName = "sandbox";

function digest(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** The Kubernetes label that stands for one daemon label (key and value hashed). */
export function selectorLabel(key: string, value: string): [string, string] {
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
export function numericUser(user: string): { uid: number; gid: number } | undefined {
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
      volumes,
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
          volumeMounts: mounts,
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
