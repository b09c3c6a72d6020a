import type { Config } from "../config/config.js";
import { describeError, notFound, resourceExhausted } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { lostExit, type CapturedPlot, type ProcessExit, type ProcessFile } from "../runtime/process.js";
import { wrapArgv } from "./command-wrapper.js";
import type { Command } from "./languages.js";
import { OutputBudget } from "./output-budget.js";
import { Run, type Phase, type RunExit } from "./run.js";
import type { Sandbox } from "./sandbox.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";

export interface RunStep {
  phase: Phase;
  command: Command;
  cwd: string;
  files?: ProcessFile[];
  /** Only the last step gets the caller's stdin. */
  stdin?: Uint8Array;
  keepStdinOpen?: boolean;
  /** The agent may fork this step from its Python fork server (see ProcessSpec.forkServer). */
  forkServer?: { preload: string[] };
  /** Called when this step exited 0 (e.g. remember installed libraries). */
  onSuccess?: () => void;
  /** The exit's message when this step exits non-zero, instead of its phase's. */
  failureMessage?: string;
  /** Live plot capture (the capture stage): the spool the channel watches, and what announces a plot it reports. */
  capture?: { dir: string; announce: (plot: CapturedPlot) => void };
}

export interface RunPlan {
  steps: RunStep[];
  /** One deadline for the whole run; 0 for none. */
  timeoutMs: number;
  env: Record<string, string>;
  /** The pipeline's collect stage: runs after the last step, before the exit event (artifacts are announced here). */
  collect?: () => Promise<void>;
}

/**
 * Output bytes a run's process may have in flight before its followers took them: beyond
 * this the runner stops reading its pipes and the program blocks on write.
 */
const creditWindowBytes = 1024 * 1024;

const failureMessages: Record<Phase, string> = {
  install: "installing libraries failed",
  compile: "compilation failed",
  run: "",
};

/**
 * Starts runs in sandboxes and keeps them attachable for a while after they end. A run is
 * a sequence of steps (install, compile, run) under one deadline; the first step that
 * fails ends it, and the exit says which phase that was.
 */
export class RunManager {
  private readonly runs = new Map<string, Run>();
  private readonly log: Logger;
  /** Shared by every run's replay and queued output (interactive cells count while they run). */
  readonly budget: OutputBudget;

  constructor(
    private readonly config: Config,
    logger: Logger,
    private readonly metrics: SandboxdMetrics,
  ) {
    this.log = logger.child({ component: "runs" });
    this.budget = new OutputBudget(config.maxBufferedBytes);
  }

  get active(): number {
    let n = 0;
    for (const r of this.runs.values()) if (!r.done) n++;
    return n;
  }

  /** The caller's run, or NOT_FOUND (another tenant's run is not found either). */
  get(tenant: string, runId: string): Run {
    const run = this.runs.get(runId);
    if (!run || run.tenant !== tenant) throw notFound(`run ${JSON.stringify(runId)} not found`, { reason: "RUN_NOT_FOUND" });
    return run;
  }

  /**
   * A run that a previous agent of `sandbox` reported lost: it was live when the daemon
   * died, and its processes ended with the agent's channel. Kept like a finished run.
   */
  recordLost(sandbox: Sandbox, runId: string): Run {
    const known = this.runs.get(runId);
    if (known) return known;
    const run = new Run(runId, sandbox.id, sandbox.tenant, this.config.replayBytes, this.budget);
    const { kind, message, ...counts } = lostExit(
      "the daemon stopped while this run was live (it was killed, not drained); the run's processes ended with it and its output is gone",
    );
    run.append({ type: "exited", exit: { ...counts, status: kind, message: message ?? "", phase: "run", kernelRestarted: false } });
    this.runs.set(run.id, run);
    setTimeout(() => {
      this.runs.delete(run.id);
      run.release();
    }, this.config.runRetentionMs).unref();
    return run;
  }

