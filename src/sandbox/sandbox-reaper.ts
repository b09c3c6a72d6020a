import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import type { SandboxRegistry } from "./sandbox-registry.js";
import type { SandboxRemover } from "./sandbox-removal.js";

/** Told when a sandbox's agent died (or could not start): its container may have stopped. */
export interface ContainerCheck {
  checkContainer(containerId: string, reason?: string): void;
}

export interface ReaperSettings {
  intervalMs: number;
  /** Labels selecting this daemon's containers (whose deaths the engine reports). */
  ownLabels: Record<string, string>;
}

/**
 * Ends sandboxes whose time is up or whose container is gone: every `intervalMs` it removes
 * those whose TTL or idle timeout passed (`expired`) and pauses those whose auto_pause_ms
 * passed (a paused sandbox is never idle, its TTL still ends it); a container that died, as the engine
 * or an agent's death reports it, removes its sandbox (`stopped`); an agent that died in a
 * container that still runs is restarted (`Sandbox.recover`).
 */
export class SandboxReaper implements ContainerCheck {
  private timer: NodeJS.Timeout | undefined;
  private readonly lifetime = new AbortController();

  constructor(
    private readonly registry: SandboxRegistry,
    private readonly remover: SandboxRemover,
    private readonly runtime: ContainerRuntime,
    private readonly settings: ReaperSettings,
    private readonly log: Logger,
  ) {}

  /** Starts the interval and the engine's death events (once; later calls do nothing). */
  start(): void {
    if (this.timer || this.lifetime.signal.aborted) return;
    this.timer = setInterval(() => void this.reap(), this.settings.intervalMs);
    this.timer.unref();
    this.runtime.watchDeaths(this.settings.ownLabels, (cid, cause) => this.onContainerDied(cid, cause), this.lifetime.signal);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.lifetime.abort();
  }

  /** Removes sandboxes whose TTL or idle timeout passed. */
  async reap(): Promise<void> {
    const now = Date.now();
    for (const sandbox of this.registry.all()) {
      const why = sandbox.expiryReason(now);
      if (!why) {
        if (sandbox.autoPauseDue(now)) {
          await sandbox.pause().catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "auto-pause failed; will retry"));
        }
        continue;
      }
      sandbox.end("expired");
      await this.remover
        .remove(sandbox, { reason: "expired", detail: why })
        .catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "reaping failed; will retry"));
    }
  }

  /**
   * An agent channel died: if its container is gone or stopped, the sandbox is. Engine
   * events say the same, but not every engine filters them by label (Podman), and an agent
   * always notices.
   */
  checkContainer(containerId: string, reason = "its agent died"): void {
    void this.runtime.inspect(containerId).then(
      (info) => {
        if (!info || !info.running) {
          this.onContainerDied(containerId);
          return;
        }
        // The container runs: its sandbox gets a new agent now, or is failed.
        for (const sandbox of this.registry.inContainer(containerId)) void sandbox.recover(reason);
      },
      () => {
        // The engine itself is unreachable: that is not the container's death.
      },
    );
  }

  private onContainerDied(containerId: string, cause?: string): void {
    for (const sandbox of this.registry.inContainer(containerId)) {
      sandbox.end("stopped");
      this.log.warn({ sandboxId: sandbox.id, cause }, "sandbox container stopped from outside");
      void this.remover
        .remove(sandbox, { reason: "stopped", detail: `its container stopped outside the daemon${cause ? `: ${cause}` : ""}` })
        .catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "removing a stopped sandbox failed"));
    }
  }
}
