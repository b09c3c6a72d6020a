import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { CoreV1Api, Exec, KubeConfig, Watch, type V1Pod, type V1Status } from "@kubernetes/client-node";
import { sleep } from "./stats.js";

/**
 * The raw side of the Kubernetes benchmark: what any @kubernetes/client-node program does to
 * get a pod running and to run a command in it, with no sandboxd code in between. The pods it
 * makes carry `rawLabel`, so cleanup finds them, and none of the daemon's labels.
 */

/** Label on every pod the benchmark creates itself. */
const rawLabel = "sandboxd-bench.org/raw";
/** The daemon's container name in its pods (src/runtime/kubernetes/pod-spec.ts). */
const containerName = "sandbox";

/** The kubeconfig the benchmark and its daemons use: $BENCH_K8S_KUBECONFIG, $KUBECONFIG, or ~/.kube/config; undefined when none exists. */
export function kubeconfigFile(): string | undefined {
  const candidates = [process.env["BENCH_K8S_KUBECONFIG"], process.env["KUBECONFIG"]?.split(":")[0], join(homedir(), ".kube", "config")];
  return candidates.find((f): f is string => f !== undefined && f !== "" && existsSync(f));
}

export interface Cluster {
  kubeconfig: string;
  kc: KubeConfig;
  core: CoreV1Api;
  exec: Exec;
  server: string;
}

/** The cluster the kubeconfig points at, or why there is none to measure (no kubeconfig, the API does not answer). */
export async function connectCluster(timeoutMs = 5000): Promise<Cluster | { skipped: string }> {
  const kubeconfig = kubeconfigFile();
  if (!kubeconfig) return { skipped: "no kubeconfig ($BENCH_K8S_KUBECONFIG, $KUBECONFIG or ~/.kube/config)" };
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfig);
  } catch (err) {
    return { skipped: `kubeconfig ${kubeconfig} is unreadable: ${(err as Error).message}` };
  }
  const core = kc.makeApiClient(CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? "?";
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      core.listNamespace({ limit: 1 }),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } catch (err) {
    return { skipped: `the API server ${server} (${kubeconfig}) does not answer: ${(err as Error).message.split("\n")[0]}` };
  } finally {
    clearTimeout(timer);
  }
  return { kubeconfig, kc, core, exec: new Exec(kc), server };
}

const statusCode = (err: unknown) => (err as { code?: number }).code;

/** Creates the namespace unless it exists (waiting out a previous run's deletion); true when this call created it. */
export async function ensureNamespace(core: CoreV1Api, name: string, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const ns = await core.readNamespace({ name });
      if (ns.status?.phase !== "Terminating") return false;
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      try {
        await core.createNamespace({ body: { metadata: { name, labels: { "sandboxd-bench.org/namespace": "true" } } } });
        return true;
      } catch (e) {
        if (statusCode(e) !== 409) throw e;
      }
    }
    if (Date.now() > deadline) throw new Error(`namespace ${name} is still terminating after ${timeoutMs} ms`);
    await sleep(500);
  }
}

export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/** The daemon flags that put it on this cluster and namespace (as test/helpers/engine.ts does for the Kubernetes pass). */
export function daemonArgs(cluster: Cluster, namespace: string): string[] {
  return [
    "--backend",
    "kubernetes",
    "--kubernetes.namespace",
    namespace,
    "--kubernetes.image-pull-policy",
    "Never",
    "--kubernetes.kubeconfig",
    cluster.kubeconfig,
  ];
}