  /**
   * A new run of `sandbox`, counted against the tenant's quota of concurrent runs (its id
   * is the one every later stage and the agent use). `execute` starts it, `abandon` drops
   * it when a stage before execution failed.
   */
  open(sandbox: Sandbox): Run {
    const max = this.config.quotas.maxConcurrentRuns;
    if (max > 0) {
      let mine = 0;
      for (const r of this.runs.values()) if (!r.done && r.tenant === sandbox.tenant) mine++;
      if (mine >= max) {
        throw resourceExhausted(`tenant ${sandbox.tenant} reached its quota of ${max} concurrent runs (quota max-concurrent-runs)`, {
          reason: "QUOTA_EXCEEDED",
          metadata: { quota: "max-concurrent-runs", limit: String(max) },
        });
      }
    }
    const run = new Run(newId("run"), sandbox.id, sandbox.tenant, this.config.replayBytes, this.budget);
    this.runs.set(run.id, run);
    return run;
  }

  /** Forgets a run `open` made that never started. */
  abandon(run: Run): void {
    if (this.runs.get(run.id) === run) this.runs.delete(run.id);
    run.release();
  }

  /** Runs the plan of an opened run; resolves once its `exited` event was appended. */
  execute(run: Run, sandbox: Sandbox, plan: RunPlan): Promise<void> {
    sandbox.runs.add(run);
    sandbox.touch();
    return this.executeSteps(run, sandbox, plan).finally(() => {
      sandbox.runs.delete(run);
      sandbox.touch();
      const exit = run.exit;
      const language = sandbox.config.language;
      // The exit's status, lower-case; an exit by itself with a non-zero code is "failed".
      const outcome = exit ? (exit.status === "exited" && exit.exitCode !== 0 ? "failed" : exit.status) : "lost";
      this.metrics.runs.inc({ language, outcome });
      if (exit) this.metrics.runDuration.observe(exit.durationMs / 1000, { language });
      // Every run's outcome, one line at info (what an operator greps for a user's report).
      this.log.info(
        {
          runId: run.id,
          sandboxId: sandbox.id,
          tenant: run.tenant,
          language: sandbox.config.language,
          status: exit?.status,
          phase: exit?.phase,
          exitCode: exit?.exitCode,
          signal: exit?.signal || undefined,
          durationMs: exit?.durationMs,
          stdoutBytes: exit?.stdoutBytes,
          stderrBytes: exit?.stderrBytes,
        },
        "run ended",
      );
      setTimeout(() => {
        this.runs.delete(run.id);
        run.release();
      }, this.config.runRetentionMs).unref();
    });
  }

