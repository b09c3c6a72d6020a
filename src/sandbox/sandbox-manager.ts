import type { Config } from "../config/config.js";
import { ErrorCode, SandboxdError, describeError, failedPrecondition, notFound } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime, ContainerSpec, LeaseSpec } from "../runtime/container-runtime.js";
import { AttachPolicy } from "./attach-policy.js";
import { daemonLabels, sandboxContainerSpec } from "./container-spec.js";
import { ImageResolver } from "./image-resolver.js";
import { SandboxNetworks } from "./sandbox-networks.js";
import { TenantQuotas } from "./tenant-quotas.js";
import type { SandboxConfigValidator } from "./code-policy.js";
import { DaemonLease, leaseLabels } from "./daemon-lease.js";
import { Label } from "./labels.js";
import type { LanguageRegistry } from "./languages.js";
import { Sandbox, startSandboxChannel } from "./sandbox.js";
import { emptyRequest, resolveSandboxConfig, type SandboxConfig, type SandboxRequest } from "./sandbox-config.js";
import { WarmPool, poolLabels, type PooledContainer } from "./warm-pool.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";

/** Where a pooled sandbox records who it was handed to (its labels are fixed at creation). */
const ownerFile = "/tmp/.sandboxd/owner.json";

interface OwnerRecord {
  sandboxId: string;
  tenant: string;
  createdAt: number;
  config: SandboxConfig;
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
    req.network !== "bridge" &&
    Object.keys(req.env).length === 0 &&
    (req.workdir === "" || req.workdir === defaultWorkdir) &&
    req.user === "" &&
    req.commitOnClose === "" &&
    req.containerId === ""
  );
}

/** A component holding something of a sandbox that must end before the sandbox is removed. */
export interface SandboxCleanup {
  beforeRemove(sandbox: Sandbox): Promise<void>;
}

export interface SandboxManagerOptions {
  config: Config;
  runtime: ContainerRuntime;
  languages: LanguageRegistry;
  /** Checks every new sandbox's config before anything is created (its security policy). */
  validator: SandboxConfigValidator;
  /** Called, in order, before a sandbox is removed (its sessions close). */
  cleanups: readonly SandboxCleanup[];
  logger: Logger;
}

interface Tombstone {
  tenant: string;
  reason: "expired" | "destroyed" | "stopped";
  detail: string;
}

const maxTombstones = 10_000;

/**
 * Owns every sandbox of this daemon: creates containers with their state in labels, finds
 * them again after a restart, reaps expired ones, and answers for each by tenant.
 */
export class SandboxManager {
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly tombstones = new Map<string, Tombstone>();
  /** Sandboxes found again at start: only their agents can report runs lost with a previous daemon. */
  private readonly adoptedIds = new Set<string>();
  private readonly quotas: TenantQuotas;
  private readonly networks: SandboxNetworks;
  private readonly images: ImageResolver;
  private readonly log: Logger;
  private readonly config: Config;
  private readonly runtime: ContainerRuntime;
  private readonly languages: LanguageRegistry;
  private reaper: NodeJS.Timeout | undefined;
  private readonly lifetime = new AbortController();
  private readonly attachPolicy: AttachPolicy;
  private readonly lease: DaemonLease;
  readonly pool: WarmPool;
  private readonly validator: SandboxConfigValidator;
  private readonly cleanups: readonly SandboxCleanup[];

  constructor(options: SandboxManagerOptions) {
    this.config = options.config;
    this.runtime = options.runtime;
    this.languages = options.languages;
    this.validator = options.validator;
    this.cleanups = options.cleanups;
    this.log = options.logger.child({ component: "sandboxes" });
    this.quotas = new TenantQuotas(this.config.quotas);
    this.networks = new SandboxNetworks(this.runtime, daemonLabels(this.config.daemonId), this.log);
    this.images = new ImageResolver(this.runtime, this.languages, this.log);
    this.attachPolicy = new AttachPolicy(this.config.attach);
    this.lease = new DaemonLease(this.runtime, () => this.leaseSpec(), this.config.daemonId, options.logger);
    this.pool = new WarmPool(this.runtime, this.config, options.logger);
    for (const [language, size] of Object.entries(this.config.pools)) {
      if (size <= 0) continue;
      const { config, handler } = this.resolve(emptyRequest(language));
      this.pool.addProfile({
        key: handler.name,
        size,
        spec: (id, createdAt) => {
          const spec = this.containerSpec(id, "", config, config.image, createdAt);
          spec.labels = { ...spec.labels, ...poolLabels(handler.name) };
          return spec;
        },
        startRunner: (containerId) =>
          startSandboxChannel(this.runtime, containerId, this.log, this.config.agent, (reason) => this.checkContainer(containerId, reason)),
      });
    }
  }