function renameKeys(map: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  // Same lengths as the daemon's keys (sandboxd.org/ -> sandboxd-bench.org/ adds six characters each, once).
  for (const [k, v] of Object.entries(map ?? {})) out[k.replace(/(^|\.)sandboxd\.org\//, "$1sandboxd-bench.org/")] = v;
  return out;
}

/**
 * A pod spec identical to a sandboxd pod's (image, command, env, user, workdir, security
 * contexts, memory-backed volumes, limits and requests, labels and annotations of the same
 * size, renamed so the daemon never takes it for its own), without what the API server and
 * the scheduler filled in for that pod (node, status).
 */
export function podLike(daemonPod: V1Pod): (name: string) => V1Pod {
  const spec = structuredClone(daemonPod.spec);
  if (!spec) throw new Error("the daemon's pod has no spec");
  delete spec.nodeName;
  const labels = { ...renameKeys(daemonPod.metadata?.labels), [rawLabel]: "true" };
  const annotations = renameKeys(daemonPod.metadata?.annotations);
  return (name) => ({ apiVersion: "v1", kind: "Pod", metadata: { name, labels, annotations }, spec: structuredClone(spec) });
}

function isRunning(pod: V1Pod): boolean {
  const status = pod.status?.containerStatuses?.find((s) => s.name === containerName) ?? pod.status?.containerStatuses?.[0];
  return pod.metadata?.deletionTimestamp === undefined && pod.status?.phase === "Running" && status?.state?.running !== undefined;
}

function startFailure(pod: V1Pod): string | undefined {
  const status = pod.status?.containerStatuses?.[0];
  const waiting = status?.state?.waiting;
  if (waiting?.reason && /ErrImageNeverPull|ImagePullBackOff|ErrImagePull|InvalidImageName|CreateContainer/.test(waiting.reason)) {
    return `${waiting.reason}: ${waiting.message ?? ""}`;
  }
  if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") return `phase ${pod.status.phase}`;
  return undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Raw pods: created with one createNamespacedPod call each and seen Running through one
 * watch on the namespace (opened once, before any create, as a controller would), so the
 * time to Running is the cluster's, not a poll interval's.
 */
export class RawPods {
  private readonly waiters = new Map<string, Waiter>();
  private controller: AbortController | undefined;
  private closed = false;
  private seq = 0;

  private constructor(
    private readonly cluster: Cluster,
    private readonly namespace: string,
    private readonly template: (name: string) => V1Pod,
    private readonly startTimeoutMs: number,
  ) {}

  static async open(cluster: Cluster, namespace: string, template: (name: string) => V1Pod, startTimeoutMs = 300_000): Promise<RawPods> {
    const pods = new RawPods(cluster, namespace, template, startTimeoutMs);
    await pods.connect();
    return pods;
  }

  private async connect(): Promise<void> {
    const watch = new Watch(this.cluster.kc);
    this.controller = await watch.watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      { labelSelector: `${rawLabel}=true` },
      (_phase: string, pod: V1Pod) => this.seen(pod),
      () => {
        if (this.closed) return;
        // The API server ends watches after a while: reconnect, then look at each pod still waited for.
        void this.connect().then(() => this.recheck());
      },
    );
  }

  private seen(pod: V1Pod): void {
    const name = pod.metadata?.name ?? "";
    const w = this.waiters.get(name);
    if (!w) return;
    const failed = startFailure(pod);
    if (!isRunning(pod) && !failed) return;
    this.waiters.delete(name);
    clearTimeout(w.timer);
    if (failed) w.reject(new Error(`raw pod ${name} did not start: ${failed}`));
    else w.resolve();
  }

  private async recheck(): Promise<void> {
    for (const name of [...this.waiters.keys()]) {
      const pod = await this.cluster.core.readNamespacedPod({ name, namespace: this.namespace }).catch(() => undefined);
      if (pod) this.seen(pod);
    }
  }

  /** Creates a raw pod and resolves with its name once its container runs. */
  async createRunning(): Promise<string> {
    const name = `bench-raw-${process.pid}-${++this.seq}`;
    const running = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(name);
        reject(new Error(`raw pod ${name} was not running after ${this.startTimeoutMs} ms`));
      }, this.startTimeoutMs);
      this.waiters.set(name, { resolve, reject, timer });
    });
    try {
      await this.cluster.core.createNamespacedPod({ namespace: this.namespace, body: this.template(name) });
    } catch (err) {
      const w = this.waiters.get(name);
      if (w) clearTimeout(w.timer);
      this.waiters.delete(name);
      throw err;
    }
    await running;
    return name;
  }

  async remove(name: string): Promise<void> {
    await this.cluster.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }

  /** Deletes every raw pod and waits until they are gone (the node's pod slots and memory are free again). */
  async removeAll(timeoutMs = 180_000): Promise<void> {
    await this.cluster.core
      .deleteCollectionNamespacedPod({ namespace: this.namespace, labelSelector: `${rawLabel}=true`, gracePeriodSeconds: 0 })
      .catch(() => undefined);
    await waitForNoPods(this.cluster, this.namespace, `${rawLabel}=true`, timeoutMs);
  }

  close(): void {
    this.closed = true;
    this.controller?.abort();
    for (const w of this.waiters.values()) clearTimeout(w.timer);
    this.waiters.clear();
  }
}

