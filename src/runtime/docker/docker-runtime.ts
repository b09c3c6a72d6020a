import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { pack as tarPack } from "tar-stream";
import { ErrorCode, SandboxdError, describeError, notFound, unavailable } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { HostFirewall } from "../host-firewall.js";
import { startExec } from "./docker-exec.js";
import { acquireContainerLease } from "./docker-lease.js";
import { writePodmanSeccompProfile } from "./podman-seccomp.js";
import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  ExecOptions,
  EgressNetwork,
  ExecSession,
  ImageBuildOptions,
  Lease,
  LeaseSpec,
  VolumeInfo,
  VolumeSpec,
} from "../container-runtime.js";

/**
 * What only Podman needs (used when `name` is "podman", ignored for Docker): explicit
 * nofile/nproc limits below the host's hard limits on every container it creates
 * (sandboxes and the lease), and a seccomp profile, derived from the engine host's default
 * (podman-seccomp.ts) and written into the state directory, for sandboxes.
 */
export interface PodmanSettings {
  ulimits: { nofile: number; nproc: number };
  /** Podman's own default seccomp profile on the engine's host. */
  seccompBase: string;
  /** Where the derived profile is written. */
  stateDir: string;
}

export interface DockerRuntimeOptions {
  /** "docker" or "podman": the same API; Podman's differences are this class's. */
  name: "docker" | "podman";
  /** The engine's socket; default: Docker's or Podman's usual one. */
  socketPath?: string;
  host?: string;
  port?: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** Run an init process as PID 1 so orphans are reaped. */
  init: boolean;
  /** An engine call slower than this fails with DEADLINE_EXCEEDED instead of hanging. */
  callTimeoutMs?: number;
  /** The OCI runtime for sandboxes (runsc, kata-runtime, ...); undefined: the engine's default. */
  ociRuntime?: string;
  podman?: PodmanSettings;
  /** Keeps bridged sandboxes off the host; its rules go in before any sandbox network. */
  firewall: HostFirewall;
  logger: Logger;
}

const connectionErrors = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"]);

/** Maps dockerode/engine errors to the daemon's error codes. */
function engineError(err: unknown, what: string, engine: string): SandboxdError {
  if (err instanceof SandboxdError) return err;
  const e = err as { statusCode?: number; code?: string; json?: { message?: string }; message?: string };
  const detail = e?.json?.message ?? e?.message ?? describeError(err);
  if (e?.code !== undefined && connectionErrors.has(e.code)) {
    return unavailable(`container engine (${engine}) is unreachable: ${detail}`, { reason: "ENGINE_UNAVAILABLE", cause: err });
  }
  if (e?.statusCode === 404) return notFound(`${what}: ${detail}`, { cause: err });
  // Podman answers a name conflict with 500 "... is already in use": a conflict all the same.
  if (e?.statusCode === 409 || /name .* is already in use/.test(detail)) {
    return new SandboxdError(ErrorCode.FailedPrecondition, `${what}: ${detail}`, { cause: err });
  }
  if (e?.statusCode === 400) {
    return new SandboxdError(ErrorCode.InvalidArgument, `${what}: ${detail}`, { cause: err });
  }
  return new SandboxdError(ErrorCode.Internal, `${what}: ${detail}`, { cause: err });
}

/** A volume mount that copies nothing of the image in (dockerode's type wants every optional field). */
const noCopy = { NoCopy: true } as unknown as NonNullable<Docker.MountSettings["VolumeOptions"]>;

function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

/** The Docker (and Podman-compatible) backend. The only module that imports dockerode. */
export class DockerRuntime implements ContainerRuntime {
  readonly name: string;
  /** Docker's and Podman's exec streams end after the last byte; the exit code is read after. */
  readonly execMayCutOutput = false;
  private readonly docker: Docker;
  private readonly log: Logger;
  private readonly init: boolean;
  private readonly callTimeoutMs: number;
  private readonly firewall: HostFirewall;
  private readonly securityOpt: string[];
  private readonly ociRuntime: string | undefined;
  private readonly ulimits: { Name: string; Soft: number; Hard: number }[] | undefined;

