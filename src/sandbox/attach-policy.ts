import type { ContainerInfo } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";

/**
 * Who may make a sandbox of a container that sandboxd did not create (`SandboxSpec.container_id`).
 * Attaching hands the caller every file and process of that container, so it is a
 * capability the operator grants, never a default.
 */
export interface AttachSettings {
  /** Comma-separated tenants that may attach (`*`: every tenant). Empty: nobody may. */
  tenants: string;
  /** Comma-separated container names that may be given instead of the full id. */
  names: string;
  /** Comma-separated `key=value` labels a container must all carry to be attachable. */
  labels: string;
}

function list(s: string): string[] {
  return s
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

/** Labels that make a container sandboxd's own (images may carry others, such as org.sandboxd.image). */
const ownershipLabels = [Label.managed, Label.daemon, Label.sandboxId, Label.tenant, Label.pool, Label.lease];

export class AttachPolicy {
  private readonly tenants: Set<string>;
  private readonly names: Set<string>;
  private readonly labels: [string, string][];

  constructor(settings: AttachSettings) {
    this.tenants = new Set(list(settings.tenants));
    this.names = new Set(list(settings.names));
    this.labels = list(settings.labels).map((kv) => {
      const eq = kv.indexOf("=");
      return eq < 0 ? [kv, ""] : [kv.slice(0, eq), kv.slice(eq + 1)];
    });
  }

  /** Whether a tenant may attach at all (decides nothing about a given container). */
  enabledFor(tenant: string): boolean {
    return this.tenants.has("*") || this.tenants.has(tenant);
  }

  /**
   * Why `tenant` may not attach to the container that the engine resolved `requested` to,
   * or undefined when it may. The caller answers every refusal like a missing container.
   */
  refusal(tenant: string, requested: string, info: ContainerInfo | undefined): string | undefined {
    if (!this.enabledFor(tenant)) return `attaching is not enabled for tenant ${tenant} (attach.tenants)`;
    if (!info) return "no such container";
    // Engines resolve id prefixes and names: only the exact full id, or a listed name, counts.
    const byId = requested === info.id && /^[0-9a-f]{64}$/.test(requested);
    const byName = this.names.has(requested) && info.name === requested;
    if (!byId && !byName) return "only a full container id, or a name listed in attach.names, may be attached to";
    if (ownershipLabels.some((k) => info.labels[k] !== undefined)) {
      return "the container is managed by sandboxd (a sandbox or pool member)";
    }
    for (const [k, v] of this.labels) {
      if (info.labels[k] !== v) return `the container lacks the label ${k}=${v} (attach.labels)`;
    }
    return undefined;
  }
}
