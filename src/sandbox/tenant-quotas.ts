import { resourceExhausted } from "../common/errors.js";
import type { Config } from "../config/config.js";

/** What counts against a tenant's quotas: its sandboxes, and its pools' ready members. */
export interface QuotaHolding {
  config: { resources: { memoryBytes: number } };
}

/**
 * Per-tenant sandbox quotas (count and memory). A creation counts from the moment it is
 * asked for, so concurrent creations cannot together pass a quota.
 */
export class TenantQuotas {
  private readonly pending = new Map<string, { count: number; memory: number }>();

  constructor(private readonly quotas: Config["quotas"]) {}

  /**
   * Reserves one sandbox of `memoryBytes` for `tenant`, who holds `mine` now, or throws
   * RESOURCE_EXHAUSTED; the returned function releases the reservation (idempotent).
   */
  reserve(tenant: string, memoryBytes: number, mine: readonly QuotaHolding[]): () => void {
    const q = this.quotas;
    const p = this.pending.get(tenant) ?? { count: 0, memory: 0 };
    if (q.maxSandboxes > 0 && mine.length + p.count >= q.maxSandboxes) {
      throw resourceExhausted(`tenant ${tenant} reached its quota of ${q.maxSandboxes} sandboxes (quota max-sandboxes)`, {
        reason: "QUOTA_EXCEEDED",
        metadata: { quota: "max-sandboxes", limit: String(q.maxSandboxes) },
      });
    }
    const used = mine.reduce((sum, s) => sum + s.config.resources.memoryBytes, 0) + p.memory;
    if (q.maxMemoryBytes > 0 && used + memoryBytes > q.maxMemoryBytes) {
      throw resourceExhausted(
        `tenant ${tenant} would use ${used + memoryBytes} bytes of sandbox memory; its quota is ${q.maxMemoryBytes} (quota max-memory-bytes)`,
        {
          reason: "QUOTA_EXCEEDED",
          metadata: { quota: "max-memory-bytes", limit: String(q.maxMemoryBytes) },
        },
      );
    }
    p.count++;
    p.memory += memoryBytes;
    this.pending.set(tenant, p);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      p.count--;
      p.memory -= memoryBytes;
      if (p.count === 0) this.pending.delete(tenant);
    };
  }
}