  get size(): number {
    return this.sandboxes.size;
  }

  /** Labels selecting this daemon's containers. */
  ownLabels(): Record<string, string> {
    return daemonLabels(this.config.daemonId);
  }

  /** Settles when another live daemon took this daemon id's lease (see DaemonLease.forfeited). */
  get leaseForfeited(): Promise<SandboxdError> {
    return this.lease.forfeited;
  }

  /** Takes the daemon id's lease, then adopts; again when the engine comes back. */
  async start(): Promise<void> {
    await this.lease.acquire();
    await this.adopt();
    if (this.reaper) return;
    this.reaper = setInterval(() => void this.reap(), this.config.reaperIntervalMs);
    this.reaper.unref();
    this.runtime.watchDeaths(this.ownLabels(), (cid) => this.onContainerDied(cid), this.lifetime.signal);
    this.pool.refill();
  }

  /** The lease is a tiny container of any sandbox image present (the base image first). */
  private async leaseSpec(): Promise<LeaseSpec> {
    const candidates = ["bash", "python"].map((l) => this.config.images[l] || this.languages.get(l).image);
    let image = candidates[0] as string;
    for (const c of candidates) {
      if ((await this.runtime.imageLabels(c)) !== undefined) {
        image = c;
        break;
      }
    }
    return { name: `sandboxd-lease-${this.config.daemonId}`, image, labels: leaseLabels(this.config.daemonId) };
  }

  resolve(req: SandboxRequest) {
    const resolved = resolveSandboxConfig(req, this.config, this.languages);
    this.validator.validate(resolved.config);
    return resolved;
  }

  /** Creates, starts and registers a sandbox. */
  async create(tenant: string, req: SandboxRequest, options: { signal?: AbortSignal } = {}): Promise<Sandbox> {
    const { config } = this.resolve(req);
    const release = this.quotas.reserve(tenant, config.resources.memoryBytes, this.list(tenant, {}));
    try {
      return await this.createReserved(tenant, req, options);
    } finally {
      release();
    }
  }

  private async createReserved(tenant: string, req: SandboxRequest, options: { signal?: AbortSignal }): Promise<Sandbox> {
    const { config, handler } = this.resolve(req);
    if (config.containerId) return this.attach(tenant, config);
    if (this.pool.has(handler.name) && poolCompatible(req, this.config.images[handler.name] || handler.image, this.config.defaults.workdir)) {
      const member = this.pool.take(handler.name);
      if (member) return this.handOut(tenant, config, member);
    }
    const { image, labels: imageLabels } = await this.images.ensure(config, options.signal);
    const id = newId("sbx");
    const createdAt = new Date();
    const spec = this.containerSpec(id, tenant, config, image, createdAt);
    if (spec.workdirTmpfs && imageLabels[Label.committed] === "true") {
      // A committed image carries its workdir: a tmpfs would hide it.
      spec.workdirTmpfs = false;
      spec.readOnlyRoot = false;
    }
    // A bridged sandbox gets a network of its own: it reaches out, never the host or a peer.
    if (config.network === "bridge") spec.network = await this.networks.create(id);
    let containerId: string;
    try {
      containerId = await this.runtime.create(spec);
    } catch (err) {
      if (spec.network !== "none") await this.networks.removeNamed(spec.network);
      throw err;
    }
    try {
      await this.runtime.start(containerId);
    } catch (err) {
      await this.runtime.remove(containerId).catch(() => false);
      if (spec.network !== "none") await this.networks.removeNamed(spec.network);
      throw err;
    }
    const sandbox = this.register(id, tenant, config, containerId, image, createdAt, false);
    sandbox.warm();
    this.log.info({ sandboxId: id, tenant, image, containerId: containerId.slice(0, 12) }, "sandbox created");
    return sandbox;
  }

