import Docker from "dockerode";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { EngineProxy } from "./engine-proxy.js";
import { freePort } from "./ports.js";
import { CoordinationV1Api, CoreV1Api, Exec, KubeConfig, NodeV1Api, type V1Pod } from "@kubernetes/client-node";

/**
 * What the integration tests check behind the daemon's back, on whichever backend the
 * suite runs against (SANDBOXD_TEST_BACKEND: docker, podman or kubernetes): the
 * containers (or pods) carrying some labels, whether one still exists, and killing one
 * from outside. Each backend is read with its own client, never through sandboxd's code.
 */
export type Backend = "docker" | "podman" | "kubernetes";
export const backend = (process.env["SANDBOXD_TEST_BACKEND"] ?? "docker") as Backend;
export const onKubernetes = backend === "kubernetes";
export const engineSocket = process.env["SANDBOXD_TEST_ENGINE_SOCKET"] ?? (backend === "podman" ? "/run/podman/podman.sock" : "/var/run/docker.sock");
/** The namespace the Kubernetes pass runs its daemons in (scripts/k8s/cluster.sh makes it). */
export const kubeNamespace = process.env["SANDBOXD_TEST_K8S_NAMESPACE"] ?? "sandboxd-test";

/**
 * A client of the local Docker or Podman engine. On the Kubernetes pass it still talks to
 * the local engine, for the few checks about images that are the engine's.
 */
export const docker = new Docker({ socketPath: backend === "kubernetes" ? "/var/run/docker.sock" : engineSocket });

/** The daemon flags that point it at the backend under test. */
export function backendArgs(): string[] {
  if (backend === "kubernetes") {
    // The daemon gets the ServiceAccount's kubeconfig when one is given (scripts/k8s/daemon-access.sh): a verb
    // missing from deploy/kubernetes's Role then fails a test. The tests' own reads use $KUBECONFIG (an admin's).
    const kubeconfig = process.env["SANDBOXD_TEST_DAEMON_KUBECONFIG"];
    return [
      "--backend",
      "kubernetes",
      "--kubernetes.namespace",
      kubeNamespace,
      "--kubernetes.image-pull-policy",
      "Never",
      ...(kubeconfig ? ["--kubernetes.kubeconfig", kubeconfig] : []),
    ];
  }
  // Podman's build API cannot take RUN steps off the network (the daemon refuses builds there
  // unless the operator accepts that: docs/security.md); the suite's own Dockerfiles may.
  // build-image.test.ts tries the refusal with `--network.build none`.
  return ["--backend", backend, "--engine-endpoint", engineSocket, ...(backend === "podman" ? ["--network.build", "default"] : [])];
}

export interface Workload {
  id: string;
  name: string;
  labels: Record<string, string>;
  createdAt: Date;
}

/** A label filter: `key=value`, or `key` alone for "has this label". */
function matches(labels: Record<string, string>, filters: string[]): boolean {
  return filters.every((f) => {
    const eq = f.indexOf("=");
    return eq < 0 ? labels[f] !== undefined : labels[f.slice(0, eq)] === f.slice(eq + 1);
  });
}

let kubeConfig: KubeConfig | undefined;
let core: CoreV1Api | undefined;
function config(): KubeConfig {
  if (!kubeConfig) {
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
  }
  return kubeConfig;
}
function kube(): CoreV1Api {
  core ??= config().makeApiClient(CoreV1Api);
  return core;
}

