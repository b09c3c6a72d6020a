import type { Config } from "../config/config.js";
import { ErrorCode, SandboxdError, describeError, failedPrecondition, notFound } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime, ContainerSpec } from "../runtime/container-runtime.js";
import type { AttachPolicy } from "./attach-policy.js";
import { sandboxContainerSpec } from "./container-spec.js";
import type { ImageResolver } from "./image-resolver.js";
import { Label } from "./labels.js";
import type { LanguageHandler, LanguageRegistry } from "./languages.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";
import { writeOwner } from "./pool-owner.js";
import { setUpSandbox, type Sandbox } from "./sandbox.js";
import { wrapArgv } from "./command-wrapper.js";
import type { SandboxConfig, SandboxRequest } from "./sandbox-config.js";
import type { SandboxFactory, SandboxRecord } from "./sandbox-factory.js";
import type { SandboxNetworks } from "./sandbox-networks.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";
import { drainProcess } from "../runtime/process.js";
import type { SandboxRegistry } from "./sandbox-registry.js";
import { poolLabels, type PoolProfile, type PooledContainer, type WarmPool } from "./warm-pool.js";

/** A request resolved against the daemon's defaults and limits, and checked. */
export interface ResolvedRequest {
  config: SandboxConfig;
  handler: LanguageHandler;
}

export interface LauncherDeps {
  config: Config;
  runtime: ContainerRuntime;
  languages: LanguageRegistry;
  images: ImageResolver;
  networks: SandboxNetworks;
  attachPolicy: AttachPolicy;
  pool: WarmPool;
  factory: SandboxFactory;
  registry: SandboxRegistry;
  metrics: SandboxdMetrics;
  logger: Logger;
}

/** True when a request asks for nothing a warm pool member does not already have. */
function poolCompatible(req: SandboxRequest, defaultImage: string, defaultWorkdir: string): boolean {
  const r = req.resources;
  return (
    (req.image === "" || req.image === defaultImage) &&
    (req.dockerfile === undefined || req.dockerfile.content.trim() === "") &&
    r.memoryBytes === 0 &&
    r.cpus === 0 &&
    r.pids === 0 &&
    r.diskBytes === 0 &&
    (req.network === "unspecified" || req.network === "none") &&
    Object.keys(req.env).length === 0 &&
    (req.workdir === "" || req.workdir === defaultWorkdir) &&
    req.user === "" &&
    req.commitOnClose === "" &&
    req.containerId === "" &&
    // A member's language setup ran unwrapped (src/sandbox/command-wrapper.ts).
    req.commandWrapper.length === 0 &&
    (req.mounts === undefined || req.mounts.length === 0)
  );
}

/**
 * Makes a registered, running sandbox of a request, one of three ways: attached to an
 * existing container (`container_id`), a warm pool member handed out, or a new container
 * (image resolved or built, its own network when bridged, created and started).
 */
export class SandboxLauncher {
  private readonly log: Logger;

  constructor(private readonly deps: LauncherDeps) {
    this.log = deps.logger;
  }

  async launch(tenant: string, req: SandboxRequest, { config, handler }: ResolvedRequest, signal?: AbortSignal): Promise<Sandbox> {
    const { pool, metrics } = this.deps;
    const started = Date.now();
    const timed = <T>(source: string, sandbox: T): T => {
      metrics.sandboxCreateDuration.observe((Date.now() - started) / 1000, { source });
      return sandbox;
    };
    if (config.containerId) return timed("attach", await this.attach(tenant, config));
    if (pool.has(handler.name) && poolCompatible(req, this.deps.config.images[handler.name] || handler.image, this.deps.config.defaults.workdir)) {
      const member = pool.take(handler.name);
      metrics.poolAcquisitions.inc({ pool: `config-${handler.name}`, result: member ? "hit" : "miss" });
      if (member) return timed("pool", this.handOut(tenant, config, member));
    }
    return timed("cold", await this.createContainer(tenant, config, signal));
  }

  /** The pool profile of a language's defaults-only request: its members' spec and channel. */
  poolProfile({ config, handler }: ResolvedRequest, size: number): PoolProfile {
    return {
      key: handler.name,
      size,
      spec: (id, createdAt) => {
        const spec = this.containerSpec(id, "", config, config.image, createdAt);
        spec.labels = { ...spec.labels, ...poolLabels(handler.name) };
        return spec;
      },
      startRunner: async (containerId) => {
        const channel = await this.deps.factory.channel(containerId);
        await setUpSandbox(channel, handler, this.log, config.commandWrapper);
        return channel;
      },
    };
  }

