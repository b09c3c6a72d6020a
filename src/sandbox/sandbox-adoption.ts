import type { Logger } from "../common/logger.js";
import type { ContainerInfo, ContainerRuntime } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";
import { readOwner } from "./pool-owner.js";
import type { Sandbox } from "./sandbox.js";
import type { SandboxConfig } from "./sandbox-config.js";
import type { SandboxFactory } from "./sandbox-factory.js";
import type { SandboxNetworks } from "./sandbox-networks.js";
import type { SandboxRegistry } from "./sandbox-registry.js";

/** How long sandboxThatLost waits for one adopted sandbox's agent to say hello. */
const helloWaitMs = 5000;

/**
 * Finds this daemon's sandboxes again after a restart (or the engine's return): from their
 * labels, and for handed-out pool members from the owner record inside them. Expired,
 * broken and unassigned containers, and networks of sandboxes it no longer has, are removed.
 */
export class SandboxAdoption {
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly registry: SandboxRegistry,
    private readonly factory: SandboxFactory,
    private readonly networks: SandboxNetworks,
    /** Labels selecting this daemon's containers. */
    private readonly ownLabels: Record<string, string>,
    private readonly log: Logger,
  ) {}

  /** Re-adopts this daemon's live sandboxes; removes expired and broken ones. */
  async adopt(): Promise<void> {
    const now = Date.now();
    for (const c of await this.runtime.list(this.ownLabels)) {
      // A pool member's owner record is read through its agent: it must run for that.
      if (c.labels[Label.pool] !== undefined && c.paused) await this.runtime.unpause(c.id).catch(() => {});
      if (c.labels[Label.pool] !== undefined && c.running && (await this.adoptPoolMember(c, now))) continue;
      const sandbox = c.labels[Label.pool] === undefined ? this.fromLabels(c, now) : undefined;
      if (!sandbox) {
        await this.runtime.remove(c.id).catch(() => false);
        this.log.info({ containerId: c.id.slice(0, 12), sandboxId: c.labels[Label.sandboxId] }, "removed leftover container");
        continue;
      }
      this.registry.add(sandbox, true);
      // A paused sandbox stays paused; its agent starts when it is resumed.
      if (c.paused) sandbox.adoptPaused();
      else sandbox.warm();
      this.log.info({ sandboxId: sandbox.id, tenant: sandbox.tenant }, "re-adopted sandbox");
    }
    await this.networks.removeLeftovers((id) => this.registry.has(id));
  }

  /**
   * The tenant's re-adopted sandbox whose agent reported `runId` lost (it was live when a
   * previous daemon with this id died), if any. Waits for those agents to say hello.
   */
  async sandboxThatLost(tenant: string, runId: string): Promise<Sandbox | undefined> {
    for (const sandbox of this.registry.adopted(tenant)) {
      const runner = await Promise.race([
        sandbox.runner().catch(() => undefined),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), helloWaitMs).unref()),
      ]);
      if (runner?.lostRuns.includes(runId)) return sandbox;
    }
    return undefined;
  }

  /** A sandbox container whose labels say it is live: its sandbox (not yet registered). */
  private fromLabels(c: ContainerInfo, now: number): Sandbox | undefined {
    const id = c.labels[Label.sandboxId];
    const tenant = c.labels[Label.tenant];
    const expires = Number(c.labels[Label.expiresAt]);
    let config: SandboxConfig | undefined;
    try {
      config = JSON.parse(c.labels[Label.config] ?? "") as SandboxConfig;
    } catch {
      config = undefined;
    }
    if (!id || !tenant || !config || !c.running || !(expires > now)) return undefined;
    // An allow-listed sandbox's egress proxy ended with the daemon that ran it: removed (with its network and firewall rules) rather than kept without one.
    if (config.network === "allow_list") return undefined;
    const createdAt = new Date(Number(c.labels[Label.createdAt]) || c.createdAt.getTime());
    return this.factory.sandbox({ id, tenant, config, containerId: c.id, image: c.image, createdAt, attached: false, fromPool: false });
  }

  /**
   * A running pool member handed out before the restart and not yet expired: registered
   * again, keeping the channel its owner record was read through. False otherwise (the
   * caller removes it).
   */
  private async adoptPoolMember(c: ContainerInfo, now: number): Promise<boolean> {
    const channel = await this.factory.channel(c.id).catch(() => undefined);
    const owner = channel ? await readOwner(channel) : undefined;
    if (channel && owner && owner.createdAt + owner.config.ttlMs > now) {
      const { sandboxId: id, tenant, config } = owner;
      const poolId = owner.poolId ?? "";
      const record = { id, tenant, config, containerId: c.id, image: c.image, createdAt: new Date(owner.createdAt), attached: false, fromPool: true, poolId };
      this.registry.add(this.factory.sandbox({ ...record, runner: channel }), true);
      this.log.info({ sandboxId: id, tenant }, "re-adopted pooled sandbox");
      return true;
    }
    await channel?.close();
    return false;
  }
}
