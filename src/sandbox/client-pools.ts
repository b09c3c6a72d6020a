import type { Config } from "../config/config.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";
import {
  SandboxdError,
  alreadyExists,
  describeError,
  failedPrecondition,
  invalidArgument,
  notFound,
  resourceExhausted,
  unavailable,
} from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { PoolLedger, poolExhausted, resolvePoolSettings, type PoolSettings, type PoolStatsView } from "./pool-ledger.js";
import type { Sandbox } from "./sandbox.js";
import type { SandboxConfig, SandboxRequest } from "./sandbox-config.js";
import type { ResolvedRequest, SandboxLauncher } from "./sandbox-launcher.js";
import type { SandboxCleanup } from "./sandbox-removal.js";
import type { PooledContainer } from "./warm-pool.js";

/** Callers that may wait for one pool at once (WAIT); more get RESOURCE_EXHAUSTED. */
const maxWaitersPerPool = 64;
/** How often each pool looks at its ready members' idle time and lifetime. */
const maintenanceIntervalMs = 1000;
/** A health probe of a ready member that takes longer than this counts as dead. */
const probeTimeoutMs = 10_000;
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Ids (and names) of the configuration's pools: `config-<language>`. */
export const configPoolPrefix = "config-";

/** What CreatePool asks for. */
export interface PoolRequest {
  name: string;
  request: SandboxRequest;
  settings: PoolSettings;
  libraries: string[];
}

/** What acquiring sets on the sandbox handed out (CreateSandbox's spec with a pool_id). */
export interface AcquireOverrides {
  labels: Record<string, string>;
  ttlMs: number;
  idleTimeoutMs: number;
}

/** A pool as GetPool and ListPools report it. */
export interface PoolView {
  id: string;
  name: string;
  config: SandboxConfig;
  settings: PoolSettings;
  stats: PoolStatsView;
  createdAt: Date;
  fromConfig: boolean;
  libraries: string[];
  /** The last failure to start a member ("" when the last one succeeded). */
  lastError: string;
}

/** What an acquisition gave: a sandbox of the pool, or "create an ordinary one" (TEMPORARY). */
export type Acquired = { sandbox: Sandbox } | { temporary: SandboxRequest };

export interface ClientPoolsDeps {
  config: Config;
  launcher: SandboxLauncher;
  /** The request against the daemon's defaults and limits, checked (SandboxManager.resolve). */
  resolve: (req: SandboxRequest) => ResolvedRequest;
  /** Checks `libraries` against the config's security policy (PERMISSION_DENIED). */
  enforceLibraries: (config: SandboxConfig, libraries: readonly string[]) => void;
  /** Reserves one sandbox of the tenant's quotas (TenantQuotas.reserve); returns its release. */
  reserve: (tenant: string, memoryBytes: number) => () => void;
  releases: PoolReleases;
  metrics: SandboxdMetrics;
  logger: Logger;
}

/**
 * Tells each API pool when one of its handed-out sandboxes is removed (destroyed, reaped,
 * stopped), so its place frees. Built before the SandboxRemover, which calls it like any
 * cleanup.
 */
export class PoolReleases implements SandboxCleanup {
  private readonly pools = new Map<string, (sandboxId: string) => void>();

  register(poolId: string, onRelease: (sandboxId: string) => void): void {
    this.pools.set(poolId, onRelease);
  }

  unregister(poolId: string): void {
    this.pools.delete(poolId);
  }

  beforeRemove(sandbox: Sandbox): Promise<void> {
    if (sandbox.poolId) this.pools.get(sandbox.poolId)?.(sandbox.id);
    return Promise.resolve();
  }
}

/**
 * One pool created over the API: min_ready members kept started (a refill with back-off),
 * ready members replaced when idle, too old or dead, and acquisitions per its strategy.
 */