  private async createContainer(tenant: string, config: SandboxConfig, signal: AbortSignal | undefined): Promise<Sandbox> {
    const id = newId("sbx");
    const createdAt = new Date();
    const { containerId, image } = await this.startContainer(id, tenant, config, createdAt, {}, signal);
    const sandbox = this.register({ id, tenant, config, containerId, image, createdAt, attached: false, fromPool: false });
    sandbox.warm();
    this.log.info({ sandboxId: id, tenant, image, containerId: containerId.slice(0, 12) }, "sandbox created");
    return sandbox;
  }

  /** Resolves (or builds) the image, makes the sandbox's network when bridged, creates and starts its container. */
  private async startContainer(
    id: string,
    tenant: string,
    config: SandboxConfig,
    createdAt: Date,
    extraLabels: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<{ containerId: string; image: string }> {
    const { runtime, networks } = this.deps;
    const { image, labels: imageLabels } = await this.deps.images.ensure(config, signal);
    const spec = this.containerSpec(id, tenant, config, image, createdAt);
    spec.labels = { ...spec.labels, ...extraLabels };
    if (spec.workdirTmpfs && imageLabels[Label.committed] === "true") {
      // A committed image carries its workdir: a tmpfs would hide it.
      spec.workdirTmpfs = false;
      spec.readOnlyRoot = false;
    }
    // A bridged sandbox gets a network of its own: it reaches out, never the host or a peer.
    if (config.network === "bridge") spec.network = await networks.create(id);
    // An allow-listed one gets a network with no route out but to the egress proxy the daemon runs for it.
    const egress = config.network === "allow_list" && config.egress ? await networks.createEgress(id, config.egress) : undefined;
    if (egress) {
      spec.network = egress.network;
      spec.env = { ...spec.env, ...egress.env };
    }
    const undo = async () => {
      if (egress) await networks.removeFor(id);
      else if (spec.network !== "none") await networks.removeNamed(spec.network);
    };
    let containerId: string;
    try {
      containerId = await runtime.create(spec);
    } catch (err) {
      await undo();
      throw err;
    }
    try {
      await runtime.start(containerId);
      await egress?.started();
    } catch (err) {
      await runtime.remove(containerId).catch(() => false);
      await undo();
      throw err;
    }
    return { containerId, image };
  }

  /**
   * A member of API pool `poolId` (PoolService): started like a new sandbox of `config`, its
   * channel open and set up, `libraries` installed. Labelled with the pool and unowned, so a
   * restarted daemon removes it unless it was handed out (its owner record then says whose).
   */
  async startPoolMember(tenant: string, poolId: string, { config, handler }: ResolvedRequest, libraries: readonly string[]): Promise<PooledContainer> {
    const sandboxId = newId("sbx");
    const createdAt = new Date();
    const { containerId, image } = await this.startContainer(sandboxId, tenant, config, createdAt, poolLabels(poolId), undefined);
    let runner: SandboxChannel | undefined;
    try {
      runner = await this.deps.factory.channel(containerId);
      await setUpSandbox(runner, handler, this.log, config.commandWrapper);
      if (libraries.length > 0) await installLibraries(runner, handler, config, libraries);
      return { sandboxId, containerId, image, createdAt, runner };
    } catch (err) {
      await runner?.close().catch(() => undefined);
      await this.removeContainer(sandboxId, containerId, config);
      throw err;
    }
  }

  /** Removes a pool member that was not handed out (channel, container, network). */
  async removePoolMember(member: PooledContainer, config: SandboxConfig): Promise<void> {
    await member.runner.close().catch(() => undefined);
    await this.removeContainer(member.sandboxId, member.containerId, config);
  }

  private async removeContainer(sandboxId: string, containerId: string, config: SandboxConfig): Promise<void> {
    await this.deps.runtime.remove(containerId).catch(() => false);
    if (config.network !== "none") await this.deps.networks.removeFor(sandboxId);
  }

  /** Gives a member of API pool `poolId` to a caller (see handOut); `libraries` are installed in it. */
  handOutPoolMember(tenant: string, config: SandboxConfig, member: PooledContainer, poolId: string, libraries: readonly string[]): Sandbox {
    const sandbox = this.handOut(tenant, config, member, poolId);
    for (const lib of libraries) sandbox.installed.add(lib);
    return sandbox;
  }

  /** Gives a warm member to a caller; the TTL counts from now. Ownership is written into it. */
  private handOut(tenant: string, config: SandboxConfig, member: PooledContainer, poolId = ""): Sandbox {
    const createdAt = new Date();
    const { sandboxId: id, containerId, image, runner } = member;
    const sandbox = this.register({ id, tenant, config, containerId, image, createdAt, attached: false, fromPool: true, poolId, runner });
    // Not awaited: the agent handles its channel in order, so any run of this sandbox starts
    // after the record is written; only a daemon crash in the next milliseconds loses it
    // (the member is then removed at restart instead of re-adopted).
    const owner = { sandboxId: id, tenant, createdAt: createdAt.getTime(), config, ...(poolId ? { poolId } : {}) };
    writeOwner(runner, owner).catch((err: unknown) => this.log.warn({ sandboxId: id, err: describeError(err) }, "recording a pooled sandbox's owner failed"));
    this.log.info({ sandboxId: id, tenant, fromPool: true, ...(poolId ? { poolId } : {}) }, "sandbox handed out from a warm pool");
    return sandbox;
  }

  /**
   * Makes a sandbox of an existing container, when the operator allows this tenant that
   * container. Every refusal answers exactly like a missing container, so a caller learns
   * nothing about containers it may not have; the log (audit) says why.
   */
  private async attach(tenant: string, config: SandboxConfig): Promise<Sandbox> {
    const requested = config.containerId as string;
    // An ambiguous prefix makes the engine fail the lookup: that is a refusal like any other.
    const info = await this.deps.runtime.inspect(requested).catch((err: unknown) => {
      if (err instanceof SandboxdError && (err.code === ErrorCode.Unavailable || err.code === ErrorCode.DeadlineExceeded)) throw err;
      return undefined;
    });
    const refusal = this.deps.attachPolicy.refusal(tenant, requested, info);
    if (refusal || !info) {
      this.log.warn({ audit: "attach", tenant, requested, containerId: info?.id, refusal }, "attach refused");
      throw notFound(`container ${JSON.stringify(requested)} not found`, { reason: "CONTAINER_NOT_FOUND" });
    }
    if (!info.running) throw failedPrecondition(`container ${requested} is not running`);
    const id = newId("sbx");
    const sandbox = this.register({ id, tenant, config, containerId: info.id, image: info.image, createdAt: new Date(), attached: true, fromPool: false });
    sandbox.warm();
    this.log.info({ audit: "attach", tenant, sandboxId: id, containerId: info.id, name: info.name }, "attached to existing container");
    return sandbox;
  }

  private register(record: SandboxRecord): Sandbox {
    const sandbox = this.deps.factory.sandbox(record);
    this.deps.registry.add(sandbox);
    return sandbox;
  }

  private containerSpec(id: string, tenant: string, config: SandboxConfig, image: string, createdAt: Date): ContainerSpec {
    return sandboxContainerSpec({
      daemonId: this.deps.config.daemonId,
      id,
      tenant,
      config,
      image,
      createdAt,
      languageEnv: config.language ? this.deps.languages.get(config.language).env : {},
    });
  }
}

/** Most output an install in a pool member keeps for its error message. */
const installOutputBytes = 64 * 1024;
const installTimeoutMs = 10 * 60_000;

/**
 * Installs `libraries` in a pool member with the language's package manager, as the
 * Install call's step does (offline when the sandbox has no network); throws when it fails.
 */
async function installLibraries(channel: SandboxChannel, handler: LanguageHandler, config: SandboxConfig, libraries: readonly string[]): Promise<void> {
  const offline = config.network === "none";
  const wrapped = (config.commandWrapper?.length ?? 0) > 0;
  const command = handler.install?.(libraries, { workdir: config.workdir, offline, env: config.env, wrapped });
  if (!command) throw failedPrecondition(`installing libraries is not supported for ${handler.name}`);
  const proc = await channel.start({
    // Through the pool spec's command wrapper, as every install of a sandbox is.
    argv: wrapArgv(config.commandWrapper, command.argv),
    env: { ...(handler.env ?? {}), ...config.env, ...command.env },
    cwd: config.workdir,
    timeoutMs: installTimeoutMs,
    maxOutputBytes: installOutputBytes,
  });
  const { output, exit } = await drainProcess(proc);
  if (exit?.kind !== "exited" || exit.exitCode !== 0) {
    const tail = output.trim().split("\n").slice(-5).join("\n");
    throw failedPrecondition(`installing ${libraries.join(", ")} in a pool member failed (${exit?.kind ?? "no exit"} ${exit?.exitCode ?? ""}): ${tail}`, {
      reason: "POOL_INSTALL_FAILED",
    });
  }
}