  /** Gives a warm member to a caller; the TTL counts from now. Ownership is written into it. */
  private async handOut(tenant: string, config: SandboxConfig, member: PooledContainer): Promise<Sandbox> {
    const createdAt = new Date();
    const sandbox = this.register(member.sandboxId, tenant, config, member.containerId, member.image, createdAt, false, {
      runner: member.runner,
      fromPool: true,
    });
    const owner: OwnerRecord = { sandboxId: member.sandboxId, tenant, createdAt: createdAt.getTime(), config };
    // Not awaited: the agent handles its channel in order, so any run of this sandbox starts
    // after the record is written; only a daemon crash in the next milliseconds loses it
    // (the member is then removed at restart instead of re-adopted).
    member.runner
      .writeFile(ownerFile, Buffer.from(JSON.stringify(owner)), 0o600)
      .catch((err: unknown) => this.log.warn({ sandboxId: sandbox.id, err: describeError(err) }, "recording a pooled sandbox's owner failed"));
    this.log.info({ sandboxId: sandbox.id, tenant, fromPool: true }, "sandbox handed out from the warm pool");
    return sandbox;
  }

  private register(
    id: string,
    tenant: string,
    config: SandboxConfig,
    containerId: string,
    image: string,
    createdAt: Date,
    attached: boolean,
    extra: { runner?: SandboxChannel; fromPool?: boolean } = {},
  ): Sandbox {
    const sandbox = new Sandbox({
      id,
      tenant,
      config,
      handler: this.languages.get(config.language),
      containerId,
      image,
      createdAt,
      attached,
      fromPool: extra.fromPool ?? false,
      runtime: this.runtime,
      logger: this.log.child({ sandboxId: id }),
      useAgent: this.config.agent,
      onRunnerDeath: (cid, reason) => this.checkContainer(cid, reason),
      ...(extra.runner ? { runner: extra.runner } : {}),
    });
    this.sandboxes.set(id, sandbox);
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
    const info = await this.runtime.inspect(requested).catch((err: unknown) => {
      if (err instanceof SandboxdError && (err.code === ErrorCode.Unavailable || err.code === ErrorCode.DeadlineExceeded)) throw err;
      return undefined;
    });
    const refusal = this.attachPolicy.refusal(tenant, requested, info);
    if (refusal || !info) {
      this.log.warn({ audit: "attach", tenant, requested, containerId: info?.id, refusal }, "attach refused");
      throw notFound(`container ${JSON.stringify(requested)} not found`, { reason: "CONTAINER_NOT_FOUND" });
    }
    if (!info.running) throw failedPrecondition(`container ${requested} is not running`);
    const id = newId("sbx");
    const sandbox = this.register(id, tenant, config, info.id, info.image, new Date(), true);
    sandbox.warm();
    this.log.info({ audit: "attach", tenant, sandboxId: id, containerId: info.id, name: info.name }, "attached to existing container");
    return sandbox;
  }

  containerSpec(id: string, tenant: string, config: SandboxConfig, image: string, createdAt: Date): ContainerSpec {
    return sandboxContainerSpec({
      daemonId: this.config.daemonId,
      id,
      tenant,
      config,
      image,
      createdAt,
      languageEnv: config.language ? this.languages.get(config.language).env : {},
    });
  }

  /** The caller's sandbox, or NOT_FOUND (another tenant's sandbox is not found either). */
  get(tenant: string, id: string): Sandbox {
    const sandbox = this.sandboxes.get(id);
    if (sandbox && sandbox.tenant === tenant) {
      if (sandbox.state === "expired") throw failedPrecondition(`sandbox ${id} expired`, { reason: "SANDBOX_EXPIRED" });
      if (sandbox.state === "stopped") throw failedPrecondition(`sandbox ${id} is stopped: its container is no longer running`, { reason: "SANDBOX_STOPPED" });
      if (sandbox.state === "failed")
        throw failedPrecondition(`sandbox ${id} failed: ${sandbox.failure ?? "it cannot serve"}; destroy it`, { reason: "SANDBOX_FAILED" });
      return sandbox;
    }
    const t = this.tombstones.get(id);
    if (t && t.tenant === tenant) {
      if (t.reason === "expired") throw failedPrecondition(`sandbox ${id} expired (${t.detail}) and was removed`, { reason: "SANDBOX_EXPIRED" });
      if (t.reason === "stopped") throw failedPrecondition(`sandbox ${id} stopped: ${t.detail}`, { reason: "SANDBOX_STOPPED" });
      throw notFound(`sandbox ${id} was destroyed`, { reason: "SANDBOX_DESTROYED" });
    }
    throw notFound(`sandbox ${JSON.stringify(id)} not found`, { reason: "SANDBOX_NOT_FOUND" });
  }