class ClientPool {
  readonly ledger: PoolLedger<PooledContainer>;
  readonly createdAt = new Date();
  lastError = "";
  private readonly creations = new Set<Promise<void>>();
  /** Members started for callers and removals under way: close waits for them, so no container outlives the pool. */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;
  private nextHealthCheck: number;
  private checking = false;
  private failures = 0;
  private retryAt = 0;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    readonly id: string,
    readonly tenant: string,
    readonly name: string,
    readonly request: SandboxRequest,
    readonly resolved: ResolvedRequest,
    readonly libraries: string[],
    settings: PoolSettings,
    private readonly deps: ClientPoolsDeps,
  ) {
    this.ledger = new PoolLedger(settings, maxWaitersPerPool);
    this.log = deps.logger.child({ component: "pool", poolId: id, tenant });
    this.nextHealthCheck = Date.now() + settings.healthCheckIntervalMs;
    this.timer = setInterval(() => this.maintain(), maintenanceIntervalMs);
    this.timer.unref();
  }

  get describe(): string {
    return this.name ? `pool ${JSON.stringify(this.name)} (${this.id})` : `pool ${this.id}`;
  }

  /** Starts members until min_ready are ready or coming (within max_size), unless backing off. */
  refill(): void {
    if (this.stopped || Date.now() < this.retryAt) return;
    const concurrency = this.deps.config.poolRefillConcurrency;
    let n = Math.min(this.ledger.toStart(), concurrency - this.creations.size);
    for (; n > 0; n--) {
      this.ledger.beginCreate();
      const creation = this.createReady().finally(() => {
        this.creations.delete(creation);
        this.refill();
      });
      this.creations.add(creation);
    }
  }

  private async createReady(): Promise<void> {
    const started = Date.now();
    let member: PooledContainer | undefined;
    try {
      member = await this.startMember();
    } catch (err) {
      this.failed(err);
    }
    if (member && this.stopped) {
      await this.deps.launcher.removePoolMember(member, this.resolved.config);
      member = undefined;
    }
    this.ledger.endCreate(member, member?.createdAt.getTime() ?? 0, Date.now(), Date.now() - started);
    if (member) this.log.info({ ready: this.ledger.readyCount, refillMs: Date.now() - started }, "pool member ready");
  }

  /** A started member (libraries installed), within the tenant's quotas. */
  private async startMember(): Promise<PooledContainer> {
    const release = this.deps.reserve(this.tenant, this.resolved.config.resources.memoryBytes);
    try {
      const member = await this.deps.launcher.startPoolMember(this.tenant, this.id, this.resolved, this.libraries);
      this.failures = 0;
      this.retryAt = 0;
      this.lastError = "";
      return member;
    } finally {
      release();
    }
  }

  /** A failed creation: remembered (GetPool shows it), logged, and the refill backs off. */
  private failed(err: unknown): void {
    this.failures++;
    this.lastError = describeError(err);
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
    this.retryAt = Date.now() + delay;
    this.log.warn({ err: this.lastError, retryInMs: delay }, "starting a pool member failed");
  }

  /** Replaces ready members that are idle too long, too old or (every health interval) dead. */
  private maintain(): void {
    if (this.stopped) return;
    const stale = this.ledger.takeStale(Date.now());
    if (stale.length > 0) this.log.info({ replaced: stale.length }, "replacing idle or old pool members");
    this.discard(stale);
    if (!this.checking && Date.now() >= this.nextHealthCheck) {
      this.checking = true;
      void this.checkHealth().finally(() => {
        this.checking = false;
        this.nextHealthCheck = Date.now() + this.ledger.settings.healthCheckIntervalMs;
      });
    }
    this.refill();
  }

  /** Probes every ready member's agent; those that do not answer are replaced. */
  private async checkHealth(): Promise<void> {
    const dead = new Set<PooledContainer>();
    await Promise.all(
      this.ledger.readyMembers().map(async (m) => {
        if (!m.runner.alive || !(await probe(m))) dead.add(m);
      }),
    );
    if (dead.size === 0) return;
    const taken = this.ledger.takeDead((m) => dead.has(m));
    this.log.warn({ replaced: taken.length }, "replacing pool members that failed their health check");
    this.discard(taken);
  }

  private discard(members: readonly PooledContainer[]): void {
    for (const m of members) {
      void this.track(
        this.deps.launcher
          .removePoolMember(m, this.resolved.config)
          .catch((err: unknown) => this.log.warn({ err: describeError(err), containerId: m.containerId.slice(0, 12) }, "removing a pool member failed")),
      );
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** A ready member that is alive, or undefined; dead ones met on the way are replaced. */
  private takeAlive(): PooledContainer | undefined {
    for (;;) {
      const m = this.ledger.takeReady();
      if (!m || m.runner.alive) return m;
      this.ledger.count("recycled");
      this.discard([m]);
    }
  }

  /**
   * A sandbox of this pool for `tenant` with `config`: a ready member (hit), a new member
   * when there is room (miss), else per the exhaustion strategy.
   */
  /** Records one acquisition's result and how long the caller waited for it. */
  private acquired(started: number, result: "hit" | "miss" | "exhausted" | "temporary"): void {
    this.deps.metrics.poolAcquisitions.inc({ pool: this.id, result });
    this.deps.metrics.poolWait.observe((Date.now() - started) / 1000);
  }

  async acquire(tenant: string, config: SandboxConfig, signal: AbortSignal): Promise<Acquired> {
    const started = Date.now();
    const timeoutMs = this.ledger.settings.acquisitionTimeoutMs;
    for (;;) {
      if (this.stopped) throw poolClosed(this.describe);
      const ready = this.takeAlive();
      if (ready) {
        this.ledger.count("hits");
        const sandbox = this.handOut(tenant, config, ready);
        this.refill();
        this.acquired(started, "hit");
        this.deps.metrics.sandboxCreateDuration.observe((Date.now() - started) / 1000, { source: "pool" });
        return { sandbox };
      }
      if (this.ledger.hasRoom()) {
        this.ledger.count("misses");
        this.acquired(started, "miss");
        const sandbox = await this.track(this.startForCaller(tenant, config));
        this.deps.metrics.sandboxCreateDuration.observe((Date.now() - started) / 1000, { source: "cold" });
        return { sandbox };
      }
      const strategy = this.ledger.settings.exhaustion;
      // Not exhausted while members are being started (max_size counts them): the caller
      // waits for one of them, whatever the strategy (a failed start makes room instead).
      const starting = this.ledger.stats().creating > 0;
      if (starting && strategy !== "wait") {
        await this.ledger.wait(0, signal, this.describe);
        continue;
      }
      if (strategy === "fail_fast") {
        this.ledger.count("exhausted");
        this.acquired(started, "exhausted");
        throw poolExhausted(`${this.describe} is exhausted: its max_size of ${this.ledger.settings.maxSize} sandboxes exist and none is ready`);
      }
      if (strategy === "temporary") {
        this.ledger.count("temporary");
        this.acquired(started, "temporary");
        return { temporary: this.request };
      }
      let remaining = 0;
      if (timeoutMs > 0) {
        remaining = timeoutMs - (Date.now() - started);
        if (remaining <= 0) {
          this.ledger.count("exhausted");
          this.acquired(started, "exhausted");
          throw poolExhausted(`${this.describe} is exhausted: no place freed within acquisition_timeout_ms ${timeoutMs}`);
        }
      }
      await this.ledger.wait(remaining, signal, this.describe);
    }
  }

  /** A miss: a member started now for this caller (it holds a place from the start). */
  private async startForCaller(tenant: string, config: SandboxConfig): Promise<Sandbox> {
    const key = newId("acq");
    this.ledger.holdPlace(key);
    let member: PooledContainer;
    try {
      member = await this.startMember();
    } catch (err) {
      this.ledger.release(key);
      this.failed(err);
      throw err;
    }
    if (this.stopped) {
      this.ledger.release(key);
      await this.deps.launcher.removePoolMember(member, this.resolved.config);
      throw poolClosed(this.describe);
    }
    const sandbox = this.deps.launcher.handOutPoolMember(tenant, config, member, this.id, this.libraries);
    this.ledger.movePlace(key, sandbox.id);
    return sandbox;
  }

  private handOut(tenant: string, config: SandboxConfig, member: PooledContainer): Sandbox {
    const sandbox = this.deps.launcher.handOutPoolMember(tenant, config, member, this.id, this.libraries);
    this.ledger.holdPlace(sandbox.id);
    return sandbox;
  }

  /** A handed-out sandbox was removed: its place is free, and a refill starts at once (a quota may allow it now). */
  placeFreed(sandboxId: string): void {
    if (!this.ledger.release(sandboxId)) return;
    this.retryAt = 0;
    this.refill();
  }

  update(settings: PoolSettings): void {
    this.ledger.settings = settings;
    this.nextHealthCheck = Math.min(this.nextHealthCheck, Date.now() + settings.healthCheckIntervalMs);
    this.discard(this.ledger.takeSurplus());
    this.ledger.wakeAll();
    this.refill();
  }

  /** Stops refilling and fails the waiters, leaving the members alone (the daemon id's new holder removes them). */
  abandon(err: SandboxdError): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.ledger.close(err);
    return Promise.all(this.ledger.readyMembers().map((m) => m.runner.close().catch(() => undefined))).then(() => undefined);
  }

  /** Stops refilling, fails the waiters with `err`, removes the ready members. */
  async close(err: SandboxdError): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.ledger.close(err);
    // Members being created see `stopped` and remove themselves.
    await Promise.allSettled([...this.creations, ...this.pending]);
    await Promise.all(this.ledger.takeAllReady().map((m) => this.deps.launcher.removePoolMember(m, this.resolved.config)));
  }
}

