import { hostname } from "node:os";
import { PassThrough, Writable } from "node:stream";
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  NetworkingV1Api,
  V1MicroTime,
  Watch,
  type V1Lease,
  type V1Pod,
  type V1Status,
} from "@kubernetes/client-node";
import { ErrorCode, SandboxdError, describeError, notFound, unavailable } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  ExecOptions,
  ExecSession,
  ImageBuildOptions,
  Lease,
  LeaseSpec,
  VolumeInfo,
  VolumeSpec,
} from "../container-runtime.js";
import {
  PodManifestError,
  claimFor,
  containerName,
  daemonLabelsOf,
  denyAllPolicyFor,
  hasLabels,
  labelSelector,
  labelsAnnotation,
  mergePodManifest,
  objectName,
  podFor,
  selectorLabels,
} from "./pod-spec.js";
import { deathCause, startState } from "./pod-status.js";

export interface KubernetesRuntimeOptions {
  /** The namespace sandboxes, leases and everything else of this daemon live in. */
  namespace: string;
  /** A kubeconfig file; undefined: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** The kubeconfig context to use; undefined: its current context. */
  context?: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  runtimeClassName?: string;
  /** An API call slower than this fails with DEADLINE_EXCEEDED instead of hanging. */
  callTimeoutMs?: number;
  /** How long a pod may take from created to running (image pull included). */
  startTimeoutMs?: number;
  /** How long a pod may stay unschedulable before start() gives up on it. */
  unschedulableTimeoutMs?: number;
  /** StorageClass of named volumes' PersistentVolumeClaims; undefined: no volumes (NOT_SUPPORTED_BY_BACKEND). */
  storageClassName?: string;
  logger: Logger;
}

/** Seconds a lease lasts without renewal: a daemon killed with SIGKILL loses its daemon id within this. */
const leaseSeconds = 6;
const renewEveryMs = 1500;
/** Bytes the exec's websocket may have queued before a writer waits. */
const wsHighWater = 1024 * 1024;

function apiError(err: unknown, what: string): SandboxdError {
  if (err instanceof SandboxdError) return err;
  if (err instanceof ApiException) {
    const body = typeof err.body === "string" ? err.body : JSON.stringify(err.body);
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not JSON: keep the text
    }
    const detail = `${what}: ${message.slice(0, 500)}`;
    if (err.code === 404) return notFound(detail, { cause: err });
    if (err.code === 409) return new SandboxdError(ErrorCode.FailedPrecondition, detail, { reason: "CONFLICT", cause: err });
    if (err.code === 400 || err.code === 422) return new SandboxdError(ErrorCode.InvalidArgument, detail, { cause: err });
    // Admission refusals of a pod (an unknown RuntimeClass, a quota) are about the request, not the caller.
    if (err.code === 403 && /RuntimeClass|exceeded quota|violates PodSecurity/.test(message)) {
      return new SandboxdError(ErrorCode.FailedPrecondition, detail, { reason: "POD_REJECTED", cause: err });
    }
    if (err.code === 401 || err.code === 403) return new SandboxdError(ErrorCode.PermissionDenied, detail, { reason: "KUBERNETES_FORBIDDEN", cause: err });
    if (err.code >= 500) return unavailable(detail, { reason: "ENGINE_UNAVAILABLE", cause: err });
    return new SandboxdError(ErrorCode.Internal, detail, { cause: err });
  }
  return unavailable(`the Kubernetes API is unreachable (${what}): ${describeError(err)}`, { reason: "ENGINE_UNAVAILABLE", cause: err });
}

function podInfo(pod: V1Pod): ContainerInfo {
  const status = pod.status?.containerStatuses?.find((s) => s.name === containerName) ?? pod.status?.containerStatuses?.[0];
  return {
    id: pod.metadata?.name ?? "",
    name: pod.metadata?.name ?? "",
    image: pod.spec?.containers[0]?.image ?? "",
    // sandboxd's own pods keep their labels in an annotation; any other pod (attach) has its Kubernetes labels.
    labels: pod.metadata?.annotations?.[labelsAnnotation] !== undefined ? daemonLabelsOf(pod.metadata.annotations) : { ...(pod.metadata?.labels ?? {}) },
    running: pod.metadata?.deletionTimestamp === undefined && pod.status?.phase === "Running" && status?.state?.running !== undefined,
    createdAt: pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp) : new Date(0),
  };
}

