import type { Config } from "../config/config.js";
import { alreadyExists, failedPrecondition, invalidArgument, notFound, resourceExhausted } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime, VolumeInfo } from "../runtime/container-runtime.js";
import { daemonLabels } from "./container-spec.js";
import { Label } from "./labels.js";
import type { LanguageRegistry } from "./languages.js";
import type { SandboxRequest } from "./sandbox-config.js";
import type { SandboxManager } from "./sandbox-manager.js";

/** A tenant's named volume as VolumeService shows it. */
export interface VolumeView {
  id: string;
  name: string;
  sizeLimitBytes: number;
  createdAt: Date;
  /** The tenant's live sandboxes mounting it. */
  mountedBy: string[];
  /** Measured on request (get with usage); 0 otherwise. */
  usedBytes: number;
}

export interface VolumeManagerDeps {
  config: Config;
  runtime: ContainerRuntime;
  languages: LanguageRegistry;
  sandboxes: SandboxManager;
  logger: Logger;
}

const volumeName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

function volumeMissing(ref: string) {
  // The same words whether the volume never existed or is another tenant's.
  return notFound(`volume ${JSON.stringify(ref.slice(0, 100))} not found`, { reason: "VOLUME_NOT_FOUND" });
}

/**
 * Named volumes per tenant (VolumeService). Their state lives with the engine volumes, in
 * labels (daemon, tenant, id, name, size), so they outlive sandboxes and daemon restarts
 * and nothing is kept in memory. Sizes are recorded, not enforced (docs/volumes.md).
 */
export class VolumeManager {
  private readonly log: Logger;
  /** Creations run one at a time per tenant, so two of one name cannot both pass the check. */
  private readonly creating = new Map<string, Promise<unknown>>();
  /** Volume ids that sandboxes being created will mount (resolveMounts until its release): DeleteVolume refuses them too. */
  private readonly mounting = new Map<string, number>();

  constructor(private readonly deps: VolumeManagerDeps) {
    this.log = deps.logger.child({ component: "volumes" });
  }

  private tenantLabels(tenant: string): Record<string, string> {
    return { ...daemonLabels(this.deps.config.daemonId), [Label.tenant]: tenant };
  }

  private view(v: VolumeInfo, tenant: string): VolumeView {
    const id = v.labels[Label.volumeId] ?? "";
    return {
      id,
      name: v.labels[Label.volumeName] ?? "",
      sizeLimitBytes: Number(v.labels[Label.volumeSizeLimit] ?? 0) || 0,
      createdAt: new Date(Number(v.labels[Label.createdAt] ?? 0)),
      mountedBy: this.mountedBy(tenant, id),
      usedBytes: 0,
    };
  }

  private mountedBy(tenant: string, id: string): string[] {
    return this.deps.sandboxes
      .list(tenant, {})
      .filter((s) => (s.config.mounts ?? []).some((m) => m.kind === "volume" && m.volumeId === id))
      .map((s) => s.id);
  }

  private async engineVolumes(tenant: string): Promise<VolumeInfo[]> {
    // Labels are matched exactly by the engine; the tenant's own are checked again here.
    return (await this.deps.runtime.listVolumes(this.tenantLabels(tenant))).filter((v) => v.labels[Label.tenant] === tenant && v.labels[Label.volumeId]);
  }

  private async find(tenant: string, ref: string): Promise<VolumeInfo> {
    if (ref === "") throw invalidArgument("volume is required (its id or name)");
    const all = await this.engineVolumes(tenant);
    const v = all.find((x) => x.labels[Label.volumeId] === ref) ?? all.find((x) => x.labels[Label.volumeName] === ref);
    if (!v) throw volumeMissing(ref);
    return v;
  }

  /** An image with a shell for the runtime's helper (chmod, du): the first sandbox image present. */
  private async helperImage(): Promise<string> {
    const { config, languages, runtime } = this.deps;
    for (const l of ["bash", "python"]) {
      const image = config.images[l] || languages.get(l).image;
      if ((await runtime.imageLabels(image)) !== undefined) return image;
    }
    throw failedPrecondition("no sandbox image (bash or python) is present on the engine to prepare volumes with", { reason: "VOLUME_HELPER_IMAGE_MISSING" });
  }

