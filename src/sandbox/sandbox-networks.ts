import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";

/**
 * The networks of bridged sandboxes, one per sandbox (it reaches out, never the host or a
 * peer), labelled with the daemon and the sandbox, so leftovers of a crash are found.
 */
export class SandboxNetworks {
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly ownLabels: Record<string, string>,
    private readonly log: Logger,
  ) {}

  /** A new network for sandbox `sandboxId`; its name goes in ContainerSpec.network. */
  create(sandboxId: string): Promise<string> {
    return this.runtime.createSandboxNetwork({ ...this.ownLabels, [Label.sandboxId]: sandboxId });
  }

  /** Removes one network by name (a creation that failed half way); never throws. */
  async removeNamed(name: string): Promise<void> {
    await this.runtime.removeNetwork(name).catch(() => false);
  }

  /** Removes the networks of a removed sandbox. */
  async removeFor(sandboxId: string): Promise<void> {
    for (const net of await this.runtime.listNetworks({ ...this.ownLabels, [Label.sandboxId]: sandboxId })) {
      await this.runtime
        .removeNetwork(net.name)
        .catch((err: unknown) => this.log.warn({ err: describeError(err), network: net.name }, "removing a sandbox network failed"));
    }
  }

  /** Networks of sandboxes this daemon no longer has (it died before removing them). */
  async removeLeftovers(has: (sandboxId: string) => boolean): Promise<void> {
    for (const net of await this.runtime.listNetworks(this.ownLabels)) {
      const owner = net.labels[Label.sandboxId];
      if (owner !== undefined && has(owner)) continue;
      if (await this.runtime.removeNetwork(net.name).catch(() => false)) this.log.info({ network: net.name }, "removed leftover network");
    }
  }
}
