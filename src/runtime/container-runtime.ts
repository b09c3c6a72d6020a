import type { Readable, Writable } from "node:stream";

/** A NETWORK_MODE_ALLOW_LIST sandbox's network (createEgressNetwork). */
export interface EgressNetwork {
  name: string;
  bridge: string;
  gateway: string;
  /** The network's IPv4 subnet (CIDR): the only peers the proxy serves. */
  subnet: string;
}

/** What the daemon asks of an engine to create one sandbox container. */
export interface ContainerSpec {
  name: string;
  image: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  workdir: string;
  /** uid[:gid] the container's processes run as. */
  user: string;
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** Size of each tmpfs (workdir and /tmp). */
  diskBytes: number;
  /** "none", or the name of the sandbox's own network (createSandboxNetwork). */
  network: string;
  readOnlyRoot: boolean;
  /** Mount a size-limited tmpfs at the workdir (false: the workdir lives in the container layer). */
  workdirTmpfs: boolean;
  /** Kubernetes: the client's Pod manifest (JSON), merged under the daemon's pod; other backends refuse it. */
  podManifest?: string;
  /** Engine volumes and host directories mounted into the container (checked by the domain). */
  mounts?: ContainerMount[];
}

/** One mount of ContainerSpec.mounts. */
export interface ContainerMount {
  /** "volume": an engine volume by name; "bind": a host directory (its real path). */
  type: "volume" | "bind";
  source: string;
  target: string;
  readOnly: boolean;
}

/** An engine volume the daemon made (createVolume). */
export interface VolumeInfo {
  name: string;
  labels: Record<string, string>;
}

export interface VolumeSpec {
  name: string;
  labels: Record<string, string>;
  /** An image with a shell (any sandbox image), for the helper that opens the volume to sandbox users. */
  helperImage: string;
  /** The size asked for (Kubernetes: the claim's request); 0: none. */
  sizeBytes: number;
}

export interface ExecOptions {
  argv: string[];
  env?: Record<string, string>;
  workdir?: string;
  /** Attach stdin; otherwise the process reads EOF. */
  stdin?: boolean;
}

/** One engine exec with separate stdio streams. */
export interface ExecSession {
  /** Present when ExecOptions.stdin was set; end() closes the process's stdin. */
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves with the exit code once the process ended and its output was read. */
  wait(): Promise<number>;
  /** Tears the connection down (the process itself is not signalled). */
  destroy(): void;
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  /** Running, paused included. */
  running: boolean;
  /** Frozen by pause(); its sandbox is adopted paused. */
  paused?: boolean;
  createdAt: Date;
}

export interface ImageBuildOptions {
  dockerfile: string;
  contextFiles: Record<string, Uint8Array>;
  labels?: Record<string, string>;
  signal?: AbortSignal;
  /** The network RUN steps get: "none" (no network at all) or the engine's default bridge. */
  network?: "none" | "default";
  /** The builder's output, as it comes. */
  onOutput?: (text: string) => void;
}

/** What makes a lease: a name the engine keeps unique, and where its holder is described. */
export interface LeaseSpec {
  name: string;
  labels: Record<string, string>;
  /** An image with `cat` (any sandbox image), for backends whose lease is a container. */
  image: string;
}

/** A held lease. It ends with release(), or by itself when the holding process dies. */
export interface Lease {
  /** Resolves when the lease ended without release() (the engine dropped it). */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

/**
 * The one interface every backend implements (Docker and Podman in `docker/`; Kubernetes
 * next). Methods map engine errors to SandboxdError: UNAVAILABLE when the engine is
 * unreachable, DEADLINE_EXCEEDED when it does not answer in time, NOT_FOUND for a missing
 * container or image. Engine differences (Podman's ulimits, seccomp profile, tmpfs
 * ownership) live inside the implementation: nothing above asks which engine it is.
 */
export interface ContainerRuntime {
  /** The engine's name, for messages ("docker", "podman"). */
  readonly name: string;

  // --- Lifecycle: images and containers -------------------------------------------------