  async create(tenant: string, name: string, sizeLimitBytes: number): Promise<VolumeView> {
    if (!volumeName.test(name))
      throw invalidArgument(`volume name ${JSON.stringify(name.slice(0, 100))}: 1-63 letters, digits, '_', '.' and '-', starting with a letter or digit`, {
        reason: "VOLUME_NAME_INVALID",
      });
    if (!Number.isSafeInteger(sizeLimitBytes) || sizeLimitBytes < 0)
      throw invalidArgument("size_limit_bytes is out of range", { reason: "VOLUME_SIZE_INVALID" });
    const previous = this.creating.get(tenant) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.createNow(tenant, name, sizeLimitBytes));
    this.creating.set(tenant, next);
    try {
      return await next;
    } finally {
      if (this.creating.get(tenant) === next) this.creating.delete(tenant);
    }
  }

  private async createNow(tenant: string, name: string, sizeLimitBytes: number): Promise<VolumeView> {
    const existing = await this.engineVolumes(tenant);
    if (existing.some((v) => v.labels[Label.volumeName] === name))
      throw alreadyExists(`the tenant has a volume named ${JSON.stringify(name)}`, { reason: "VOLUME_EXISTS" });
    const max = this.deps.config.volumes.maxPerTenant;
    if (max > 0 && existing.length >= max)
      throw resourceExhausted(`the tenant has ${existing.length} volumes, the most allowed (volumes.max-per-tenant)`, { reason: "VOLUME_QUOTA" });
    const id = newId("vol");
    const createdAt = Date.now();
    const labels = {
      ...this.tenantLabels(tenant),
      [Label.volumeId]: id,
      [Label.volumeName]: name,
      [Label.volumeSizeLimit]: String(sizeLimitBytes),
      [Label.createdAt]: String(createdAt),
    };
    const helperImage = this.deps.config.backend === "kubernetes" ? "" : await this.helperImage();
    // Kubernetes names are DNS labels: no `_`.
    await this.deps.runtime.createVolume({
      name: `sandboxd-${this.deps.config.daemonId}-${id.replace("_", "-")}`,
      labels,
      helperImage,
      sizeBytes: sizeLimitBytes,
    });
    this.log.info({ tenant, volume: id, name }, "volume created");
    return { id, name, sizeLimitBytes, createdAt: new Date(createdAt), mountedBy: [], usedBytes: 0 };
  }

  /** The tenant's volume by id or name, with the bytes it holds now. */
  async get(tenant: string, ref: string): Promise<VolumeView> {
    const v = await this.find(tenant, ref);
    const view = this.view(v, tenant);
    view.usedBytes = await this.deps.runtime.volumeUsage(v.name, this.deps.config.backend === "kubernetes" ? "" : await this.helperImage());
    return view;
  }

  async list(tenant: string): Promise<VolumeView[]> {
    return (await this.engineVolumes(tenant)).map((v) => this.view(v, tenant));
  }

  /** Removes the tenant's volume; false when it had none of that id or name. */
  async delete(tenant: string, ref: string): Promise<boolean> {
    let v: VolumeInfo;
    try {
      v = await this.find(tenant, ref);
    } catch (err) {
      if ((err as { reason?: string }).reason === "VOLUME_NOT_FOUND") return false;
      throw err;
    }
    const id = v.labels[Label.volumeId] ?? "";
    if (this.mounting.has(id))
      throw failedPrecondition(`volume ${JSON.stringify(ref)} is being mounted by a sandbox being created`, { reason: "VOLUME_IN_USE" });
    const users = this.mountedBy(tenant, id);
    if (users.length > 0)
      throw failedPrecondition(`volume ${JSON.stringify(ref)} is mounted by live sandboxes (${users.join(", ")}); destroy them first`, {
        reason: "VOLUME_IN_USE",
      });
    const removed = await this.deps.runtime.removeVolume(v.name);
    this.log.info({ tenant, volume: v.labels[Label.volumeId] }, "volume deleted");
    return removed;
  }

  /**
   * The request with each named volume resolved to the tenant's engine volume (NOT_FOUND
   * when it has none). The volumes count as in use (DeleteVolume refuses them) until
   * `release`, which the caller runs once the sandbox is registered or failed.
   */
  async resolveMounts(tenant: string, req: SandboxRequest): Promise<{ request: SandboxRequest; release: () => void }> {
    const mounts = req.mounts ?? [];
    if (!mounts.some((m) => m.volume !== "")) return { request: req, release: () => undefined };
    const all = await this.engineVolumes(tenant);
    const resolved = mounts.map((m) => {
      if (m.volume === "") return m;
      const v = all.find((x) => x.labels[Label.volumeId] === m.volume) ?? all.find((x) => x.labels[Label.volumeName] === m.volume);
      if (!v) throw volumeMissing(m.volume);
      return { ...m, resolved: { id: v.labels[Label.volumeId] ?? "", name: v.labels[Label.volumeName] ?? "", engineName: v.name } };
    });
    const ids = resolved.flatMap((m) => (m.resolved ? [m.resolved.id] : []));
    for (const id of ids) this.mounting.set(id, (this.mounting.get(id) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const id of ids) {
        const n = (this.mounting.get(id) ?? 1) - 1;
        if (n <= 0) this.mounting.delete(id);
        else this.mounting.set(id, n);
      }
    };
    return { request: { ...req, mounts: resolved }, release };
  }
}