  private async executeSteps(run: Run, sandbox: Sandbox, plan: RunPlan): Promise<void> {
    const started = Date.now();
    const deadline = plan.timeoutMs > 0 ? started + plan.timeoutMs : 0;
    const log = this.log.child({ sandboxId: sandbox.id, runId: run.id });
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let truncated = false;
    // The steps' own usage as the channel reaped them: the largest peak, the CPU summed.
    let measured: { peakMemoryBytes: number; cpuTimeMs: number } | undefined;
    const finish = async (exit: Omit<RunExit, "durationMs" | "stdoutBytes" | "stderrBytes" | "truncated" | "kernelRestarted">) => {
      if (plan.collect) {
        await plan.collect().catch((err: unknown) => log.warn({ err: describeError(err) }, "collecting run results failed"));
      }
      run.append({
        type: "exited",
        exit: { ...exit, durationMs: Date.now() - started, stdoutBytes, stderrBytes, truncated, kernelRestarted: false, ...measured },
      });
    };
    try {
      const runner = await sandbox.runner();
      for (const step of plan.steps) {
        if (run.cancelled) {
          await finish({
            status: run.cancelled,
            exitCode: 0,
            signal: 0,
            phase: step.phase,
            message: run.cancelled === "timeout" ? `the run's deadline of ${plan.timeoutMs} ms passed` : "cancelled",
          });
          return;
        }
        const remaining = deadline > 0 ? deadline - Date.now() : 0;
        if (deadline > 0 && remaining <= 0) {
          await finish({ status: "timeout", exitCode: 0, signal: 9, phase: step.phase, message: `the run's deadline of ${plan.timeoutMs} ms passed` });
          return;
        }
        const spec = {
          // Every step (install, compile, run; Exec's command) goes through the sandbox's wrapper.
          argv: wrapArgv(sandbox.config.commandWrapper, step.command.argv),
          env: { ...plan.env, ...step.command.env },
          cwd: step.cwd,
          timeoutMs: remaining,
          maxOutputBytes: Math.max(1, this.config.maxOutputBytes - stdoutBytes - stderrBytes),
          ...(step.files ? { files: step.files } : {}),
          ...(step.stdin ? { stdin: step.stdin } : {}),
          ...(step.keepStdinOpen ? { keepStdinOpen: true } : {}),
          ...(step.forkServer ? { forkServer: step.forkServer } : {}),
          creditWindowBytes,
          runId: run.id,
          ...(step.capture ? { captureDir: step.capture.dir } : {}),
        };
        const base = run.outputEnd;
        const proc = await runner.start(spec);
        run.process = proc;
        // Credit back to the process as its followers take its output (offsets from `base`).
        let acked = 0;
        run.onConsumed = (consumed) => {
          const n = Math.min(consumed, run.outputEnd) - base - acked;
          if (n <= 0) return;
          acked += n;
          proc.ack(n);
        };
        if (run.cancelled) proc.kill(run.cancelled);
        let exit: ProcessExit | undefined;
        for await (const ev of proc) {
          switch (ev.type) {
            case "started":
              run.append({ type: "started", runId: run.id, pid: ev.pid, phase: step.phase, sandboxId: sandbox.id });
              break;
            case "stdout":
            case "stderr":
              if (ev.type === "stdout") stdoutBytes += ev.data.byteLength;
              else stderrBytes += ev.data.byteLength;
              run.append({ type: "output", stream: ev.type, data: ev.data, offset: 0, streamOffset: 0, phase: step.phase });
              break;
            case "captured":
              // Appended now, between the output before and after the plot.
              step.capture?.announce(ev.plot);
              break;
            case "exit":
              exit = ev.exit;
              break;
          }
        }
        run.process = undefined;
        run.onConsumed = undefined;
        if (!exit) throw new Error("process ended without an exit status");
        // A run cancelled by its sandbox's destruction may lose its channel before the agent
        // reports the kill: it still ended because it was cancelled.
        if (exit.kind === "lost" && run.cancelled) exit = { ...exit, kind: run.cancelled, message: "the run was cancelled" };
        truncated ||= exit.truncated;
        if (exit.peakMemoryBytes !== undefined || exit.cpuTimeMs !== undefined) {
          measured = {
            peakMemoryBytes: Math.max(measured?.peakMemoryBytes ?? 0, exit.peakMemoryBytes ?? 0),
            cpuTimeMs: (measured?.cpuTimeMs ?? 0) + (exit.cpuTimeMs ?? 0),
          };
        }
        const failed = exit.kind !== "exited" || exit.exitCode !== 0;
        if (!failed) step.onSuccess?.();
        if (failed || step === plan.steps[plan.steps.length - 1]) {
          await finish({
            status: exit.kind,
            exitCode: exit.exitCode,
            signal: exit.signal,
            phase: step.phase,
            message: describeExit(exit, step, plan.timeoutMs),
          });
          return;
        }
      }
      await finish({ status: "exited", exitCode: 0, signal: 0, phase: "run", message: "" });
    } catch (err) {
      log.warn({ err: describeError(err) }, "run failed");
      await finish({ status: "lost", exitCode: -1, signal: 0, phase: "run", message: describeError(err) });
    }
  }

  /** Forgets every run (daemon shutdown). */
  clear(): void {
    for (const run of this.runs.values()) {
      run.cancel("cancelled");
      run.release();
    }
    this.runs.clear();
  }
}

function describeExit(exit: ProcessExit, step: RunStep, timeoutMs: number): string {
  switch (exit.kind) {
    case "timeout":
      return `the run's deadline of ${timeoutMs} ms passed; its process tree was killed`;
    case "oom":
      return "the process was killed by the out-of-memory killer";
    case "killed":
      return `the process was killed by signal ${exit.signal}`;
    case "cancelled":
      return "the run was cancelled";
    case "lost":
      return exit.message ?? "the process was lost";
    case "exited":
      return exit.exitCode !== 0 ? (step.failureMessage ?? failureMessages[step.phase]) : "";
  }
}
