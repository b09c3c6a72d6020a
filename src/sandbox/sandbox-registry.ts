import { failedPrecondition, notFound } from "../common/errors.js";
import type { Sandbox } from "./sandbox.js";

/** Why a sandbox was removed; its id answers with it afterwards. */
export interface RemovalCause {
  reason: "expired" | "destroyed" | "stopped";
  detail: string;
}

/**
 * One sandbox id's life in this daemon. The transitions are the registry's methods, and
 * nothing else changes an entry:
 *
 *     (add) → live → (beginRemoval) → removing → (endRemoval) → gone → (evicted)
 *
 * `live`: the sandbox serves (its own state is running or failed). `removing`: its
 * cleanups, channel, commit and container removal are under way. `gone`: a tombstone, kept
 * for the last `maxTombstones` removals, so the id answers why it is gone rather than "not
 * found". A removing id already answers like a gone one.
 */
type SandboxLifecycle =
  | { state: "live"; sandbox: Sandbox; adopted: boolean }
  | { state: "removing"; sandbox: Sandbox; cause: RemovalCause }
  | { state: "gone"; tenant: string; cause: RemovalCause };

const maxTombstones = 10_000;

/**
 * The sandboxes of this daemon by id, and the ids of removed ones. Every lookup goes through
 * the caller's tenant: another tenant's sandbox answers exactly like a missing one.
 */
export class SandboxRegistry {
  private readonly entries = new Map<string, SandboxLifecycle>();
  /** Gone ids, oldest first: the tombstones to evict. */
  private readonly tombstones = new Set<string>();

  /** Live sandboxes. */
  get size(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.state === "live") n++;
    return n;
  }

  /** (none) → live. `adopted`: found again at start (its agent may know runs lost with a previous daemon). */
  add(sandbox: Sandbox, adopted = false): void {
    this.tombstones.delete(sandbox.id);
    this.entries.set(sandbox.id, { state: "live", sandbox, adopted });
  }

  /** live → removing; false when its id is not live (removed already, or under way). */
  beginRemoval(sandbox: Sandbox, cause: RemovalCause): boolean {
    const e = this.entries.get(sandbox.id);
    if (e?.state !== "live") return false;
    this.entries.set(sandbox.id, { state: "removing", sandbox, cause });
    return true;
  }

  /** removing → gone (whether the removal succeeded or not); the oldest tombstone goes. */
  endRemoval(sandbox: Sandbox): void {
    const e = this.entries.get(sandbox.id);
    if (e?.state !== "removing") return;
    this.entries.set(sandbox.id, { state: "gone", tenant: sandbox.tenant, cause: e.cause });
    this.tombstones.add(sandbox.id);
    if (this.tombstones.size > maxTombstones) {
      const oldest = this.tombstones.values().next().value;
      if (oldest !== undefined) {
        this.tombstones.delete(oldest);
        this.entries.delete(oldest);
      }
    }
  }

  /** The caller's live sandbox, or the error its id answers with (NOT_FOUND, or why it is gone). */
  get(tenant: string, id: string): Sandbox {
    const e = this.entries.get(id);
    if (e?.state === "live" && e.sandbox.tenant === tenant) {
      const sandbox = e.sandbox;
      if (sandbox.state === "failed")
        throw failedPrecondition(`sandbox ${id} failed: ${sandbox.failure ?? "it cannot serve"}; destroy it`, { reason: "SANDBOX_FAILED" });
      return sandbox;
    }
    const cause = this.removed(tenant, id);
    if (cause?.reason === "expired") throw failedPrecondition(`sandbox ${id} expired (${cause.detail}) and was removed`, { reason: "SANDBOX_EXPIRED" });
    if (cause?.reason === "stopped") throw failedPrecondition(`sandbox ${id} stopped: ${cause.detail}`, { reason: "SANDBOX_STOPPED" });
    if (cause) throw notFound(`sandbox ${id} was destroyed`, { reason: "SANDBOX_DESTROYED" });
    throw notFound(`sandbox ${JSON.stringify(id)} not found`, { reason: "SANDBOX_NOT_FOUND" });
  }

  /** Like get, but a failed sandbox is returned too (for Get and List). */
  peek(tenant: string, id: string): Sandbox {
    return this.live(tenant, id) ?? this.get(tenant, id);
  }

  /** The caller's live sandbox, if it has one by this id. */
  live(tenant: string, id: string): Sandbox | undefined {
    const e = this.entries.get(id);
    return e?.state === "live" && e.sandbox.tenant === tenant ? e.sandbox : undefined;
  }

  /** Why the caller's sandbox `id` was removed (or is being removed), if it was. */
  removed(tenant: string, id: string): RemovalCause | undefined {
    const e = this.entries.get(id);
    if (e === undefined || e.state === "live") return undefined;
    const owner = e.state === "gone" ? e.tenant : e.sandbox.tenant;
    return owner === tenant ? e.cause : undefined;
  }

  /** Whether `id` is a live sandbox of any tenant. */
  has(id: string): boolean {
    return this.entries.get(id)?.state === "live";
  }

  /** The caller's live sandboxes carrying all these user labels, oldest first. */
  list(tenant: string, labels: Record<string, string>): Sandbox[] {
    return this.all()
      .filter((s) => s.tenant === tenant && Object.entries(labels).every(([k, v]) => s.config.labels[k] === v))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Every live sandbox. */
  all(): Sandbox[] {
    const out: Sandbox[] = [];
    for (const e of this.entries.values()) if (e.state === "live") out.push(e.sandbox);
    return out;
  }

  /** The live sandboxes running in this container. */
  inContainer(containerId: string): Sandbox[] {
    return this.all().filter((s) => s.containerId === containerId);
  }

  /** The tenant's live sandboxes that were found again at start. */
  adopted(tenant: string): Sandbox[] {
    const out: Sandbox[] = [];
    for (const e of this.entries.values()) if (e.state === "live" && e.adopted && e.sandbox.tenant === tenant) out.push(e.sandbox);
    return out;
  }
}
