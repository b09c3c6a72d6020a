import { describeError, failedPrecondition } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { AgentRunner } from "../runtime/agent-runner.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { ExecRunner } from "../runtime/exec-runner.js";
import { drainProcess } from "../runtime/process.js";
import type { SandboxChannel, UsageSample } from "../runtime/sandbox-channel.js";
import { wrapArgv } from "./command-wrapper.js";
import type { LanguageHandler } from "./languages.js";
import type { Run } from "./run.js";
import type { SandboxConfig } from "./sandbox-config.js";

/**
 * A sandbox's state. It is `running` once its container started (nothing of it exists
 * before), and its transitions are this class's methods:
 * - running → failed (`recover`): the container runs but the sandbox cannot serve (its
 *   agent cannot be started again, or keeps dying); calls answer FAILED_PRECONDITION until
 *   it is destroyed;
 * - running | failed → expired | stopped (`end`): the reaper removes it (TTL or idle
 *   timeout; its container stopped outside the daemon). It leaves the registry at once, so
 *   Get and List report only running and failed; the end state keeps whoever still holds
 *   the object (a run) from restarting its agent.
 * - running ⇄ paused (`pause`, `resume`): its container is frozen by the engine; it keeps
 *   its processes and files, its TTL keeps running, it is never idle.
 * A destroyed sandbox keeps its state: it is closed, and its id answers from the registry.
 */
export type SandboxState = "running" | "paused" | "failed" | "expired" | "stopped";

/** A sandbox's usage now (see SandboxUsage in the proto), or why it could not be measured. */
export type SandboxUsageReading = { sampledAt: Date } & ({ available: true; sample: UsageSample } | { available: false; reason: string });

/** How long a usage reading may take before it is reported unavailable. */
const usageTimeoutMs = 5000;