function podLabels(pod: V1Pod): Record<string, string> {
  try {
    return JSON.parse(pod.metadata?.annotations?.["sandboxd.org/labels"] ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}

/** The containers or pods (sandboxes, pool members, leases) carrying these labels. */
export async function workloads(filters: string[]): Promise<Workload[]> {
  if (backend === "kubernetes") {
    const pods = await kube().listNamespacedPod({ namespace: kubeNamespace, labelSelector: "sandboxd.org/managed=true" });
    return pods.items
      .map((p) => ({ id: p.metadata?.name ?? "", name: p.metadata?.name ?? "", labels: podLabels(p), createdAt: new Date(p.metadata?.creationTimestamp ?? 0) }))
      .filter((w) => matches(w.labels, filters));
  }
  const all = await docker.listContainers({ all: true, filters: { label: filters } });
  return all.map((c) => ({ id: c.Id, name: (c.Names[0] ?? "").replace(/^\//, ""), labels: c.Labels, createdAt: new Date(c.Created * 1000) }));
}

/** Whether the container or pod still exists (a pod being deleted still counts). */
export async function exists(id: string): Promise<boolean> {
  try {
    if (backend === "kubernetes") await kube().readNamespacedPod({ name: id, namespace: kubeNamespace });
    else await docker.getContainer(id).inspect();
    return true;
  } catch (err) {
    const e = err as { statusCode?: number; code?: number };
    if (e.statusCode === 404 || e.code === 404) return false;
    throw err;
  }
}

/** The labels the daemon put on a container or pod. */
export async function labelsOf(id: string): Promise<Record<string, string>> {
  if (backend === "kubernetes") return podLabels(await kube().readNamespacedPod({ name: id, namespace: kubeNamespace }));
  return (await docker.getContainer(id).inspect()).Config.Labels ?? {};
}

/** Kills a sandbox from outside the daemon (docker kill; on Kubernetes the pod is deleted at once). */
export async function killFromOutside(id: string): Promise<void> {
  if (backend === "kubernetes") await kube().deleteNamespacedPod({ name: id, namespace: kubeNamespace, gracePeriodSeconds: 0 });
  else await docker.getContainer(id).kill();
}

/** Force-removes a container or pod; missing is fine. */
export async function removeWorkload(id: string): Promise<void> {
  try {
    if (backend === "kubernetes") await kube().deleteNamespacedPod({ name: id, namespace: kubeNamespace, gracePeriodSeconds: 0 });
    else await docker.getContainer(id).remove({ force: true });
  } catch {
    // already gone
  }
}

/** The engine answers (the Kubernetes API: the test namespace exists). */
export async function pingBackend(): Promise<void> {
  if (backend === "kubernetes") await kube().readNamespace({ name: kubeNamespace });
  else await docker.ping();
}

/** Whether an image is available to the backend's nodes. */
export async function hasImage(image: string): Promise<boolean> {
  if (backend === "kubernetes") {
    const names = new Set([image, `docker.io/${image}`]);
    const nodes = await kube().listNode();
    return nodes.items.some((n) => (n.status?.images ?? []).some((i) => (i.names ?? []).some((x) => names.has(x))));
  }
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

/** The limits and isolation settings a sandbox's container or pod was created with, in one shape for every backend. */
export interface SandboxSettings {
  memoryBytes: number;
  nanoCpus: number;
  /** The container's own pids limit; undefined on Kubernetes (the node's podPidsLimit applies, checked from inside). */
  pids: number | undefined;
  noNewPrivileges: boolean;
  readOnlyRoot: boolean;
  /** Host paths mounted into it. */
  hostMounts: number;
  /** Docker/Podman: network mode "none". Kubernetes: pods always have the cluster network (isolated by the host firewall). */
  networkNone: boolean;
  /** Kubernetes only: a service-account token is mounted. */
  serviceAccountToken: boolean;
}

function cpuToNano(q: string | undefined): number {
  if (q === undefined) return 0;
  return q.endsWith("m") ? Number(q.slice(0, -1)) * 1e6 : Number(q) * 1e9;
}

export async function sandboxSettings(id: string): Promise<SandboxSettings> {
  if (backend === "kubernetes") {
    const pod = await kube().readNamespacedPod({ name: id, namespace: kubeNamespace });
    const c = pod.spec?.containers[0];
    return {
      memoryBytes: Number(c?.resources?.limits?.["memory"] ?? 0),
      nanoCpus: cpuToNano(c?.resources?.limits?.["cpu"]),
      pids: undefined,
      noNewPrivileges: c?.securityContext?.allowPrivilegeEscalation === false,
      readOnlyRoot: c?.securityContext?.readOnlyRootFilesystem === true,
      hostMounts: (pod.spec?.volumes ?? []).filter((v) => v.hostPath !== undefined).length,
      networkNone: false,
      serviceAccountToken: pod.spec?.automountServiceAccountToken !== false,
    };
  }
  const info = await docker.getContainer(id).inspect();
  return {
    memoryBytes: info.HostConfig.Memory ?? 0,
    nanoCpus: info.HostConfig.NanoCpus ?? 0,
    pids: info.HostConfig.PidsLimit ?? undefined,
    noNewPrivileges: ((info.HostConfig.SecurityOpt ?? []) as string[]).includes("no-new-privileges"),
    readOnlyRoot: info.HostConfig.ReadonlyRootfs === true,
    hostMounts: (info.HostConfig.Binds ?? []).length,
    networkNone: info.HostConfig.NetworkMode === "none",
    serviceAccountToken: false,
  };
}

/** Runs a command in a sandbox behind the daemon's back (docker exec; the pod's exec subresource); resolves with its stdout. */
export async function execBehind(id: string, argv: string[]): Promise<string> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => (text += c.toString()));
  if (backend === "kubernetes") {
    await new Promise<void>((resolve, reject) => {
      new Exec(config())
        .exec(kubeNamespace, id, "sandbox", argv, out, null, null, false, () => resolve())
        .then((ws) => (ws as unknown as { on(e: "close", f: () => void): void }).on("close", () => resolve()), reject);
    });
    return text;
  }
  const exec = await docker.getContainer(id).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  docker.modem.demuxStream(stream, out, new PassThrough());
  await new Promise((r) => stream.on("end", r));
  return text;
}

/** The daemon-id leases held for this id: lease containers on Docker/Podman, Lease objects on Kubernetes. */
export async function leases(daemonId: string): Promise<string[]> {
  if (backend === "kubernetes") {
    const list = await config().makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: kubeNamespace, labelSelector: "sandboxd.org/managed=true" });
    return list.items
      .filter((l) => {
        try {
          return (JSON.parse(l.metadata?.annotations?.["sandboxd.org/labels"] ?? "{}") as Record<string, string>)["org.sandboxd.lease"] === daemonId;
        } catch {
          return false;
        }
      })
      .map((l) => l.metadata?.name ?? "");
  }
  return (await workloads([`org.sandboxd.lease=${daemonId}`])).map((w) => w.name);
}

export interface PlainWorkload {
  /** What a caller passes as container_id: the full container id; on Kubernetes the pod's name. */
  id: string;
  name: string;
  running(): Promise<boolean>;
  remove(): Promise<void>;
}

/** A container (pod) sandboxd did not make: python image, sleeping, as uid 1000, no network. */
export async function plainWorkload(name: string, labels: Record<string, string> = {}): Promise<PlainWorkload> {
  if (backend === "kubernetes") {
    await kube().createNamespacedPod({
      namespace: kubeNamespace,
      body: {
        metadata: { name, labels },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "sandbox",
              image: "sandboxd/python:latest",
              imagePullPolicy: "Never",
              command: ["sleep", "infinity"],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    });
    const running = async () => {
      const pod = await kube().readNamespacedPod({ name, namespace: kubeNamespace });
      return pod.status?.phase === "Running";
    };
    for (let i = 0; i < 300 && !(await running()); i++) await new Promise((r) => setTimeout(r, 100));
    return { id: name, name, running, remove: () => removeWorkload(name) };
  }
  const c = await docker.createContainer({
    name,
    Image: "sandboxd/python:latest",
    Cmd: ["sleep", "infinity"],
    User: "1000:1000",
    Labels: labels,
    HostConfig: { NetworkMode: "none", Ulimits: plainUlimits() },
  });
  await c.start();
  return {
    id: c.id,
    name,
    running: async () => (await c.inspect()).State.Running,
    remove: () => removeWorkload(c.id),
  };
}

/** The OCI runtime (Docker) or RuntimeClass (Kubernetes) a sandbox runs under. */
export async function sandboxRuntimeOf(id: string): Promise<string | undefined> {
  if (backend === "kubernetes") return (await kube().readNamespacedPod({ name: id, namespace: kubeNamespace })).spec?.runtimeClassName;
  return (await docker.getContainer(id).inspect()).HostConfig.Runtime;
}

/** A RuntimeClass with this handler (cluster-wide; made once). */
export async function ensureRuntimeClass(name: string, handler: string): Promise<string> {
  const api = config().makeApiClient(NodeV1Api);
  try {
    await api.readRuntimeClass({ name });
  } catch {
    await api
      .createRuntimeClass({ body: { apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name }, handler } })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
  }
  return name;
}

/**
 * A proxy between a daemon and the backend (engine-proxy.ts), and the daemon flags that
 * point it there: the engine socket on Docker and Podman; on Kubernetes a kubeconfig whose
 * server is the proxy's loopback port (the API server's certificate names 127.0.0.1).
 */
export async function proxiedBackend(name: string): Promise<{ proxy: EngineProxy; args: string[] }> {
  if (backend !== "kubernetes") {
    const proxy = new EngineProxy(join(tmpdir(), `sandboxd-${name}-${process.pid}.sock`), engineSocket);
    return { proxy, args: ["--engine-endpoint", proxy.path as string] };
  }
  const source = new KubeConfig();
  const daemonConfig = process.env["SANDBOXD_TEST_DAEMON_KUBECONFIG"];
  if (daemonConfig) source.loadFromFile(daemonConfig);
  else source.loadFromDefault();
  const cluster = source.getCurrentCluster();
  if (!cluster) throw new Error("no current cluster in the kubeconfig");
  const url = new URL(cluster.server);
  const port = await freePort();
  const proxy = new EngineProxy(port, { host: url.hostname, port: Number(url.port || 443) });
  const exported = JSON.parse(source.exportConfig()) as { clusters: { cluster: { server: string } }[] };
  for (const c of exported.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
  const file = join(tmpdir(), `sandboxd-${name}-${process.pid}.kubeconfig`);
  writeFileSync(file, JSON.stringify(exported), { mode: 0o600 });
  return { proxy, args: ["--kubernetes.kubeconfig", file] };
}

/** Ulimits for a plain container of the tests' own: Podman here needs them below the host's hard limits (as the daemon's --podman-ulimits). */
export function plainUlimits(): { Name: string; Soft: number; Hard: number }[] {
  return backend === "podman"
    ? [
        { Name: "nofile", Soft: 4096, Hard: 4096 },
        { Name: "nproc", Soft: 4096, Hard: 4096 },
      ]
    : [];
}