/** `sandboxd/python:latest` and `docker.io/sandboxd/python:latest` are the same image to containerd. */
function imageNames(image: string): string[] {
  const withTag = /:[^/]+$/.test(image) || image.includes("@") ? image : `${image}:latest`;
  const first = withTag.split("/")[0] ?? "";
  const hasRegistry = withTag.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasRegistry) return [withTag];
  const path = withTag.includes("/") ? withTag : `library/${withTag}`;
  return [withTag, `docker.io/${path}`];
}

/**
 * The Kubernetes backend: one pod per sandbox, the agent's channel through the exec
 * subresource (a websocket), leases as coordination.k8s.io Leases. The only module that
 * imports @kubernetes/client-node. What Kubernetes cannot do here is refused with
 * FAILED_PRECONDITION: building and committing images (use Docker or a registry), and
 * per-sandbox bridge networks (the pod network is the cluster's; see docs/kubernetes.md).
 * Loaded with import() by main.ts, for the kubernetes backend only.
 */
// ts-unused-exports:disable-next-line
export class KubernetesRuntime implements ContainerRuntime {
  readonly name = "kubernetes";
  /** The exec subresource may cut an exiting process's last output and still say Success. */
  readonly execMayCutOutput = true;
  private readonly kc = new KubeConfig();
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly execApi: Exec;
  private readonly log: Logger;
  private readonly namespace: string;
  private readonly callTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly unschedulableTimeoutMs: number;
  /** The container to exec into, for pods sandboxd did not make (attached ones): their first container. */
  private readonly foreignContainers = new Map<string, string>();