  /** Throws when Podman's seccomp profile cannot be derived (a missing or unreadable base). */
  constructor(options: DockerRuntimeOptions) {
    this.name = options.name;
    const podman = options.name === "podman" ? options.podman : undefined;
    if (podman) {
      const { nofile, nproc } = podman.ulimits;
      this.ulimits = [
        { Name: "nofile", Soft: nofile, Hard: nofile },
        { Name: "nproc", Soft: nproc, Hard: nproc },
      ];
    }
    const seccompProfile = podman ? writePodmanSeccompProfile(podman.stateDir, podman.seccompBase) : undefined;
    this.ociRuntime = options.ociRuntime;
    this.securityOpt = ["no-new-privileges", ...(seccompProfile ? [`seccomp=${seccompProfile}`] : [])];
    this.firewall = options.firewall;
    this.log = options.logger;
    this.init = options.init;
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    const opts: Docker.DockerOptions = {};
    if (options.host !== undefined) {
      opts.host = options.host;
      if (options.port !== undefined) opts.port = options.port;
      if (options.tls) {
        opts.protocol = "https";
        opts.ca = options.tls.ca;
        opts.cert = options.tls.cert;
        opts.key = options.tls.key;
      } else {
        opts.protocol = "http";
      }
    } else {
      opts.socketPath = options.socketPath ?? (options.name === "podman" ? "/run/podman/podman.sock" : "/var/run/docker.sock");
    }
    this.docker = new Docker(opts);
  }