  /** Resolves when the engine answers (health, and adoption when it comes back). */
  ping(signal?: AbortSignal): Promise<void>;
  /** The image's labels, or undefined when the image does not exist. */
  imageLabels(image: string): Promise<Record<string, string> | undefined>;
  /** Builds `tag` from a Dockerfile and its context files. */
  buildImage(tag: string, options: ImageBuildOptions): Promise<void>;
  /** Creates a sandbox container (`sleep infinity` under an init, hardened) from the spec; its id. */
  create(spec: ContainerSpec): Promise<string>;
  start(id: string): Promise<void>;
  /** One container by id, id prefix or name (attach, a dead agent's container); undefined when missing. */
  inspect(id: string): Promise<ContainerInfo | undefined>;
  /** Every container carrying all these labels, running or not (adoption). */
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** Force-removes the container (stopping it); false when it did not exist. */
  remove(id: string): Promise<boolean>;
  /** Commits the container's filesystem to `image` with these labels; the image id. */
  commit(id: string, image: string, labels?: Record<string, string>): Promise<string>;
  /**
   * Freezes every process of the container (the engine's pause: the cgroup freezer), or
   * thaws them; a no-op when it is in that state already. FAILED_PRECONDITION (reason
   * NOT_SUPPORTED_BY_BACKEND) where the engine has no pause (Kubernetes).
   */
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;

  // --- The channel opener ---------------------------------------------------------------

  /**
   * Starts a process in the container with separate stdio. It is the channels' opener
   * (`agent-runner.ts`: the agent's long-lived exec; `exec-runner.ts`: one per run for
   * images without python3); everything else should go through a sandbox's SandboxChannel
   * (`src/files/` still calls it until its transfers move onto the channel).
   */
  exec(id: string, options: ExecOptions): Promise<ExecSession>;
  /**
   * Whether an exec's exit status can come before the last of its output. True on
   * Kubernetes: its exec streams may drop the tail when the process exits and still report
   * success (kubernetes/kubernetes#124571). One-shot execs that need every byte then end
   * their output with a trailer and wait to be told it arrived (`exec-runner.ts`).
   */
  readonly execMayCutOutput: boolean;

  // --- Isolation: one daemon per id, one network per bridged sandbox --------------------

  /**
   * Takes the named lease, or reports the live holder. The engine arbitrates (two callers
   * cannot both win), and a holder killed with SIGKILL loses it within seconds.
   */
  acquireLease(spec: LeaseSpec): Promise<Lease | { heldBy: ContainerInfo }>;
  /**
   * A network for one sandbox: it may reach out, but not the host's addresses, other
   * sandboxes or link-local services. Returns its name, for ContainerSpec.network.
   */
  createSandboxNetwork(labels: Record<string, string>): Promise<string>;
  /**
   * NETWORK_MODE_ALLOW_LIST: a network for one sandbox with no route out (the engine's
   * internal network); its name, bridge and gateway (a host address the egress proxy
   * listens on). Nothing on it is reachable until openEgressPort.
   */
  createEgressNetwork(labels: Record<string, string>): Promise<EgressNetwork>;
  /** Lets the egress network reach its gateway's `port` (the proxy) and nothing else of the host. */
  openEgressPort(network: EgressNetwork, port: number): Promise<void>;
  /** Removes a network; false when it did not exist. */
  removeNetwork(name: string): Promise<boolean>;
  /** The networks carrying all these labels. */
  listNetworks(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]>;

  // --- Volumes (VolumeService) -----------------------------------------------------------

  /**
   * Creates an engine volume that any sandbox user may write (its root is made mode 0777
   * by a short-lived helper container); FAILED_PRECONDITION NOT_SUPPORTED_BY_BACKEND where
   * the backend has none.
   */
  createVolume(spec: VolumeSpec): Promise<void>;
  /** The volumes carrying all these labels. */
  listVolumes(labels: Record<string, string>): Promise<VolumeInfo[]>;
  /** Removes a volume and its data; false when it did not exist, FAILED_PRECONDITION while a container uses it. */
  removeVolume(name: string): Promise<boolean>;
  /** The bytes the volume's files take (du in a short-lived helper container of `helperImage`). */
  volumeUsage(name: string, helperImage: string): Promise<number>;

  // --- Events ---------------------------------------------------------------------------

  /**
   * Calls `onDie` with the container id whenever a container with these labels stops, until
   * `signal` aborts; with the cause when the engine tells one (an eviction, an OOM kill).
   */
  watchDeaths(labels: Record<string, string>, onDie: (id: string, cause?: string) => void, signal: AbortSignal): void;
}
