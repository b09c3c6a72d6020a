import type { Config } from "../config/config.js";
import { describeError, failedPrecondition, notFound, type SandboxdError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { AttachPolicy } from "./attach-policy.js";
import type { SandboxConfigValidator } from "./code-policy.js";
import { daemonLabels } from "./container-spec.js";
import { DaemonLease, leaseSpec } from "./daemon-lease.js";
import { ImageResolver } from "./image-resolver.js";
import type { LanguageRegistry } from "./languages.js";
import type { Sandbox } from "./sandbox.js";
import { SandboxAdoption } from "./sandbox-adoption.js";
import { emptyRequest, resolveSandboxConfig, type SandboxRequest } from "./sandbox-config.js";
import { SandboxFactory } from "./sandbox-factory.js";
import { SandboxLauncher, type ResolvedRequest } from "./sandbox-launcher.js";
import { SandboxNetworks } from "./sandbox-networks.js";
import { SandboxReaper } from "./sandbox-reaper.js";
import { SandboxRegistry } from "./sandbox-registry.js";
import { SandboxRemover, type RemovalResult, type SandboxCleanup } from "./sandbox-removal.js";
import { TenantQuotas } from "./tenant-quotas.js";
import { WarmPool } from "./warm-pool.js";
import { ClientPools, PoolReleases, configPoolPrefix, type AcquireOverrides, type PoolRequest, type PoolView } from "./client-pools.js";
import { defaultHealthCheckIntervalMs, type PoolSettings } from "./pool-ledger.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";

export type { SandboxCleanup } from "./sandbox-removal.js";

export interface SandboxManagerOptions {
  config: Config;
  runtime: ContainerRuntime;
  languages: LanguageRegistry;
  /** Checks every new sandbox's config before anything is created (its security policy). */
  validator: SandboxConfigValidator;
  /** Called, in order, before a sandbox is removed (its sessions close). */
  cleanups: readonly SandboxCleanup[];
  metrics: SandboxdMetrics;
  logger: Logger;
}

/**
 * Owns every sandbox of this daemon, and answers for each by tenant. The work is its
 * parts': SandboxRegistry (ids, tombstones), SandboxLauncher (new, pooled or attached),
 * SandboxRemover (the one removal), SandboxReaper (TTL, idle, deaths), SandboxAdoption
 * (after a restart), TenantQuotas, WarmPool and DaemonLease.
 */
export class SandboxManager {
  readonly pool: WarmPool;
  /** Pools created over the API (PoolService). */
  readonly pools: ClientPools;
  /** Images of the sandboxes: present ones checked, Dockerfiles built once per content. */
  readonly images: ImageResolver;
  private readonly registry = new SandboxRegistry();
  private readonly quotas: TenantQuotas;
  private readonly lease: DaemonLease;
  private readonly launcher: SandboxLauncher;
  private readonly remover: SandboxRemover;
  private readonly reaper: SandboxReaper;
  private readonly adoption: SandboxAdoption;
  private readonly log: Logger;
  private started = false;
  private readonly startedAt = new Date();

  constructor(private readonly options: SandboxManagerOptions) {
    const { config, runtime, languages } = options;
    const registry = this.registry;
    const log = options.logger.child({ component: "sandboxes" });
    const ownLabels = daemonLabels(config.daemonId);
    const networks = new SandboxNetworks(runtime, ownLabels, log, ({ reason }) => options.metrics.egressDenied.inc({ reason }));
    this.log = log;
    this.quotas = new TenantQuotas(config.quotas);
    this.lease = new DaemonLease(runtime, () => leaseSpec(runtime, config, languages), config.daemonId, options.logger);
    this.pool = new WarmPool(runtime, config, options.logger);
    const releases = new PoolReleases();
    this.remover = new SandboxRemover(registry, runtime, networks, [...options.cleanups, releases], log);
    this.reaper = new SandboxReaper(registry, this.remover, runtime, { intervalMs: config.reaperIntervalMs, ownLabels }, log);
    const factory = new SandboxFactory(runtime, languages, config.agent, this.reaper, log);
    this.adoption = new SandboxAdoption(runtime, registry, factory, networks, ownLabels, log);
    const images = new ImageResolver(runtime, languages, log, config.network.build as "none" | "default");
    this.images = images;
    const attachPolicy = new AttachPolicy(config.attach);
    this.launcher = new SandboxLauncher({
      config,
      runtime,
      languages,
      images,
      networks,
      attachPolicy,
      pool: this.pool,
      factory,
      registry,
      metrics: options.metrics,
      logger: log,
    });
    this.pools = new ClientPools({
      config,
      launcher: this.launcher,
      resolve: (req) => this.resolve(req),
      enforceLibraries: (c, libraries) => options.validator.enforceLibrariesOf(c, libraries),
      reserve: (tenant, memoryBytes) => this.quotas.reserve(tenant, memoryBytes, this.holdings(tenant)),
      releases,
      metrics: options.metrics,
      logger: options.logger,
    });
    for (const [language, size] of Object.entries(config.pools)) {
      if (size > 0) this.pool.addProfile(this.launcher.poolProfile(this.resolve(emptyRequest(language)), size));
    }
  }

  /** Live sandboxes. */
  get size(): number {
    return this.registry.size;
  }

  /** Settles when another live daemon took this daemon id's lease (see DaemonLease.forfeited). */
  get leaseForfeited(): Promise<SandboxdError> {
    return this.lease.forfeited;
  }

  /** Takes the daemon id's lease, then adopts; again when the engine comes back. */
  async start(): Promise<void> {
    await this.lease.acquire();
    await this.adoption.adopt();
    if (this.started) return;
    this.started = true;
    this.reaper.start();
    this.pool.refill();
  }

  /** The request against the daemon's defaults and limits, checked by the validator (policy). */
  resolve(req: SandboxRequest): ResolvedRequest {
    const resolved = resolveSandboxConfig(req, this.options.config, this.options.languages);
    this.options.validator.validate(resolved.config);
    return resolved;
  }

  /** Creates, starts and registers a sandbox, within the tenant's quotas. */
  async create(tenant: string, req: SandboxRequest, options: { signal?: AbortSignal } = {}): Promise<Sandbox> {
    const resolved = this.resolve(req);
    const release = this.quotas.reserve(tenant, resolved.config.resources.memoryBytes, this.holdings(tenant));
    try {
      return await this.launcher.launch(tenant, req, resolved, options.signal);
    } finally {
      release();
    }
  }

  createPool(tenant: string, req: PoolRequest): PoolView {
    return this.pools.create(tenant, req);
  }

  /** The tenant's pool by id or name, or a pool of the configuration (`config-<language>`). */
  getPool(tenant: string, poolRef: string): PoolView {
    return this.configPool(poolRef) ?? this.pools.get(tenant, poolRef);
  }

  /** The configuration's pools (read-only), then the tenant's. */
  listPools(tenant: string): PoolView[] {
    return [...this.pool.keys().flatMap((k) => this.configPool(configPoolPrefix + k) ?? []), ...this.pools.list(tenant)];
  }

  updatePool(tenant: string, poolRef: string, settings: PoolSettings): PoolView {
    this.refuseConfigPool(poolRef, "changed");
    return this.pools.update(tenant, poolRef, settings);
  }

  private refuseConfigPool(poolRef: string, what: string): void {
    if (this.configPool(poolRef)) {
      throw failedPrecondition(`pool ${poolRef} comes from the daemon's configuration (pools.<language>) and cannot be ${what} over the API`, {
        reason: "POOL_READ_ONLY",
      });
    }
  }

  /** A pool of the daemon's configuration as PoolService shows it, if `ref` names one. */
  private configPool(ref: string): PoolView | undefined {
    if (!ref.startsWith(configPoolPrefix)) return undefined;
    const language = ref.slice(configPoolPrefix.length);
    const stats = this.pool.statsFor(language);
    if (!stats) return undefined;
    const size = this.options.config.pools[language] ?? 0;
    return {
      id: ref,
      name: ref,
      config: this.resolve(emptyRequest(language)).config,
      settings: {
        minReady: size,
        maxSize: size,
        idleTimeoutMs: 0,
        maxLifetimeMs: 0,
        healthCheckIntervalMs: defaultHealthCheckIntervalMs,
        // A request its members cannot serve gets a new sandbox.
        exhaustion: "temporary",
        acquisitionTimeoutMs: 0,
      },
      stats: { ...stats, inUse: 0, temporary: 0, exhausted: 0, recycled: 0, waiting: 0 },
      createdAt: this.startedAt,
      fromConfig: true,
      libraries: [],
      lastError: "",
    };
  }

  /**
   * A sandbox from the tenant's pool `poolRef` (CreateSandbox pool_id): handed out, started
   * for the caller, or (TEMPORARY strategy, pool exhausted) an ordinary one of its spec.
   */
  async acquire(tenant: string, poolRef: string, overrides: AcquireOverrides, options: { signal: AbortSignal }): Promise<Sandbox> {
    if (this.configPool(poolRef)) {
      throw failedPrecondition(
        `pool ${poolRef} comes from the daemon's configuration: its members serve CreateSandbox requests of the language's defaults (no pool_id; spec.language ${JSON.stringify(poolRef.slice(configPoolPrefix.length))})`,
        { reason: "POOL_READ_ONLY" },
      );
    }
    const acquired = await this.pools.acquire(tenant, poolRef, overrides, options.signal);
    if ("sandbox" in acquired) return acquired.sandbox;
    return this.create(tenant, acquired.temporary, options);
  }

  /** Deletes the tenant's pool; with `destroySandboxes`, its handed-out sandboxes too. */
  async deletePool(tenant: string, poolRef: string, destroySandboxes: boolean): Promise<{ deleted: boolean; destroyedSandboxes: number }> {
    this.refuseConfigPool(poolRef, "deleted");
    const { deleted, handedOut } = await this.pools.delete(tenant, poolRef);
    let destroyedSandboxes = 0;
    if (destroySandboxes) {
      const results = await Promise.all(
        handedOut.map(async (id) => {
          const sandbox = this.registry.live(tenant, id);
          if (!sandbox) return { destroyed: false };
          return this.remover.remove(sandbox, { reason: "destroyed", detail: "its pool was deleted with destroy_sandboxes" });
        }),
      );
      destroyedSandboxes = results.filter((r) => r.destroyed).length;
    }
    return { deleted, destroyedSandboxes };
  }

  /** What counts against the tenant's quotas: its sandboxes and its pools' ready members. */
  private holdings(tenant: string) {
    return [...this.list(tenant, {}), ...this.pools.readyConfigs(tenant)];
  }

  /** The caller's sandbox, or NOT_FOUND (another tenant's sandbox is not found either). */
  get(tenant: string, id: string): Sandbox {
    return this.registry.get(tenant, id);
  }

  /**
   * The caller's sandbox for a call that needs it running: a paused one is resumed first
   * (auto_resume) or FAILED_PRECONDITION with reason SANDBOX_PAUSED (Sandbox.ready).
   */
  async ready(tenant: string, id: string): Promise<Sandbox> {
    const sandbox = this.registry.get(tenant, id);
    await sandbox.ready();
    return sandbox;
  }

  /** PauseSandbox: freezes its processes; changed is false when it was paused already. */
  async pause(tenant: string, id: string): Promise<{ sandbox: Sandbox; changed: boolean }> {
    const sandbox = this.registry.get(tenant, id);
    this.refuseWithoutPause("pausing");
    return { sandbox, changed: await sandbox.pause() };
  }

  /** ResumeSandbox: thaws it; changed is false when it was running already. */
  async resume(tenant: string, id: string): Promise<{ sandbox: Sandbox; changed: boolean }> {
    const sandbox = this.registry.get(tenant, id);
    this.refuseWithoutPause("resuming");
    return { sandbox, changed: await sandbox.resume() };
  }

  /** Kubernetes cannot freeze a pod: pause and resume are refused there, running or not. */
  private refuseWithoutPause(what: string): void {
    if (this.options.config.backend === "kubernetes") {
      throw failedPrecondition(`${what} a sandbox is not available on the Kubernetes backend: it cannot freeze a pod`, { reason: "NOT_SUPPORTED_BY_BACKEND" });
    }
  }

  /** Like get, but a failed sandbox is returned too (for Get and List). */
  peek(tenant: string, id: string): Sandbox {
    return this.registry.peek(tenant, id);
  }

  list(tenant: string, labels: Record<string, string>): Sandbox[] {
    return this.registry.list(tenant, labels);
  }

  /** A re-adopted sandbox whose agent reported `runId` lost (SandboxAdoption.sandboxThatLost). */
  sandboxThatLost(tenant: string, runId: string): Promise<Sandbox | undefined> {
    return this.adoption.sandboxThatLost(tenant, runId);
  }

  /** Idempotent: false when there was nothing to destroy. */
  async destroy(tenant: string, id: string): Promise<RemovalResult> {
    const sandbox = this.registry.live(tenant, id);
    if (sandbox) return this.remover.remove(sandbox, { reason: "destroyed", detail: "destroyed by request" });
    if (this.registry.removed(tenant, id)) return { destroyed: false };
    throw notFound(`sandbox ${JSON.stringify(id)} not found`, { reason: "SANDBOX_NOT_FOUND" });
  }

  /** Stops the reaper; with `removeAll`, removes every sandbox this daemon owns. */
  async shutdown(removeAll: boolean): Promise<void> {
    this.reaper.stop();
    await this.pool.shutdown();
    await this.pools.shutdown(removeAll);
    const all = this.registry.all();
    if (removeAll) {
      const remove = (s: Sandbox) => this.remover.remove(s, { reason: "destroyed", detail: "daemon shutdown" });
      await Promise.all(all.map((s) => remove(s).catch((err: unknown) => this.log.warn({ err: describeError(err) }, "cleanup failed"))));
    } else {
      await Promise.all(all.map((s) => s.close()));
    }
    // A removal that began before shutdown (no longer live) must finish too, or its
    // container outlives the daemon.
    await this.remover.settled();
    await this.lease.release().catch((err: unknown) => this.log.warn({ err: describeError(err) }, "releasing the daemon id lease failed"));
  }
}