/** A sandbox whose agent died more often than this within `deathWindowMs` is failed. */
const maxAgentDeaths = 5;
const deathWindowMs = 60_000;
/** Attempts to start an agent again after it died or failed to start, and the pause between. */
const restartAttempts = 2;
const restartPauseMs = 250;

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
  /** The API pool (PoolService) it was acquired from; "" for none. */
  poolId?: string;
  runtime: ContainerRuntime;
  logger: Logger;
  useAgent: boolean;
  /** A runner already started (a warm pool member's agent). */
  runner?: SandboxChannel;
  /** Called when the sandbox's agent died: its container may have stopped. */
  onRunnerDeath?: (containerId: string, reason: string) => void;
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
  /** The API pool (PoolService) it was acquired from; "" for none. */
  readonly poolId: string;
  private lifecycle: SandboxState = "running";
  /** Why the sandbox is `failed`. */
  failure: string | undefined;
  lastUsedAt = Date.now();
  readonly runs = new Set<Run>();
  /** Libraries installed successfully in this sandbox: later runs do not reinstall them. */
  readonly installed = new Set<string>();
  private runnerPromise: Promise<SandboxChannel> | undefined;
  private current: SandboxChannel | undefined;
  private readonly runtime: ContainerRuntime;
  private readonly log: Logger;
  private readonly useAgent: boolean;
  private readonly onRunnerDeath: ((containerId: string, reason: string) => void) | undefined;
  private closed = false;
  private recovering = false;
  /** Set while the container is frozen (PauseSandbox, auto-pause). */
  private frozenAt: Date | undefined;
  /** Pause and resume, one after the other. */
  private transition: Promise<unknown> = Promise.resolve();
  private agentDeaths: number[] = [];

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
    this.poolId = init.poolId ?? "";
    this.runtime = init.runtime;
    this.log = init.logger;
    this.useAgent = init.useAgent;
    this.onRunnerDeath = init.onRunnerDeath;
    if (init.runner) {
      this.current = init.runner;
      this.runnerPromise = Promise.resolve(init.runner);
    }
  }

  get state(): SandboxState {
    return this.lifecycle === "running" && this.frozenAt ? "paused" : this.lifecycle;
  }

  /** When it was paused, while it is. */
  get pausedAt(): Date | undefined {
    return this.frozenAt;
  }

  /**
   * Freezes the container's processes (the engine's pause). Idempotent: false when it was
   * paused already. Only a running sandbox can be paused.
   */
  pause(): Promise<boolean> {
    return this.serially(async () => {
      if (this.frozenAt) return false;
      if (this.lifecycle !== "running") throw failedPrecondition(`sandbox ${this.id} is ${this.lifecycle}; only a running sandbox can be paused`);
      await this.runtime.pause(this.containerId);
      this.frozenAt = new Date();
      this.log.info("sandbox paused");
      return true;
    });
  }

  /** Thaws it. Idempotent: false when it was not paused. Counts as a call (idle, auto-pause). */
  resume(): Promise<boolean> {
    return this.serially(async () => {
      this.touch();
      if (!this.frozenAt) return false;
      await this.runtime.unpause(this.containerId);
      this.frozenAt = undefined;
      this.touch();
      this.log.info("sandbox resumed");
      return true;
    });
  }

  /**
   * Before a call that needs its processes (runs, files, artifacts, cells): a paused
   * sandbox is resumed when it has auto_resume, else the call is FAILED_PRECONDITION.
   */
  async ready(): Promise<void> {
    if (!this.frozenAt) return;
    if (!this.config.autoResume) {
      throw failedPrecondition(`sandbox ${this.id} is paused; resume it first (ResumeSandbox), or create it with auto_resume`, {
        reason: "SANDBOX_PAUSED",
      });
    }
    await this.resume();
  }

  /** Marks a container found paused (adoption after a restart). */
  adoptPaused(): void {
    this.frozenAt ??= new Date();
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.transition.then(fn, fn);
    this.transition = next.catch(() => {});
    return next;
  }

  /** Whether auto-pause is due: auto_pause_ms without calls and no run going. */
  autoPauseDue(now: number): boolean {
    const after = this.config.autoPauseMs ?? 0;
    return after > 0 && this.state === "running" && this.runs.size === 0 && now - this.lastUsedAt >= after;
  }

  /** Its end, as the reaper decided it: TTL or idle timeout passed, or its container stopped. */
  end(reason: "expired" | "stopped"): void {
    this.lifecycle = reason;
  }

  /** True once it was closed (destroyed or reaped). */
  get gone(): boolean {
    return this.closed;
  }

  /** The writable paths whose used bytes a usage reading reports: the workdir and /tmp. */
  writablePaths(): string[] {
    return [...new Set([this.config.workdir, "/tmp"])];
  }

  /**
   * Its usage as its agent reads it from inside (the sandbox's cgroup, the writable paths);
   * never throws: what cannot be measured is `available: false` with the reason.
   */
  async usage(): Promise<SandboxUsageReading> {
    const sampledAt = new Date();
    if (this.closed || this.state !== "running") return { sampledAt, available: false, reason: `the sandbox is ${this.closed ? "gone" : this.state}` };
    try {
      const channel = await this.runner();
      if (!channel.usage) {
        return { sampledAt, available: false, reason: "the image has no python3: its runs use one engine exec each, and no agent measures its usage" };
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${usageTimeoutMs} ms`)), usageTimeoutMs);
      });
      try {
        const sample = await Promise.race([channel.usage(this.writablePaths()), timeout]);
        return { sampledAt: new Date(), available: true, sample };
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      return { sampledAt, available: false, reason: `its agent could not measure it: ${describeError(err)}` };
    }
  }

  get expiresAt(): Date {
    return new Date(this.createdAt.getTime() + this.config.ttlMs);
  }

  /** Why this sandbox should be reaped now, if it should. */
  expiryReason(now: number): string | undefined {
    if (now >= this.expiresAt.getTime()) return `its TTL of ${this.config.ttlMs} ms passed`;
    // A paused sandbox is kept for its TTL: pausing is how a client keeps it without using it.
    if (this.frozenAt) return undefined;
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
  runner(): Promise<SandboxChannel> {
    if (this.current && !this.current.alive) {
      // Its agent died (reported on the runs it had); the next run gets a fresh one.
      this.current = undefined;
      this.runnerPromise = undefined;
    }
    if (!this.runnerPromise) {
      const p = this.startRunner();
      this.runnerPromise = p;
      p.then(
        (r) => {
          if (this.runnerPromise === p) this.current = r;
        },
        () => {
          if (this.runnerPromise === p) this.runnerPromise = undefined;
        },
      );
    }
    return this.runnerPromise;
  }

  private async startRunner(): Promise<SandboxChannel> {
    if (this.closed) throw new Error("sandbox closed");
    const channel = await startSandboxChannel(this.runtime, this.containerId, this.log, this.useAgent, (reason) =>
      this.onRunnerDeath?.(this.containerId, reason),
    );
    // An attached container is the caller's own: nothing is added to it.
    if (!this.attached) await setUpSandbox(channel, this.handler, this.log, this.config.commandWrapper);
    return channel;
  }

  /**
   * Its agent died, or could not be started, and its container still runs: start a new
   * agent now (not at the next call), so that the state tells the truth. A sandbox whose
   * agent cannot be started again, or keeps dying, is `failed`.
   */
  async recover(reason: string): Promise<void> {
    if (this.closed || this.state !== "running" || this.recovering) return;
    const now = Date.now();
    this.agentDeaths = [...this.agentDeaths.filter((t) => now - t < deathWindowMs), now];
    if (this.agentDeaths.length > maxAgentDeaths) {
      this.fail(`its agent died ${this.agentDeaths.length} times within ${deathWindowMs / 1000} s (last: ${reason})`);
      return;
    }
    this.recovering = true;
    try {
      let last: unknown;
      for (let attempt = 0; attempt < restartAttempts; attempt++) {
        if (this.closed || this.state !== "running") return;
        try {
          const r = await this.runner();
          if (r.alive) {
            this.log.info({ reason }, "sandbox agent restarted");
            return;
          }
          last = new Error("the new agent died at once");
        } catch (err) {
          last = err;
        }
        if (attempt + 1 < restartAttempts) await new Promise((r) => setTimeout(r, restartPauseMs).unref());
      }
      this.fail(`its agent cannot be restarted: ${describeError(last)} (it died: ${reason})`);
    } finally {
      this.recovering = false;
    }
  }

  private fail(why: string): void {
    if (this.lifecycle !== "running") return;
    this.lifecycle = "failed";
    this.failure = why;
    this.log.error({ why }, "sandbox failed");
  }

  async close(): Promise<void> {
    this.closed = true;
    // A sandbox whose container stopped outside the daemon took its runs with it: they end
    // LOST when the channel closes (nobody knows how they ended), not CANCELLED.
    if (this.lifecycle !== "stopped") for (const run of this.runs) run.cancel("cancelled");
    const p = this.runnerPromise;
    this.runnerPromise = undefined;
    this.current = undefined;
    if (p) {
      try {
        await (await p).close();
      } catch {
        // The runner never started; nothing to close.
      }
    }
  }
}

/**
 * Starts the resident agent in a container, or falls back to one engine exec per run when
 * the image cannot run it (no python3). An unreachable engine is an error, not a fallback.
 */
export async function startSandboxChannel(
  runtime: ContainerRuntime,
  containerId: string,
  log: Logger,
  useAgent: boolean,
  onDeath?: (reason: string) => void,
): Promise<SandboxChannel> {
  if (useAgent) {
    try {
      return await AgentRunner.start({ runtime, containerId, logger: log, ...(onDeath ? { onDeath } : {}) });
    } catch (err) {
      if ((err as { reason?: string }).reason !== "AGENT_UNSUPPORTED") {
        // The engine or the container failed, not the image: let the owner check the container.
        onDeath?.(describeError(err));
        throw err;
      }
      log.info({ err: describeError(err) }, "agent unavailable in this image; using one engine exec per run");
    }
  }
  return new ExecRunner(runtime, containerId, log);
}

/** Output a setup command may print (its errors, for the log). */
const setupOutputBytes = 4096;
const setupTimeoutMs = 15_000;

/**
 * Runs the language's setup command (LanguageHandler.setup) through a freshly started
 * channel. A failure is logged, not fatal: the sandbox serves without what setup adds.
 */
export async function setUpSandbox(channel: SandboxChannel, handler: LanguageHandler, log: Logger, wrapper?: readonly string[]): Promise<void> {
  const setup = handler.setup;
  if (!setup) return;
  try {
    const proc = await channel.start({
      // Through the command wrapper, as llm-sandbox's environment setup goes through
      // micromamba: Python's /tmp/venv then links the environment's python3.
      argv: wrapArgv(wrapper, setup.argv),
      ...(setup.env ? { env: setup.env } : {}),
      cwd: "/",
      timeoutMs: setupTimeoutMs,
      maxOutputBytes: setupOutputBytes,
    });
    const { output, exit } = await drainProcess(proc);
    if (exit?.kind !== "exited" || exit.exitCode !== 0) {
      log.warn({ language: handler.name, exit, output: output.slice(0, setupOutputBytes) }, "the language's sandbox setup failed");
    }
  } catch (err) {
    log.warn({ language: handler.name, err: describeError(err) }, "the language's sandbox setup failed");
  }
}
