import type { Readable, Writable } from "node:stream";

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
}

export interface ExecOptions {
  argv: string[];
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
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
  running: boolean;
  oomKilled: boolean;
  createdAt: Date;
}

export interface ImageBuildOptions {
  dockerfile: string;
  contextFiles: Record<string, Uint8Array>;
  labels?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
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
 * The one interface every backend implements (Docker, Podman, Kubernetes). Methods map
 * engine errors to SandboxdError: UNAVAILABLE when the engine is unreachable, NOT_FOUND
 * for a missing container or image.
 */
export interface ContainerRuntime {
  readonly name: string;
  ping(signal?: AbortSignal): Promise<void>;
  /** The image's labels, or undefined when the image does not exist. */
  imageLabels(image: string): Promise<Record<string, string> | undefined>;
  buildImage(tag: string, options: ImageBuildOptions): Promise<void>;
  create(spec: ContainerSpec): Promise<string>;
  start(id: string): Promise<void>;
  exec(id: string, options: ExecOptions): Promise<ExecSession>;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** Force-removes the container; false when it did not exist. */
  remove(id: string): Promise<boolean>;
  commit(id: string, image: string, labels?: Record<string, string>): Promise<string>;
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
  /** Removes a network; false when it did not exist. */
  removeNetwork(name: string): Promise<boolean>;
  /** The networks carrying all these labels. */
  listNetworks(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]>;
  /** Calls `onDie` with the container id whenever one of the daemon's containers stops. */
  watchDeaths(labels: Record<string, string>, onDie: (id: string) => void, signal: AbortSignal): void;
}