  constructor(private readonly options: KubernetesRuntimeOptions) {
    if (options.kubeconfig) this.kc.loadFromFile(options.kubeconfig);
    else this.kc.loadFromDefault();
    if (options.context) this.kc.setCurrentContext(options.context);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.coordination = this.kc.makeApiClient(CoordinationV1Api);
    this.networking = this.kc.makeApiClient(NetworkingV1Api);
    this.execApi = new Exec(this.kc);
    this.log = options.logger;
    this.namespace = options.namespace;
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 120_000;
    this.unschedulableTimeoutMs = options.unschedulableTimeoutMs ?? 10_000;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SandboxdError(ErrorCode.DeadlineExceeded, `the Kubernetes API did not answer "${what}" within ${this.callTimeoutMs} ms`, {
              reason: "ENGINE_TIMEOUT",
            }),
          ),
        this.callTimeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), slow]);
    } catch (err) {
      throw apiError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  async ping(): Promise<void> {
    // A namespaced read: the daemon's Role needs nothing cluster-wide for it (deploy/kubernetes).
    await this.call(`list pods in ${this.namespace}`, () => this.core.listNamespacedPod({ namespace: this.namespace, limit: 1 }));
  }

  /** Images have no labels the API shows; an image is there when a node reports it. */
  async imageLabels(image: string): Promise<Record<string, string> | undefined> {
    // Nodes pull what they lack (IfNotPresent, Always): whether the image exists is known only
    // when a pod tries, and start() reports a failed pull as NOT_FOUND.
    if (this.options.imagePullPolicy !== "Never") return {};
    const nodes = await this.call("list nodes", () => this.core.listNode());
    const wanted = new Set(imageNames(image));
    const found = nodes.items.some((n) => (n.status?.images ?? []).some((i) => (i.names ?? []).some((name) => wanted.has(name))));
    return found ? {} : undefined;
  }

  buildImage(tag: string, _options: ImageBuildOptions): Promise<void> {
    return Promise.reject(unsupported(`building images (${tag})`));
  }

  private storageClass(): string {
    const sc = this.options.storageClassName;
    if (!sc) throw unsupported("named volumes without a StorageClass (set --kubernetes.storage-class)");
    return sc;
  }

  /** A PersistentVolumeClaim of the configured StorageClass (pod-spec.ts claimFor). */
  async createVolume(spec: VolumeSpec): Promise<void> {
    const body = claimFor(spec.name, spec.labels, this.storageClass(), spec.sizeBytes, this.namespace);
    await this.call(`create claim ${spec.name}`, () => this.core.createNamespacedPersistentVolumeClaim({ namespace: this.namespace, body }));
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeInfo[]> {
    this.storageClass();
    const claims = await this.call("list claims", () =>
      this.core.listNamespacedPersistentVolumeClaim({ namespace: this.namespace, labelSelector: labelSelector(labels) }),
    );
    return claims.items
      .map((c) => ({ name: c.metadata?.name ?? "", labels: daemonLabelsOf(c.metadata?.annotations) }))
      .filter((v) => v.name !== "" && hasLabels(v.labels, labels));
  }

  async removeVolume(name: string): Promise<boolean> {
    try {
      await this.call(`delete claim ${name}`, () => this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: this.namespace }));
      return true;
    } catch (err) {
      if ((err as SandboxdError).code === ErrorCode.NotFound) return false;
      throw err;
    }
  }

  /** Not measured on Kubernetes (it would take a pod per call): 0. */
  volumeUsage(_name: string, _helperImage: string): Promise<number> {
    return Promise.resolve(0);
  }

  async create(spec: ContainerSpec): Promise<string> {
    if (spec.network !== "none") throw unsupported("a sandbox network");
    if (spec.mounts?.some((m) => m.type === "bind")) throw unsupported("host binds (SandboxSpec.mounts host_path)");
    // Only a sandbox committed on close has a writable root (container-spec.ts); a pod cannot be committed.
    if (!spec.readOnlyRoot) throw unsupported("commit on close");
    let pod = podFor(spec, {
      namespace: this.namespace,
      imagePullPolicy: this.options.imagePullPolicy,
      ...(this.options.runtimeClassName ? { runtimeClassName: this.options.runtimeClassName } : {}),
    });
    if (spec.podManifest) {
      try {
        pod = mergePodManifest(pod, spec.podManifest);
      } catch (err) {
        if (err instanceof PodManifestError) throw new SandboxdError(ErrorCode.InvalidArgument, err.message, { reason: "POD_MANIFEST_INVALID" });
        throw err;
      }
    }
    const made = await this.call(`create pod from ${spec.image}`, () => this.core.createNamespacedPod({ namespace: this.namespace, body: pod }));
    const name = made.metadata?.name ?? pod.metadata?.name ?? spec.name;
    // Network NONE: a deny-all NetworkPolicy of its own, owned by the pod (the garbage collector removes it
    // with the pod). It exists before start() returns, so before any code runs; it is enforced where the
    // cluster's network plugin enforces NetworkPolicy (docs/kubernetes.md).
    try {
      await this.call(`create network policy ${name}`, () =>
        this.networking.createNamespacedNetworkPolicy({ namespace: this.namespace, body: denyAllPolicyFor(made) }),
      );
    } catch (err) {
      await this.remove(name).catch(() => false);
      throw err;
    }
    return name;
  }

  /**
   * Pods start by themselves; this waits until the sandbox's container runs, or says why it
   * cannot: its image is missing (NOT_FOUND), it failed (UNAVAILABLE: OOM-killed, a bad
   * config), the scheduler found no node for it for unschedulableTimeoutMs
   * (RESOURCE_EXHAUSTED when nodes lack the resources, else FAILED_PRECONDITION, with the
   * scheduler's words), or it was not running by the deadline (DEADLINE_EXCEEDED). It never
   * waits longer than startTimeoutMs; the caller removes the pod.
   */
  async start(id: string): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    let unschedulableSince: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const pod = await this.call(`read pod ${id}`, () => this.core.readNamespacedPod({ name: id, namespace: this.namespace }));
      const state = startState(pod);
      if (state.kind === "running") return;
      if (state.kind === "image-missing")
        throw notFound(`the image of pod ${id} is not available to the cluster (${state.why})`, { reason: "IMAGE_NOT_FOUND" });
      if (state.kind === "failed") throw new SandboxdError(ErrorCode.Unavailable, `pod ${id} did not start: ${state.why}`, { reason: "POD_FAILED" });
      if (state.unschedulable !== undefined) {
        unschedulableSince ??= Date.now();
        if (Date.now() - unschedulableSince >= this.unschedulableTimeoutMs) {
          const code = /Insufficient|Too many pods/i.test(state.unschedulable) ? ErrorCode.ResourceExhausted : ErrorCode.FailedPrecondition;
          throw new SandboxdError(code, `no node can run pod ${id}: ${state.unschedulable}`, { reason: "POD_UNSCHEDULABLE" });
        }
      } else {
        unschedulableSince = undefined;
      }
      if (Date.now() > deadline) {
        throw new SandboxdError(ErrorCode.DeadlineExceeded, `pod ${id} was not running after ${this.startTimeoutMs} ms`, { reason: "POD_START_TIMEOUT" });
      }
      await new Promise((r) => setTimeout(r, Math.min(250, 20 * (attempt + 1))));
    }
  }

  async exec(id: string, options: ExecOptions): Promise<ExecSession> {
    // The exec subresource has no environment or working directory: a tiny sh wrapper sets them.
    let argv = options.argv;
    if (options.env || options.workdir) {
      const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
      argv = ["env", ...env, "sh", "-c", 'cd "$0" && exec "$@"', options.workdir ?? ".", ...options.argv];
    }
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const ref: { socket?: ExecSocket } = {};
    // Output backpressure: while either stream is full the websocket stops reading.
    const sink = (target: PassThrough) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          if (!target.write(chunk)) {
            ref.socket?.pause();
            target.once("drain", () => ref.socket?.resume());
          }
          done();
        },
      });
    const stdinSource = options.stdin ? new PassThrough() : null;
    let status: V1Status | undefined;
    let settle: (() => void) | undefined;
    const closed = new Promise<void>((resolve) => (settle = resolve));
    const ws = (await this.call(`exec in ${id}`, () =>
      this.execApi.exec(this.namespace, id, this.foreignContainers.get(id) ?? containerName, argv, sink(stdout), sink(stderr), stdinSource, false, (s) => {
        status = s;
      }),
    )) as unknown as ExecSocket;
    ref.socket = ws;
    // Idle exec streams are dropped by proxies and the API server after minutes without traffic; the agent's channel
    // is idle between runs, so the socket pings.
    const keepalive = setInterval(() => ws.ping(), 30_000);
    keepalive.unref();
    ws.on("close", () => {
      clearInterval(keepalive);
      stdout.end();
      stderr.end();
      settle?.();
    });
    ws.on("error", (err: Error) => this.log.debug({ err: describeError(err), pod: id }, "exec websocket error"));
    let stdin: Writable | null = null;
    if (stdinSource) {
      // Input backpressure: a write completes only once the websocket's queue has room.
      stdin = new Writable({
        write(chunk: Buffer, _enc, done) {
          stdinSource.write(chunk);
          const wait = () => (ws.readyState !== ws.OPEN || ws.bufferedAmount <= wsHighWater ? done() : setTimeout(wait, 2));
          wait();
        },
        final(done) {
          stdinSource.end();
          done();
        },
      });
    }
    return {
      stdin,
      stdout,
      stderr,
      wait: async () => {
        await closed;
        if (status === undefined) throw unavailable(`exec in pod ${id} ended without an exit status`);
        return exitCode(status);
      },
      destroy: () => {
        stdinSource?.destroy();
        ws.terminate();
      },
    };
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const pod = await this.call(`read pod ${id}`, () => this.core.readNamespacedPod({ name: id, namespace: this.namespace }));
      const first = pod.spec?.containers[0]?.name;
      if (first !== undefined && first !== containerName && pod.metadata?.annotations?.[labelsAnnotation] === undefined) {
        if (this.foreignContainers.size > 1000) this.foreignContainers.clear();
        this.foreignContainers.set(id, first);
      }
      return podInfo(pod);
    } catch (err) {
      if ((err as SandboxdError).code === ErrorCode.NotFound) return undefined;
      throw err;
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const pods = await this.call("list pods", () => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: labelSelector(labels) }));
    return pods.items.map(podInfo).filter((c) => hasLabels(c.labels, labels));
  }

  async remove(id: string): Promise<boolean> {
    this.foreignContainers.delete(id);
    try {
      await this.call(`delete pod ${id}`, () => this.core.deleteNamespacedPod({ name: id, namespace: this.namespace, gracePeriodSeconds: 0 }));
      return true;
    } catch (err) {
      if ((err as SandboxdError).code === ErrorCode.NotFound) return false;
      throw err;
    }
  }

  commit(id: string, _image: string): Promise<string> {
    return Promise.reject(unsupported(`committing pod ${id} to an image`));
  }

  /** A pod's containers cannot be frozen through the Kubernetes API. */
  pause(id: string): Promise<void> {
    return Promise.reject(unsupported(`pausing pod ${id}`));
  }

  unpause(id: string): Promise<void> {
    return Promise.reject(unsupported(`resuming pod ${id}`));
  }

  /**
   * A coordination.k8s.io Lease named after the daemon id's lease: its holder renews it
   * every 1.5 s; one not renewed for 6 s (its daemon was killed) may be taken over. The API
   * server's resourceVersion check decides between two claimants.
   */
  async acquireLease(spec: LeaseSpec): Promise<Lease | { heldBy: ContainerInfo }> {
    const name = objectName(spec.name);
    const holder = `${hostname()}-${process.pid}-${Date.now()}`;
    const body = (resourceVersion?: string): V1Lease => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name,
        namespace: this.namespace,
        labels: selectorLabels(spec.labels),
        annotations: { [labelsAnnotation]: JSON.stringify(spec.labels) },
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      spec: { holderIdentity: holder, leaseDurationSeconds: leaseSeconds, renewTime: new V1MicroTime(), acquireTime: new V1MicroTime() },
    });
    let seenRenewal: string | undefined;
    for (let attempt = 0; ; attempt++) {
      let current: V1Lease | undefined;
      try {
        current = await this.call(`read lease ${name}`, () => this.coordination.readNamespacedLease({ name, namespace: this.namespace }));
      } catch (err) {
        if ((err as SandboxdError).code !== ErrorCode.NotFound) throw err;
      }
      try {
        if (!current) {
          await this.call(`create lease ${name}`, () => this.coordination.createNamespacedLease({ namespace: this.namespace, body: body() }));
        } else {
          const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime as unknown as string).getTime() : 0;
          const lastsMs = (current.spec?.leaseDurationSeconds ?? leaseSeconds) * 1000;
          const live = current.spec?.holderIdentity && Date.now() - renewed < lastsMs;
          if (live) {
            // Held: by a live daemon, which renews it every renewEveryMs, or by one killed with
            // SIGKILL a moment ago (a crashed daemon restarted at once), whose lease runs out.
            // Only a renewal seen here tells the two apart: then refuse; else wait for the end.
            const renewal = `${current.spec?.holderIdentity}@${renewed}`;
            if ((seenRenewal !== undefined && renewal !== seenRenewal) || attempt >= 40) {
              return {
                heldBy: {
                  id: name,
                  name,
                  image: "",
                  labels: daemonLabelsOf(current.metadata?.annotations),
                  running: true,
                  createdAt: new Date(renewed),
                },
              };
            }
            seenRenewal = renewal;
            await new Promise((r) => setTimeout(r, Math.max(50, Math.min(renewEveryMs, renewed + lastsMs - Date.now() + 100))));
            continue;
          }
          const rv = current.metadata?.resourceVersion;
          await this.call(`take over lease ${name}`, () => this.coordination.replaceNamespacedLease({ name, namespace: this.namespace, body: body(rv) }));
        }
      } catch (err) {
        if ((err as SandboxdError).code === ErrorCode.FailedPrecondition && attempt < 20) continue; // another claimant won the race: look again
        throw err;
      }
      return this.holdLease(name, holder);
    }
  }

  private holdLease(name: string, holder: string): Lease {
    let released = false;
    let lose: (() => void) | undefined;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    let lastRenewed = Date.now();
    const renew = async () => {
      try {
        const current = await this.call(`read lease ${name}`, () => this.coordination.readNamespacedLease({ name, namespace: this.namespace }));
        if (current.spec?.holderIdentity !== holder) throw new Error("another holder took it");
        current.spec.renewTime = new V1MicroTime();
        await this.call(`renew lease ${name}`, () => this.coordination.replaceNamespacedLease({ name, namespace: this.namespace, body: current }));
        lastRenewed = Date.now();
      } catch (err) {
        const gone = (err as Error).message === "another holder took it" || Date.now() - lastRenewed > leaseSeconds * 1000;
        this.log.warn({ err: describeError(err), lease: name }, gone ? "lease lost" : "renewing the lease failed; retrying");
        if (gone) {
          clearInterval(timer);
          lose?.();
        }
      }
    };
    const timer = setInterval(() => void renew(), renewEveryMs);
    timer.unref();
    return {
      lost: lost.then(() => (released ? new Promise<void>(() => {}) : undefined)),
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await this.call(`delete lease ${name}`, () => this.coordination.deleteNamespacedLease({ name, namespace: this.namespace })).catch(() => undefined);
      },
    };
  }

  createSandboxNetwork(): Promise<string> {
    return Promise.reject(unsupported("a per-sandbox bridge network (NETWORK_MODE_BRIDGE)"));
  }

  createEgressNetwork(): Promise<never> {
    return Promise.reject(unsupported("an egress allow-list (NETWORK_MODE_ALLOW_LIST)"));
  }

  openEgressPort(): Promise<void> {
    return Promise.reject(unsupported("an egress allow-list (NETWORK_MODE_ALLOW_LIST)"));
  }

  removeNetwork(): Promise<boolean> {
    return Promise.resolve(false);
  }

  listNetworks(): Promise<{ name: string; labels: Record<string, string> }[]> {
    return Promise.resolve([]);
  }

  watchDeaths(labels: Record<string, string>, onDie: (id: string, cause?: string) => void, signal: AbortSignal): void {
    const watch = new Watch(this.kc);
    const reported = new Set<string>();
    const connect = async (attempt: number): Promise<void> => {
      if (signal.aborted) return;
      try {
        let ended: (() => void) | undefined;
        const done = new Promise<void>((resolve) => (ended = resolve));
        const controller = await watch.watch(
          `/api/v1/namespaces/${this.namespace}/pods`,
          { labelSelector: labelSelector(labels) },
          (phase: string, pod: V1Pod) => {
            const info = podInfo(pod);
            if (!hasLabels(info.labels, labels) || reported.has(info.id)) return;
            const stopped =
              phase === "DELETED" ||
              pod.status?.phase === "Failed" ||
              pod.status?.phase === "Succeeded" ||
              pod.status?.containerStatuses?.some((s) => s.state?.terminated);
            if (stopped) {
              reported.add(info.id);
              if (reported.size > 10_000) reported.clear();
              onDie(info.id, deathCause(pod, phase === "DELETED"));
            }
          },
          () => ended?.(),
        );
        const stop = () => controller.abort();
        signal.addEventListener("abort", stop, { once: true });
        await done;
        signal.removeEventListener("abort", stop);
        if (!signal.aborted) setTimeout(() => void connect(0), 500).unref();
      } catch (err) {
        const delay = Math.min(5000, 250 * 2 ** attempt);
        this.log.debug({ err: describeError(err), delay }, "pod watch unavailable; retrying");
        if (!signal.aborted) setTimeout(() => void connect(attempt + 1), delay).unref();
      }
    };
    void connect(0);
  }
}