/** Waits until no pod matches the selector; throws naming what is left after the timeout. */
export async function waitForNoPods(cluster: Cluster, namespace: string, labelSelector: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await cluster.core.listNamespacedPod({ namespace, labelSelector });
    if (left.items.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${left.items.length} pods (${labelSelector}) still in ${namespace} after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** Deletes what a daemon left in the namespace (none when it shut down cleanly) and waits until it is gone. */
export async function removeDaemonPods(cluster: Cluster, namespace: string, timeoutMs = 180_000): Promise<number> {
  const selector = "sandboxd.org/managed=true";
  const left = await cluster.core.listNamespacedPod({ namespace, labelSelector: selector });
  if (left.items.length) await cluster.core.deleteCollectionNamespacedPod({ namespace, labelSelector: selector, gracePeriodSeconds: 0 }).catch(() => undefined);
  await waitForNoPods(cluster, namespace, selector, timeoutMs);
  return left.items.length;
}

/** What the benchmark uses of the exec's websocket (the `ws` package's WebSocket, whose types are not installed). */
interface ExecSocket {
  once(event: "close", listener: () => void): void;
  once(event: "error", listener: (err: Error) => void): void;
}

export interface RawExecResult {
  exitCode: number;
  stdout: string;
}

/**
 * One raw exec through the pods/exec subresource (client-node's Exec: a websocket), the way
 * any client-node program runs a command: open, read to the close, exit code from the status.
 */
export async function rawPodExec(cluster: Cluster, namespace: string, pod: string, argv: string[]): Promise<RawExecResult> {
  const chunks: Buffer[] = [];
  const sink = (keep: boolean) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        if (keep) chunks.push(Buffer.from(chunk));
        done();
      },
    });
  let status: V1Status | undefined;
  const ws = (await cluster.exec.exec(namespace, pod, containerName, argv, sink(true), sink(false), null, false, (s) => {
    status = s;
  })) as unknown as ExecSocket;
  await new Promise<void>((resolve, reject) => {
    ws.once("close", () => resolve());
    ws.once("error", reject);
  });
  if (!status) throw new Error(`raw exec in ${pod} ended without a status`);
  const s = status as V1Status;
  const exitCode = s.status === "Success" ? 0 : Number(s.details?.causes?.find((c) => c.reason === "ExitCode")?.message ?? -1);
  return { exitCode, stdout: Buffer.concat(chunks).toString() };
}

/** A daemon's pool gauge from its metrics endpoint; undefined while the endpoint does not answer. */
export async function poolReady(metricsAddress: string, language: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    const m = new RegExp(`^sandboxd_pool_ready\\{profile="${language}"\\} (\\d+)`, "m").exec(text);
    return m?.[1] !== undefined ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until a daemon's pool holds `size` ready members (agents up); false after the timeout. */
export async function waitForPoolReady(metricsAddress: string, language: string, size: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (((await poolReady(metricsAddress, language)) ?? 0) >= size) return true;
    await sleep(250);
  }
  return false;
}
