import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";
import type { LanguageRegistry } from "./languages.js";
import { Sandbox, startSandboxChannel } from "./sandbox.js";
import type { SandboxConfig } from "./sandbox-config.js";
import type { ContainerCheck } from "./sandbox-reaper.js";

/** What makes a sandbox of a started container (new, attached, handed out or found again). */
export interface SandboxRecord {
  id: string;
  tenant: string;
  config: SandboxConfig;
  containerId: string;
  image: string;
  createdAt: Date;
  /** An existing container the sandbox runs in but never removes. */
  attached: boolean;
  fromPool: boolean;
  /** The API pool it was acquired from (PoolService). */
  poolId?: string;
  /** A channel already open into the container (a pool member's agent). */
  runner?: SandboxChannel;
}

/**
 * Builds `Sandbox` objects and opens channels into containers, every one wired the same
 * way: a dead agent makes the reaper check its container.
 */
export class SandboxFactory {
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly languages: LanguageRegistry,
    /** The resident agent; false: one engine exec per run. */
    private readonly useAgent: boolean,
    private readonly deaths: ContainerCheck,
    private readonly log: Logger,
  ) {}

  sandbox(record: SandboxRecord): Sandbox {
    const { runner, ...rest } = record;
    return new Sandbox({
      ...rest,
      handler: this.languages.get(record.config.language),
      runtime: this.runtime,
      logger: this.log.child({ sandboxId: record.id }),
      useAgent: this.useAgent,
      onRunnerDeath: (cid, reason) => this.deaths.checkContainer(cid, reason),
      ...(runner ? { runner } : {}),
    });
  }

  /** Opens the channel into a container that has no sandbox yet (a pool member). */
  channel(containerId: string): Promise<SandboxChannel> {
    return startSandboxChannel(this.runtime, containerId, this.log, this.useAgent, (reason) => this.deaths.checkContainer(containerId, reason));
  }
}