/** What this runtime uses of the exec's websocket (the `ws` package's WebSocket). */
interface ExecSocket {
  readonly readyState: number;
  readonly OPEN: number;
  readonly bufferedAmount: number;
  pause(): void;
  resume(): void;
  ping(): void;
  terminate(): void;
  on(event: "close", listener: () => void): void;
  on(event: "error", listener: (err: Error) => void): void;
}

function unsupported(what: string): SandboxdError {
  return new SandboxdError(ErrorCode.FailedPrecondition, `${what} is not available on the Kubernetes backend`, { reason: "NOT_SUPPORTED_BY_BACKEND" });
}

/** The exit code in an exec's final status: Success is 0, a NonZeroExitCode failure names it. */
export function exitCode(status: V1Status): number {
  if (status.status === "Success") return 0;
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  if (cause?.message !== undefined && /^\d+$/.test(cause.message)) return Number(cause.message);
  // The runtime could not start the program at all: report it as a shell would (127 missing, 126 not executable).
  if (/executable file not found|no such file or directory/i.test(status.message ?? "")) return 127;
  if (/permission denied/i.test(status.message ?? "")) return 126;
  throw new SandboxdError(ErrorCode.Unavailable, `exec failed: ${status.message ?? status.reason ?? "unknown"}`, { reason: "EXEC_FAILED" });
}