  /**
   * The tenant's re-adopted sandbox whose agent reported `runId` lost (it was live when a
   * previous daemon with this id died), if any. Waits for those agents to say hello.
   */
  async sandboxThatLost(tenant: string, runId: string): Promise<Sandbox | undefined> {
    for (const id of this.adoptedIds) {
      const sandbox = this.sandboxes.get(id);
      if (!sandbox || sandbox.tenant !== tenant) continue;
      const runner = await Promise.race([sandbox.runner().catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref())]);
      if (runner?.lostRuns.includes(runId)) return sandbox;
    }
    return undefined;
  }

  /** Like get, but expired or stopped sandboxes are returned too (for Get and List). */
  peek(tenant: string, id: string): Sandbox {
    const sandbox = this.sandboxes.get(id);
    if (sandbox && sandbox.tenant === tenant) return sandbox;
    return this.get(tenant, id);
  }

  list(tenant: string, labels: Record<string, string>): Sandbox[] {
    return [...this.sandboxes.values()]
      .filter((s) => s.tenant === tenant && Object.entries(labels).every(([k, v]) => s.config.labels[k] === v))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  all(): Sandbox[] {
    return [...this.sandboxes.values()];
  }

  /** Idempotent: false when there was nothing to destroy. */
  async destroy(tenant: string, id: string): Promise<{ destroyed: boolean; committedImage?: string }> {
    const sandbox = this.sandboxes.get(id);
    if (!sandbox || sandbox.tenant !== tenant) {
      const t = this.tombstones.get(id);
      if (t && t.tenant === tenant) return { destroyed: false };
      throw notFound(`sandbox ${JSON.stringify(id)} not found`, { reason: "SANDBOX_NOT_FOUND" });
    }
    return this.remove(sandbox, "destroyed", "destroyed by request");
  }

  /** Removals under way (an ephemeral run's sandbox, a destroy): shutdown waits for them. */
  private readonly removing = new Set<Promise<unknown>>();

  private remove(sandbox: Sandbox, reason: Tombstone["reason"], detail: string): Promise<{ destroyed: boolean; committedImage?: string }> {
    const removal = this.removeNow(sandbox, reason, detail);
    this.removing.add(removal);
    void removal.finally(() => this.removing.delete(removal)).catch(() => undefined);
    return removal;
  }

  private async removeNow(sandbox: Sandbox, reason: Tombstone["reason"], detail: string): Promise<{ destroyed: boolean; committedImage?: string }> {
    if (!this.sandboxes.has(sandbox.id)) return { destroyed: false };
    this.sandboxes.delete(sandbox.id);
    this.adoptedIds.delete(sandbox.id);
    this.tombstones.set(sandbox.id, { tenant: sandbox.tenant, reason, detail });
    if (this.tombstones.size > maxTombstones) {
      const oldest = this.tombstones.keys().next().value;
      if (oldest !== undefined) this.tombstones.delete(oldest);
    }
    for (const cleanup of this.cleanups) {
      await cleanup.beforeRemove(sandbox).catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "cleanup hook failed"));
    }
    await sandbox.close();
    let committedImage: string | undefined;
    if (sandbox.config.commitOnClose && reason === "destroyed") {
      await this.runtime.commit(sandbox.containerId, sandbox.config.commitOnClose, { [Label.committed]: "true" });
      committedImage = sandbox.config.commitOnClose;
    }
    if (!sandbox.attached) {
      await this.runtime.remove(sandbox.containerId);
      if (sandbox.config.network === "bridge") await this.networks.removeFor(sandbox.id);
    }
    this.log.info({ sandboxId: sandbox.id, reason, detail }, "sandbox removed");
    return committedImage ? { destroyed: true, committedImage } : { destroyed: true };
  }

  /** Removes sandboxes whose TTL or idle timeout passed. */
  async reap(): Promise<void> {
    const now = Date.now();
    for (const sandbox of [...this.sandboxes.values()]) {
      const why = sandbox.expiryReason(now);
      if (!why) continue;
      sandbox.state = "expired";
      await this.remove(sandbox, "expired", why).catch((err: unknown) =>
        this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "reaping failed; will retry"),
      );
    }
  }

  /**
   * An agent channel died: if its container is gone or stopped, the sandbox is. Engine
   * events say the same, but not every engine filters them by label (Podman), and an agent
   * always notices.
   */
  private checkContainer(containerId: string, reason = "its agent died"): void {
    void this.runtime.inspect(containerId).then(
      (info) => {
        if (!info || !info.running) {
          this.onContainerDied(containerId);
          return;
        }
        // The container runs: its sandbox gets a new agent now, or is failed.
        for (const sandbox of this.sandboxes.values()) {
          if (sandbox.containerId === containerId) void sandbox.recover(reason);
        }
      },
      () => {
        // The engine itself is unreachable: that is not the container's death.
      },
    );
  }

  private onContainerDied(containerId: string): void {
    for (const sandbox of this.sandboxes.values()) {
      if (sandbox.containerId !== containerId || (sandbox.state !== "running" && sandbox.state !== "failed")) continue;
      sandbox.state = "stopped";
      this.log.warn({ sandboxId: sandbox.id }, "sandbox container stopped from outside");
      void this.remove(sandbox, "stopped", "its container stopped outside the daemon").catch((err: unknown) =>
        this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "removing a stopped sandbox failed"),
      );
    }
  }

  /** Re-adopts this daemon's live sandboxes from their labels; removes expired and broken ones. */
  async adopt(): Promise<void> {
    const containers = await this.runtime.list(this.ownLabels());
    const now = Date.now();
    for (const c of containers) {
      const id = c.labels[Label.sandboxId];
      const tenant = c.labels[Label.tenant];
      const expires = Number(c.labels[Label.expiresAt]);
      let config: SandboxConfig | undefined;
      try {
        config = JSON.parse(c.labels[Label.config] ?? "") as SandboxConfig;
      } catch {
        config = undefined;
      }
      if (c.labels[Label.pool] !== undefined && c.running) {
        // The owner record is read through the member's channel, which the sandbox keeps.
        const channel = await startSandboxChannel(this.runtime, c.id, this.log, this.config.agent, (reason) => this.checkContainer(c.id, reason)).catch(
          () => undefined,
        );
        const owner = channel ? await this.readOwner(channel) : undefined;
        if (channel && owner && owner.createdAt + owner.config.ttlMs > now) {
          const sandbox = this.register(owner.sandboxId, owner.tenant, owner.config, c.id, c.image, new Date(owner.createdAt), false, {
            runner: channel,
            fromPool: true,
          });
          this.adoptedIds.add(sandbox.id);
          this.log.info({ sandboxId: owner.sandboxId, tenant: owner.tenant }, "re-adopted pooled sandbox");
          continue;
        }
        await channel?.close();
      }
      if (c.labels[Label.pool] !== undefined || !id || !tenant || !config || !c.running || !(expires > now)) {
        await this.runtime.remove(c.id).catch(() => false);
        this.log.info({ containerId: c.id.slice(0, 12), sandboxId: id }, "removed leftover container");
        continue;
      }
      const sandbox = this.register(id, tenant, config, c.id, c.image, new Date(Number(c.labels[Label.createdAt]) || c.createdAt.getTime()), false);
      this.adoptedIds.add(sandbox.id);
      sandbox.warm();
      this.log.info({ sandboxId: id, tenant }, "re-adopted sandbox");
    }
    await this.networks.removeLeftovers((id) => this.sandboxes.has(id));
  }

  /** The owner record of a handed-out pool member, if it has one. */
  private async readOwner(channel: SandboxChannel): Promise<OwnerRecord | undefined> {
    try {
      const data = await channel.readFile(ownerFile, { maxBytes: 16 * 1024 * 1024 });
      if (!data) return undefined;
      const owner = JSON.parse(Buffer.from(data).toString("utf8")) as OwnerRecord;
      return owner.sandboxId && owner.tenant && owner.config ? owner : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stops the reaper; with `removeAll`, removes every sandbox this daemon owns. */
  async shutdown(removeAll: boolean): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.lifetime.abort();
    await this.pool.shutdown();
    const all = [...this.sandboxes.values()];
    if (removeAll) {
      await Promise.all(
        all.map((s) => this.remove(s, "destroyed", "daemon shutdown").catch((err: unknown) => this.log.warn({ err: describeError(err) }, "cleanup failed"))),
      );
    } else {
      await Promise.all(all.map((s) => s.close()));
    }
    // A removal that began before shutdown (no longer in the registry) must finish too, or
    // its container outlives the daemon.
    await Promise.allSettled([...this.removing]);
    await this.lease.release().catch((err: unknown) => this.log.warn({ err: describeError(err) }, "releasing the daemon id lease failed"));
  }
}