  private async call<T>(what: string, fn: () => Promise<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SandboxdError(ErrorCode.DeadlineExceeded, `the ${this.name} engine did not answer "${what}" within ${timeoutMs} ms`, {
              reason: "ENGINE_TIMEOUT",
            }),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), slow]);
    } catch (err) {
      throw engineError(err, what, this.name);
    } finally {
      clearTimeout(timer);
    }
  }

  async ping(): Promise<void> {
    await this.call("ping", () => this.docker.ping());
  }

  async imageLabels(image: string): Promise<Record<string, string> | undefined> {
    try {
      const info = await this.call(`inspect image ${image}`, () => this.docker.getImage(image).inspect());
      return info.Config?.Labels ?? {};
    } catch (err) {
      if ((err as SandboxdError).code === ErrorCode.NotFound) return undefined;
      throw err;
    }
  }

  async buildImage(tag: string, options: ImageBuildOptions): Promise<void> {
    const offline = (options.network ?? "none") === "none";
    if (offline && this.name === "podman") {
      // Podman's Docker-compatible build (4.x) runs RUN steps in the host's network namespace
      // whatever `networkmode` says (measured: the step's /proc/self/ns/net is the host's), and
      // its Dockerfile parser has no `RUN --network`. A build there could reach everything on
      // the host, so it runs only when the operator accepts that.
      throw new SandboxdError(
        ErrorCode.FailedPrecondition,
        "Dockerfile builds on Podman cannot be kept off the host's network; the operator must allow networked builds (--network.build default) or use Docker",
        { reason: "BUILD_NETWORK_UNAVAILABLE" },
      );
    }
    const tar = tarPack();
    // The requested Dockerfile goes in under a name no context file has, and the build is
    // told that name: a context that holds a file called `Dockerfile` (the folder the
    // requested `Dockerfile.bad` came from) must not replace it.
    const dockerfileName = unusedName(".sandboxd.Dockerfile", options.contextFiles);
    for (const [path, data] of Object.entries(options.contextFiles)) {
      tar.entry({ name: path }, Buffer.from(data));
    }
    tar.entry({ name: dockerfileName }, options.dockerfile);
    tar.finalize();
    const buildOpts: Record<string, unknown> = { t: tag, rm: true, forcerm: true, dockerfile: dockerfileName };
    if (options.labels) buildOpts["labels"] = JSON.stringify(options.labels);
    if (options.signal) buildOpts["abortSignal"] = options.signal;
    // RUN steps get no network unless the operator chose otherwise (--build-network): the
    // engine's default bridge is not one of the daemon's firewalled sandbox networks.
    if (offline) buildOpts["networkmode"] = "none";
    const stream = await this.call(`build ${tag}`, () => this.docker.buildImage(tar as unknown as NodeJS.ReadableStream, buildOpts), 30 * 60_000);
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string }[]) => {
          const failed = output?.find((o) => o.error !== undefined);
          if (err) reject(engineError(err, `build ${tag}`, this.name));
          else if (failed) {
            reject(new SandboxdError(ErrorCode.InvalidArgument, `image build failed: ${failed.error}`, { reason: "IMAGE_BUILD_FAILED" }));
          } else resolve();
        },
        (event: { stream?: string; status?: string; error?: string }) => {
          const text = event.stream ?? (event.status !== undefined ? `${event.status}\n` : event.error !== undefined ? `${event.error}\n` : undefined);
          if (text && options.onOutput) options.onOutput(text);
        },
      );
    });
  }

  async create(spec: ContainerSpec): Promise<string> {
    if (spec.podManifest) {
      throw new SandboxdError(ErrorCode.FailedPrecondition, `pod_manifest is for the Kubernetes backend; this daemon runs on ${this.name}`, {
        reason: "NOT_SUPPORTED_BY_BACKEND",
      });
    }
    const tmpfsOpts = (extra: string) => `rw,nosuid,nodev,size=${spec.diskBytes}${extra}`;
    const [uid, gid] = spec.user.split(":");
    // The workdir tmpfs belongs to the sandbox user: Docker takes uid/gid options, Podman
    // has none (and ignores mode with a read-only root) but chowns to the user with `U`.
    const numericUser = uid !== undefined && /^\d+$/.test(uid);
    const owner = this.name === "podman" ? ",U" : numericUser ? `,uid=${uid},gid=${gid ?? uid}` : "";
    const workdirMode = "0755";
    const hostConfig: Docker.HostConfig = {
      NetworkMode: spec.network,
      CapDrop: ["ALL"],
      SecurityOpt: this.securityOpt,
      ReadonlyRootfs: spec.readOnlyRoot,
      Tmpfs: {
        "/tmp": tmpfsOpts(",mode=1777,exec"),
        ...(spec.workdirTmpfs ? { [spec.workdir]: tmpfsOpts(`,mode=${workdirMode},exec${owner}`) } : {}),
      },
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: Math.round(spec.cpus * 1e9),
      PidsLimit: spec.pids,
      Init: this.init,
      ...(this.ociRuntime ? { Runtime: this.ociRuntime } : {}),
    };
    if (this.ulimits) hostConfig.Ulimits = this.ulimits;
    if (spec.mounts && spec.mounts.length > 0) {
      hostConfig.Mounts = spec.mounts.map((m) =>
        m.type === "volume"
          ? // NoCopy: the image's files at the target are not copied in (nor their owner onto the volume's root).
            { Type: "volume" as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly, VolumeOptions: noCopy }
          : { Type: "bind" as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly, BindOptions: { Propagation: "rprivate" as const } },
      );
    }
    const container = await this.call(`create container from ${spec.image}`, () =>
      this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Cmd: ["sleep", "infinity"],
        Entrypoint: [],
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        WorkingDir: spec.workdir,
        User: spec.user,
        Labels: spec.labels,
        HostConfig: hostConfig,
        NetworkDisabled: spec.network === "none",
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
      }),
    );
    return container.id;
  }

  async start(id: string): Promise<void> {
    await this.call(`start container ${id}`, () => this.docker.getContainer(id).start());
  }

  exec(id: string, options: ExecOptions): Promise<ExecSession> {
    return startExec(this.docker.getContainer(id), options, (what, fn) => this.call(what, fn), this.log);
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const info = await this.call(`inspect ${id}`, () => this.docker.getContainer(id).inspect());
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ""),
        image: info.Config.Image,
        labels: info.Config.Labels ?? {},
        running: info.State.Running,
        paused: info.State.Paused,
        createdAt: new Date(info.Created),
      };
    } catch (err) {
      if ((err as SandboxdError).code === ErrorCode.NotFound) return undefined;
      throw err;
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const items = await this.call("list containers", () => this.docker.listContainers({ all: true, filters: { label: labelFilters(labels) } }));
    return items.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? "").replace(/^\//, ""),
      image: c.Image,
      labels: c.Labels ?? {},
      running: c.State === "running" || c.State === "paused",
      paused: c.State === "paused",
      createdAt: new Date(c.Created * 1000),
    }));
  }

  async remove(id: string): Promise<boolean> {
    try {
      await this.call(`remove ${id}`, () => this.docker.getContainer(id).remove({ force: true, v: true }));
      return true;
    } catch (err) {
      const mapped = err as SandboxdError;
      if (mapped.code === ErrorCode.NotFound) return false;
      // 409 "removal already in progress" means someone else is removing it.
      if (mapped.code === ErrorCode.FailedPrecondition) return false;
      throw mapped;
    }
  }

  async commit(id: string, image: string, labels: Record<string, string> = {}): Promise<string> {
    const [repo, tag] = splitImage(image);
    const changes = Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`);
    const result = await this.call(`commit ${id}`, () => this.docker.getContainer(id).commit({ repo, tag, pause: true, changes }));
    return (result as { Id?: string }).Id ?? image;
  }

  async pause(id: string): Promise<void> {
    const container = this.docker.getContainer(id);
    const state = await this.call(`inspect ${id}`, () => container.inspect());
    if (state.State.Paused) return;
    await this.call(`pause ${id}`, () => container.pause());
  }

  async unpause(id: string): Promise<void> {
    const container = this.docker.getContainer(id);
    const state = await this.call(`inspect ${id}`, () => container.inspect());
    if (!state.State.Paused) return;
    await this.call(`unpause ${id}`, () => container.unpause());
  }

  /** A container named after the lease, holding it while this process lives (docker-lease.ts). */
  acquireLease(spec: LeaseSpec): Promise<Lease | { heldBy: ContainerInfo }> {
    return acquireContainerLease(this.docker, spec, {
      call: (what, fn) => this.call(what, fn),
      inspect: (id) => this.inspect(id),
      remove: (id) => this.remove(id),
      ulimits: this.ulimits,
    });
  }

  /**
   * A bridge network of one sandbox (firewall chains made first), named after its bridge;
   * `internal`: no route out (an allow-listed sandbox reaches only its gateway, the host).
   */
  private async createBridgeNetwork(labels: Record<string, string>, internal: boolean): Promise<{ name: string; bridge: string }> {
    await this.firewall.ensure();
    const bridge = `${this.firewall.bridgeNamePrefix}${randomBytes(4).toString("hex")}`;
    const name = `sandboxd-${bridge}`;
    await this.call(`create network ${name}`, () =>
      this.docker.createNetwork({
        Name: name,
        Driver: "bridge",
        CheckDuplicate: true,
        ...(internal ? { Internal: true } : {}),
        Labels: labels,
        EnableIPv6: false,
        Options: {
          "com.docker.network.bridge.name": bridge,
          // One sandbox per network; inter-container traffic is off all the same.
          "com.docker.network.bridge.enable_icc": "false",
        },
      }),
    );
    return { name, bridge };
  }

  async createSandboxNetwork(labels: Record<string, string>): Promise<string> {
    const { name } = await this.createBridgeNetwork(labels, false);
    try {
      await this.firewall.reassert();
    } catch (err) {
      await this.removeNetwork(name).catch(() => false);
      throw err;
    }
    return name;
  }

  async createEgressNetwork(labels: Record<string, string>): Promise<EgressNetwork> {
    if (this.name === "podman") {
      // Podman 4's netavark gives an internal network no gateway address on its bridge (even
      // one asked for): a sandbox on it has no way to the proxy, so refuse rather than fail later.
      throw new SandboxdError(ErrorCode.FailedPrecondition, "an egress allow-list (NETWORK_MODE_ALLOW_LIST) is not available on the Podman backend yet", {
        reason: "NOT_SUPPORTED_BY_BACKEND",
      });
    }
    // No route out: the sandbox reaches its gateway (the host), where only the proxy is let through.
    const { name, bridge } = await this.createBridgeNetwork(labels, true);
    try {
      const info = (await this.call(`inspect network ${name}`, () => this.docker.getNetwork(name).inspect())) as {
        IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] };
      };
      const cfg = info.IPAM?.Config?.find((c) => /^\d+\.\d+\.\d+\.\d+$/.test(c.Gateway ?? ""));
      if (!cfg?.Gateway || !cfg.Subnet) throw new SandboxdError(ErrorCode.Internal, `network ${name} has no IPv4 gateway`);
      return { name, bridge, gateway: cfg.Gateway, subnet: cfg.Subnet };
    } catch (err) {
      await this.removeNetwork(name).catch(() => false);
      throw err;
    }
  }

  async openEgressPort(network: EgressNetwork, port: number): Promise<void> {
    await this.firewall.allowOnly(network.bridge, network.gateway, port);
    await this.firewall.reassert();
  }

  async removeNetwork(name: string): Promise<boolean> {
    // An allow-listed network's own firewall rules go with it (sandboxd-<bridge>, createEgressNetwork).
    if (name.startsWith(`sandboxd-${this.firewall.bridgeNamePrefix}`)) await this.firewall.removeBridge(name.slice("sandboxd-".length));
    try {
      await this.call(`remove network ${name}`, () => this.docker.getNetwork(name).remove());
      return true;
    } catch (err) {
      if ((err as SandboxdError).code === ErrorCode.NotFound) return false;
      throw err;
    }
  }

  async listNetworks(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]> {
    const nets = await this.call("list networks", () => this.docker.listNetworks({ filters: { label: labelFilters(labels) } }));
    return nets.map((n) => ({ name: n.Name, labels: n.Labels ?? {} }));
  }

  async createVolume(spec: VolumeSpec): Promise<void> {
    await this.call(`create volume ${spec.name}`, () => this.docker.createVolume({ Name: spec.name, Labels: spec.labels }));
    try {
      // A new volume's root is root's, mode 0755: open it to the sandbox's (unprivileged) users.
      await this.runHelper(spec.helperImage, spec.name, ["chmod", "0777", "/v"]);
    } catch (err) {
      await this.removeVolume(spec.name).catch(() => false);
      throw err;
    }
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeInfo[]> {
    const res = await this.call("list volumes", () => this.docker.listVolumes({ filters: { label: labelFilters(labels) } }));
    return (res.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  async removeVolume(name: string): Promise<boolean> {
    try {
      await this.call(`remove volume ${name}`, () => this.docker.getVolume(name).remove());
      return true;
    } catch (err) {
      const mapped = err as SandboxdError;
      if (mapped.code === ErrorCode.NotFound) return false;
      // Podman answers a volume in use with 500 "volume is being used".
      if (/in use|being used/i.test(mapped.message)) throw new SandboxdError(ErrorCode.FailedPrecondition, mapped.message, { reason: "VOLUME_IN_USE" });
      throw mapped;
    }
  }

  async volumeUsage(name: string, helperImage: string): Promise<number> {
    const out = await this.runHelper(helperImage, name, ["du", "-sk", "/v"]);
    const kib = /^(\d+)/.exec(out.trim());
    if (!kib) throw new SandboxdError(ErrorCode.Internal, `du of volume ${name} said ${JSON.stringify(out.slice(0, 200))}`);
    return Number(kib[1]) * 1024;
  }

  /** Runs argv as root in a short-lived container of `image` with the volume at /v (no network, no capabilities); its output. */
  private async runHelper(image: string, volume: string, argv: string[]): Promise<string> {
    const hostConfig: Docker.HostConfig = {
      NetworkMode: "none",
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Mounts: [{ Type: "volume", Source: volume, Target: "/v", VolumeOptions: noCopy }],
      Memory: 64 * 1024 * 1024,
      PidsLimit: 16,
    };
    if (this.ulimits) hostConfig.Ulimits = this.ulimits;
    const container = await this.call(`create helper for volume ${volume}`, () =>
      this.docker.createContainer({
        name: `sandboxd-volume-helper-${randomBytes(6).toString("hex")}`,
        Image: image,
        Cmd: argv,
        Entrypoint: [],
        User: "0:0",
        Tty: true,
        NetworkDisabled: true,
        HostConfig: hostConfig,
      }),
    );
    try {
      await this.call(`start helper for volume ${volume}`, () => container.start());
      const result = (await this.call(`wait for helper of volume ${volume}`, () => container.wait())) as { StatusCode?: number };
      const logs = await this.call(`read helper of volume ${volume}`, () => container.logs({ stdout: true, stderr: true, follow: false }));
      const text = Buffer.isBuffer(logs) ? logs.toString("utf8") : String(logs);
      if (result.StatusCode !== 0) {
        throw new SandboxdError(ErrorCode.Internal, `${argv.join(" ")} on volume ${volume} failed (${result.StatusCode}): ${text.slice(0, 500)}`);
      }
      return text;
    } finally {
      await this.remove(container.id).catch(() => false);
    }
  }

  watchDeaths(labels: Record<string, string>, onDie: (id: string) => void, signal: AbortSignal): void {
    const connect = async (attempt: number): Promise<void> => {
      if (signal.aborted) return;
      try {
        const stream = (await this.docker.getEvents({
          filters: { type: ["container"], event: ["die"], label: labelFilters(labels) },
        })) as unknown as Readable;
        const stop = () => stream.destroy();
        signal.addEventListener("abort", stop, { once: true });
        let buf = "";
        stream.on("data", (chunk: Buffer) => {
          buf += chunk.toString("utf8");
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const ev = JSON.parse(line) as { id?: string; Actor?: { ID?: string } };
              const cid = ev.id ?? ev.Actor?.ID;
              if (cid) onDie(cid);
            } catch {
              this.log.warn({ line }, "unparseable engine event");
            }
          }
        });
        await new Promise<void>((resolve) => {
          stream.once("close", resolve);
          stream.once("end", resolve);
          stream.once("error", resolve);
        });
        signal.removeEventListener("abort", stop);
        if (!signal.aborted) setTimeout(() => void connect(0), 500).unref();
      } catch (err) {
        const delay = Math.min(5000, 250 * 2 ** attempt);
        this.log.debug({ err: describeError(err), delay }, "engine event stream unavailable; retrying");
        if (!signal.aborted) setTimeout(() => void connect(attempt + 1), delay).unref();
      }
    };
    void connect(0);
  }
}

function splitImage(image: string): [string, string] {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  if (colon > slash) return [image.slice(0, colon), image.slice(colon + 1)];
  return [image, "latest"];
}

/** `base`, or `base-1`, `base-2`, ...: the first that is not a path of the build context. */
function unusedName(base: string, contextFiles: Record<string, unknown>): string {
  let name = base;
  for (let i = 1; Object.hasOwn(contextFiles, name); i++) name = `${base}-${i}`;
  return name;
}