/** The pool was deleted (or the daemon stops) while the caller waited or acquired. */
function poolClosed(describe: string): SandboxdError {
  return failedPrecondition(`${describe} was deleted (POOL_CLOSED)`, { reason: "POOL_CLOSED" });
}

/** True when the member's agent answers a small read in time. */
async function probe(m: PooledContainer): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), probeTimeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([m.runner.readFile("/proc/self/stat", { maxBytes: 64 * 1024 }).then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The pools tenants created over the API (PoolService), each visible to its tenant only:
 * another tenant's pool answers NOT_FOUND like one that does not exist. In memory: a
 * restarted daemon has none (see docs/pools.md).
 */
export class ClientPools {
  private readonly pools = new Map<string, ClientPool>();
  private stopped = false;

  constructor(private readonly deps: ClientPoolsDeps) {}

  create(tenant: string, req: PoolRequest): PoolView {
    if (this.stopped) throw unavailable("the daemon is shutting down");
    const { config } = this.deps;
    if (req.name !== "" && !namePattern.test(req.name)) {
      throw invalidArgument(
        `pool name ${JSON.stringify(req.name.slice(0, 100))} must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    }
    if (req.name.startsWith(configPoolPrefix))
      throw invalidArgument(`pool names starting with ${JSON.stringify(configPoolPrefix)} are the daemon configuration's`);
    if (req.request.containerId !== "") throw invalidArgument("spec.container_id cannot be pooled: pool members are new sandboxes of the daemon's backend");
    const settings = resolvePoolSettings(req.settings, config.poolMaxSize);
    const mine = this.of(tenant);
    if (req.name !== "" && mine.some((p) => p.name === req.name)) {
      throw alreadyExists(`tenant ${tenant} has a pool named ${JSON.stringify(req.name)} already`, { reason: "POOL_EXISTS" });
    }
    if (mine.length >= config.maxPoolsPerTenant) {
      throw resourceExhausted(`tenant ${tenant} has ${mine.length} pools, the most this daemon allows (--max-pools-per-tenant ${config.maxPoolsPerTenant})`, {
        reason: "QUOTA_EXCEEDED",
        metadata: { quota: "max-pools-per-tenant", limit: String(config.maxPoolsPerTenant) },
      });
    }
    // The spec is resolved and checked as CreateSandbox would, so a bad one fails here.
    const resolved = this.deps.resolve(req.request);
    this.validateLibraries(resolved, req.libraries);
    const id = newId("pool");
    const pool = new ClientPool(id, tenant, req.name, req.request, resolved, [...new Set(req.libraries)], settings, this.deps);
    this.pools.set(id, pool);
    this.deps.releases.register(id, (sandboxId) => pool.placeFreed(sandboxId));
    this.deps.logger.info({ poolId: id, tenant, name: req.name, settings }, "pool created");
    pool.refill();
    return view(pool);
  }

  private validateLibraries({ config, handler }: ResolvedRequest, libraries: readonly string[]): void {
    if (libraries.length === 0) return;
    if (libraries.length > 100) throw invalidArgument("at most 100 libraries per pool");
    const hint = handler.libraryHint ? `; ${handler.libraryHint}` : "";
    if (!handler.install || !handler.libraryPattern) {
      throw invalidArgument(`installing libraries is not supported for ${handler.name}${hint}`, { reason: "INSTALL_NOT_SUPPORTED" });
    }
    for (const lib of libraries) {
      if (lib.length > 200 || !handler.libraryPattern.test(lib)) {
        throw invalidArgument(`invalid library name for ${handler.name}: ${JSON.stringify(lib.slice(0, 200))}${hint}`, { reason: "INVALID_LIBRARY" });
      }
    }
    this.deps.enforceLibraries(config, libraries);
  }

  /** The tenant's pool by id or name, or NOT_FOUND. */
  private find(tenant: string, ref: string): ClientPool {
    if (ref === "") throw invalidArgument("pool_id is required");
    const byId = this.pools.get(ref);
    if (byId && byId.tenant === tenant) return byId;
    const byName = this.of(tenant).find((p) => p.name === ref);
    if (byName) return byName;
    throw notFound(`pool ${JSON.stringify(ref.slice(0, 100))} not found`, { reason: "POOL_NOT_FOUND" });
  }

  /** The tenant's pool, or undefined (a configuration pool id is not one). */
  get(tenant: string, ref: string): PoolView {
    return view(this.find(tenant, ref));
  }

  list(tenant: string): PoolView[] {
    return this.of(tenant).map(view);
  }

  /** Ready members of the tenant's pools, each counted against the tenant's quotas. */
  readyConfigs(tenant: string): { config: SandboxConfig }[] {
    return this.of(tenant).flatMap((p) => p.ledger.readyMembers().map(() => ({ config: p.resolved.config })));
  }

  update(tenant: string, ref: string, settings: PoolSettings): PoolView {
    const pool = this.find(tenant, ref);
    pool.update(resolvePoolSettings(settings, this.deps.config.poolMaxSize));
    this.deps.logger.info({ poolId: pool.id, tenant, settings: pool.ledger.settings }, "pool updated");
    return view(pool);
  }

  /**
   * Removes the pool and its ready members; waiters fail with POOL_CLOSED. The ids of its
   * handed-out sandboxes still alive are returned (the caller destroys them if asked).
   */
  async delete(tenant: string, ref: string): Promise<{ deleted: boolean; handedOut: string[] }> {
    let pool: ClientPool;
    try {
      pool = this.find(tenant, ref);
    } catch (err) {
      if (err instanceof SandboxdError && err.reason === "POOL_NOT_FOUND") return { deleted: false, handedOut: [] };
      throw err;
    }
    this.pools.delete(pool.id);
    this.deps.releases.unregister(pool.id);
    const handedOut = pool.ledger.placesHeld().filter((k) => k.startsWith("sbx"));
    await pool.close(poolClosed(pool.describe));
    this.deps.logger.info({ poolId: pool.id, tenant }, "pool deleted");
    return { deleted: true, handedOut };
  }

  /** Acquires from the tenant's pool `ref` (CreateSandbox pool_id). */
  async acquire(tenant: string, ref: string, overrides: AcquireOverrides, signal: AbortSignal): Promise<Acquired> {
    const pool = this.find(tenant, ref);
    const request: SandboxRequest = {
      ...pool.request,
      labels: { ...pool.request.labels, ...overrides.labels },
      ttlMs: overrides.ttlMs || pool.request.ttlMs,
      idleTimeoutMs: overrides.idleTimeoutMs || pool.request.idleTimeoutMs,
    };
    const { config } = this.deps.resolve(request);
    const acquired = await pool.acquire(tenant, config, signal);
    return "temporary" in acquired ? { temporary: request } : acquired;
  }

  /** Stops every pool; with `removeReady`, their ready members are removed. */
  async shutdown(removeReady: boolean): Promise<void> {
    this.stopped = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    const closing = unavailable("the daemon is shutting down", { reason: "POOL_CLOSED" });
    await Promise.all(
      all.map(async (p) => {
        if (removeReady) await p.close(closing);
        else await p.abandon(closing);
      }),
    );
  }

  /** Every pool, for the metrics. */
  all(): { id: string; tenant: string; stats: PoolStatsView }[] {
    return [...this.pools.values()].map((p) => ({ id: p.id, tenant: p.tenant, stats: p.ledger.stats() }));
  }

  private of(tenant: string): ClientPool[] {
    return [...this.pools.values()].filter((p) => p.tenant === tenant);
  }
}

function view(p: ClientPool): PoolView {
  return {
    id: p.id,
    name: p.name,
    config: p.resolved.config,
    settings: p.ledger.settings,
    stats: p.ledger.stats(),
    createdAt: p.createdAt,
    fromConfig: false,
    libraries: p.libraries,
    lastError: p.lastError,
  };
}
