import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { AgentRunner } from "../runtime/agent-runner.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { ExecRunner } from "../runtime/exec-runner.js";
import type { ProcessRunner } from "../runtime/process.js";
import type { LanguageHandler } from "./languages.js";
import type { Run } from "./run.js";
import type { SandboxConfig } from "./sandbox-config.js";

export type SandboxState = "creating" | "running" | "stopped" | "expired";

export interface SandboxInit {
  id: string;
  tenant: string;
  config: SandboxConfig;
  handler: LanguageHandler;
  containerId: string;
  image: string;
  createdAt: Date;
  /** An existing container we run in but never remove. */
  attached: boolean;
  fromPool: boolean;
  runtime: ContainerRuntime;
  logger: Logger;
  useAgent: boolean;
}

/**
 * One live sandbox: its container, its process runner (the resident agent, or per-run
 * execs where the agent cannot start), its runs, and its expiry.
 */
export class Sandbox {
  readonly id: string;
  readonly tenant: string;
  readonly config: SandboxConfig;
  readonly handler: LanguageHandler;
  readonly containerId: string;
  readonly image: string;
  readonly createdAt: Date;
  readonly attached: boolean;
  readonly fromPool: boolean;
  state: SandboxState = "running";
  lastUsedAt = Date.now();
  readonly runs = new Set<Run>();
  /** Per-sandbox plot counter and state owned by the artifacts component. */
  readonly extensions = new Map<string, unknown>();
  private runnerPromise: Promise<ProcessRunner> | undefined;
  private readonly runtime: ContainerRuntime;
  private readonly log: Logger;
  private readonly useAgent: boolean;
  private closed = false;

  constructor(init: SandboxInit) {
    this.id = init.id;
    this.tenant = init.tenant;
    this.config = init.config;
    this.handler = init.handler;
    this.containerId = init.containerId;
    this.image = init.image;
    this.createdAt = init.createdAt;
    this.attached = init.attached;
    this.fromPool = init.fromPool;
    this.runtime = init.runtime;
    this.log = init.logger;
    this.useAgent = init.useAgent;
  }

  get expiresAt(): Date {
    return new Date(this.createdAt.getTime() + this.config.ttlMs);
  }

  /** Why this sandbox should be reaped now, if it should. */
  expiryReason(now: number): string | undefined {
    if (now >= this.expiresAt.getTime()) return `its TTL of ${this.config.ttlMs} ms passed`;
    if (this.runs.size === 0 && now - this.lastUsedAt >= this.config.idleTimeoutMs) {
      return `it was idle for ${this.config.idleTimeoutMs} ms`;
    }
    return undefined;
  }

  touch(): void {
    this.lastUsedAt = Date.now();
  }

  /** Starts the process runner early (pools, create) so the first run does not wait. */
  warm(): void {
    void this.runner().catch(() => {});
  }

  /** The runner for this sandbox, started once and restarted if its agent died. */
  runner(): Promise<ProcessRunner> {
    if (!this.runnerPromise) {
      this.runnerPromise = this.startRunner();
      this.runnerPromise.catch(() => {
        this.runnerPromise = undefined;
      });
    }
    return this.runnerPromise;
  }

  private async startRunner(): Promise<ProcessRunner> {
    if (this.closed) throw new Error("sandbox closed");
    if (this.useAgent) {
      try {
        return await AgentRunner.start({
          runtime: this.runtime,
          containerId: this.containerId,
          logger: this.log,
          onDeath: () => {
            // The next run starts a fresh agent.
            this.runnerPromise = undefined;
          },
        });
      } catch (err) {
        if ((err as { code?: string }).code === "UNAVAILABLE" && /engine/.test(describeError(err))) throw err;
        this.log.info({ err: describeError(err) }, "agent unavailable in this image; using one engine exec per run");
      }
    }
    return new ExecRunner(this.runtime, this.containerId, this.log);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const run of this.runs) run.cancel("cancelled");
    const p = this.runnerPromise;
    this.runnerPromise = undefined;
    if (p) {
      try {
        await (await p).close();
      } catch {
        // The runner never started; nothing to close.
      }
    }
  }
}
