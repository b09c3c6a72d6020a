import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";
import type { Sandbox } from "./sandbox.js";
import type { SandboxNetworks } from "./sandbox-networks.js";
import type { RemovalCause, SandboxRegistry } from "./sandbox-registry.js";

/** A component holding something of a sandbox that must end before the sandbox is removed. */
export interface SandboxCleanup {
  beforeRemove(sandbox: Sandbox): Promise<void>;
}

export interface RemovalResult {
  /** False when there was nothing to remove (removed already, or under way). */
  destroyed: boolean;
  /** The image a `commit_on_close` sandbox was committed to. */
  committedImage?: string;
}

/**
 * The only place that removes a sandbox (destroy, reap, a container stopped outside,
 * shutdown): its id leaves the registry at once (it then answers why it is gone), each
 * cleanup runs, its channel closes, a destroyed `commit_on_close` sandbox is committed,
 * then its container and network are removed.
 */
export class SandboxRemover {
  /** Removals under way (an ephemeral run's sandbox, a destroy): shutdown waits for them. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly registry: SandboxRegistry,
    private readonly runtime: ContainerRuntime,
    private readonly networks: SandboxNetworks,
    /** Called, in order, before a sandbox is removed (its sessions close). */
    private readonly cleanups: readonly SandboxCleanup[],
    private readonly log: Logger,
  ) {}

  remove(sandbox: Sandbox, cause: RemovalCause): Promise<RemovalResult> {
    if (!this.registry.beginRemoval(sandbox, cause)) return Promise.resolve({ destroyed: false });
    const removal = this.removeNow(sandbox, cause).finally(() => this.registry.endRemoval(sandbox));
    this.pending.add(removal);
    void removal.finally(() => this.pending.delete(removal)).catch(() => undefined);
    return removal;
  }

  /** Settles once every removal under way now ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private async removeNow(sandbox: Sandbox, { reason, detail }: RemovalCause): Promise<RemovalResult> {
    for (const cleanup of this.cleanups) {
      await cleanup.beforeRemove(sandbox).catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "cleanup hook failed"));
    }
    // A paused sandbox is thawed first: its agent can then end, and Podman does not remove
    // (nor an attached container's owner get back) a frozen container.
    if (sandbox.pausedAt) {
      await sandbox.resume().catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "resuming before removal failed"));
    }
    await sandbox.close();
    let committedImage: string | undefined;
    if (sandbox.config.commitOnClose && reason === "destroyed") {
      await this.runtime.commit(sandbox.containerId, sandbox.config.commitOnClose, { [Label.committed]: "true" });
      committedImage = sandbox.config.commitOnClose;
    }
    if (!sandbox.attached) {
      await this.runtime.remove(sandbox.containerId);
      if (sandbox.config.network !== "none") await this.networks.removeFor(sandbox.id);
    }
    this.log.info({ sandboxId: sandbox.id, reason, detail }, "sandbox removed");
    return committedImage ? { destroyed: true, committedImage } : { destroyed: true };
  }
}
