import { describeError, failedPrecondition, invalidArgument } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { CapturedPlot, ProcessFile } from "../runtime/process.js";
import type { CheckCodeResult } from "../security/index.js";
import { resolvePolicy, type CodePolicies } from "./code-policy.js";
import type { LanguageRegistry } from "./languages.js";
import { checkCodeSize, checkEnv, checkTimeout, checkWorkdir, type RequestLimits } from "./request-limits.js";
import type { Run } from "./run.js";
import type { RunManager, RunPlan, RunStep } from "./run-manager.js";
import type { Sandbox } from "./sandbox.js";
import type { PolicySpec, SandboxRequest } from "./sandbox-config.js";
import type { SandboxManager } from "./sandbox-manager.js";

/** Run: code in the sandbox's language (or, without a sandbox id, in an ephemeral sandbox). */
export interface CodeRunRequest {
  sandboxId: string;
  language: string;
  code: string;
  args: string[];
  libraries: string[];
  env: Record<string, string>;
  stdin: Uint8Array;
  keepStdinOpen: boolean;
  timeoutMs: number;
  detachOnCancel: boolean;
  clearArtifacts: boolean;
  /** The ephemeral sandbox's spec, used when sandboxId is empty. */
  ephemeral: SandboxRequest;
}

/** Exec: a command (argv, or a shell string). */
export interface CommandRunRequest {
  sandboxId: string;
  argv: string[];
  shell: string;
  workdir: string;
  env: Record<string, string>;
  stdin: Uint8Array;
  keepStdinOpen: boolean;
  timeoutMs: number;
  detachOnCancel: boolean;
}

export interface InstallRunRequest {
  sandboxId: string;
  libraries: string[];
  timeoutMs: number;
}

/** The policy a CheckCode request names. */
export type PolicySource = { kind: "preset"; name: string } | { kind: "inline"; spec: PolicySpec } | { kind: "sandbox"; sandboxId: string };

/** A run the pipeline started: the caller follows it; cancelling the call cancels it when `cancelOnAbort`. */
export interface StartedRun {
  run: Run;
  sandbox: Sandbox;
  cancelOnAbort: boolean;
}

/** What the capture stage adds to a Run's program step, and collects after it. */
export interface CaptureSession {
  /** Files written before the program starts (the language's capture hook). */
  files: ProcessFile[];
  /** Environment of the program step (hook path, spool directory). */
  env: Record<string, string>;
  /**
   * Live announcement: the spool directory the sandbox's channel watches while the program
   * runs, and what announces each plot it reports (an `artifact` event at once).
   */
  live?: { dir: string; announce: (plot: CapturedPlot) => void };
  /** After the program exited, before the `exited` event: announces what was captured and not yet announced. */
  collect(): Promise<void>;
}

/**
 * The artifact capture of Runs, as a stage of the pipeline (src/artifacts implements it).
 * Only Runs (code in the sandbox's language) are captured; Exec and Install are not.
 */
export interface CaptureStage {
  /** `env` is the program's environment so far (a hook extends PYTHONPATH rather than replacing it). */
  prepare(sandbox: Sandbox, run: Run, options: { clearArtifacts: boolean; env: Record<string, string> }): Promise<CaptureSession | undefined>;
  /** ClearArtifacts on its own (an Exec or Install never clears). */
  clear(sandbox: Sandbox): Promise<number>;
}

export interface RunPipelineDeps {
  limits: RequestLimits;
  sandboxes: SandboxManager;
  runs: RunManager;
  languages: LanguageRegistry;
  policies: CodePolicies;
  capture: CaptureStage;
  logger: Logger;
  /** Python runs may be forked from a fork server in the sandbox (--python.fork-server), with these modules preloaded. */
  pythonForkServer?: { preload: string[] };
}

/**
 * The one way a run starts, whatever asked for it: validate the request, check it against
 * the sandbox's policy, open the run (its id is the id of everything that follows), plan
 * its steps, let the capture stage prepare, execute, collect. Run, Exec, Install and
 * ephemeral Runs go through `run`, `exec` and `install`; interactive cells through
 * `admitCell` (their execution belongs to the session's kernel).
 */
export class RunPipeline {
  private readonly log: Logger;

  constructor(private readonly deps: RunPipelineDeps) {
    this.log = deps.logger.child({ component: "pipeline" });
  }

  async run(tenant: string, req: CodeRunRequest, signal: AbortSignal): Promise<StartedRun> {
    const { limits, sandboxes, languages } = this.deps;
    if (req.code.trim() === "") throw invalidArgument("code is empty", { reason: "EMPTY_CODE" });
    checkCodeSize(req.code, limits);
    checkEnv(req.env);
    checkTimeout(req.timeoutMs, limits);
    let sandbox: Sandbox;
    let ephemeral = false;
    if (req.sandboxId) {
      sandbox = await sandboxes.ready(tenant, req.sandboxId);
      if (req.language && languages.get(req.language).name !== sandbox.handler.name) {
        throw invalidArgument(`sandbox ${sandbox.id} runs ${sandbox.handler.name}, not ${req.language}`, { reason: "LANGUAGE_MISMATCH" });
      }
    } else {
      if (!req.language) throw invalidArgument("either sandbox_id or language is required", { reason: "LANGUAGE_NOT_SUPPORTED" });
      languages.validateLibraries(languages.get(req.ephemeral.language), req.libraries);
      sandbox = await sandboxes.create(tenant, req.ephemeral, { signal });
      ephemeral = true;
    }
    let started: Promise<void> | undefined;
    try {
      languages.validateLibraries(sandbox.handler, req.libraries);
      await this.deps.policies.enforceCode(sandbox, req.code);
      this.deps.policies.enforceLibraries(sandbox, req.libraries);
      const { run, done } = await this.start(sandbox, (run) => this.codePlan(sandbox, run, req), { capture: true, clearArtifacts: req.clearArtifacts });
      started = done;
      return { run, sandbox, cancelOnAbort: !(req.detachOnCancel && !ephemeral) };
    } finally {
      // An ephemeral sandbox lives as long as its run; the caller has the exit event by then.
      if (ephemeral) {
        void (started ?? Promise.resolve())
          .then(() => sandboxes.destroy(tenant, sandbox.id))
          .catch((err: unknown) => this.log.warn({ err: describeError(err), sandboxId: sandbox.id }, "removing an ephemeral sandbox failed"));
      }
    }
  }

  async exec(tenant: string, req: CommandRunRequest): Promise<StartedRun> {
    const sandbox = await this.deps.sandboxes.ready(tenant, req.sandboxId);
    const hasArgv = req.argv.length > 0;
    const hasShell = req.shell.trim() !== "";
    if (hasArgv === hasShell) throw invalidArgument("exactly one of argv and shell is required");
    if (hasArgv && req.argv[0] === "") throw invalidArgument("argv[0] is empty");
    if (req.argv.some((a) => a.includes("\0")) || req.shell.includes("\0")) throw invalidArgument("command contains a NUL byte");
    checkEnv(req.env);
    checkTimeout(req.timeoutMs, this.deps.limits);
    const workdir = req.workdir || sandbox.config.workdir;
    checkWorkdir(workdir);
    const plan = (): RunPlan => {
      const step: RunStep = { phase: "run", command: { argv: hasArgv ? req.argv : ["/bin/sh", "-c", req.shell] }, cwd: workdir };
      if (req.stdin.byteLength > 0) step.stdin = req.stdin;
      if (req.keepStdinOpen) step.keepStdinOpen = true;
      return { steps: [step], timeoutMs: req.timeoutMs || sandbox.config.executionTimeoutMs, env: { ...sandbox.config.env, ...req.env } };
    };
    const { run } = await this.start(sandbox, plan, { capture: false, clearArtifacts: false });
    return { run, sandbox, cancelOnAbort: !req.detachOnCancel };
  }

  async install(tenant: string, req: InstallRunRequest): Promise<StartedRun> {
    const sandbox = await this.deps.sandboxes.ready(tenant, req.sandboxId);
    if (req.libraries.length === 0) throw invalidArgument("libraries is empty");
    this.deps.languages.validateLibraries(sandbox.handler, req.libraries);
    this.deps.policies.enforceLibraries(sandbox, req.libraries);
    checkTimeout(req.timeoutMs, this.deps.limits);
    const h = sandbox.handler;
    const step = installStep(sandbox, req.libraries);
    if (!step) throw invalidArgument(`installing libraries is not supported for ${h.name}`);
    const plan = (): RunPlan => ({
      steps: [step],
      timeoutMs: req.timeoutMs || Math.max(sandbox.config.executionTimeoutMs, 300_000),
      env: { ...(h.env ?? {}), ...sandbox.config.env },
    });
    const { run } = await this.start(sandbox, plan, { capture: false, clearArtifacts: false });
    return { run, sandbox, cancelOnAbort: true };
  }

  /**
   * The validate and policy stages for one interactive cell (`language`: python for
   * IPython, bash for shell sessions). PERMISSION_DENIED before anything of it runs.
   */
  async admitCell(sandbox: Sandbox, language: string, code: string, timeoutMs: number): Promise<void> {
    checkCodeSize(code, this.deps.limits);
    checkTimeout(timeoutMs, this.deps.limits);
    await this.deps.policies.enforceCode(sandbox, code, language);
  }

  /**
   * A run to attach to: a known one, or one a re-adopted sandbox's agent reported lost (it
   * was live when a previous daemon died).
   */
  async findRun(tenant: string, runId: string): Promise<Run> {
    try {
      return this.deps.runs.get(tenant, runId);
    } catch (err) {
      const sandbox = await this.deps.sandboxes.sandboxThatLost(tenant, runId);
      if (!sandbox) throw err;
      return this.deps.runs.recordLost(sandbox, runId);
    }
  }

  /** CheckCode: the static check alone, against a preset, an inline policy or a sandbox's. */
  async checkCode(tenant: string, language: string, code: string, source: PolicySource): Promise<CheckCodeResult> {
    let policy;
    switch (source.kind) {
      case "preset":
        policy = resolvePolicy(source.name, undefined);
        break;
      case "inline":
        policy = resolvePolicy(undefined, source.spec);
        break;
      case "sandbox": {
        const sandbox = this.deps.sandboxes.get(tenant, source.sandboxId);
        language ||= sandbox.handler.name;
        policy = this.deps.policies.policyOf(sandbox);
        if (!policy) throw failedPrecondition(`sandbox ${sandbox.id} has no security policy`, { reason: "NO_POLICY" });
        break;
      }
    }
    if (!policy) throw invalidArgument("a security policy is required");
    checkCodeSize(code, this.deps.limits);
    return this.deps.policies.check(this.deps.languages.get(language).name, code, policy, tenant);
  }

  /** Opens the run, plans it, lets capture prepare, and starts executing. */
  private async start(
    sandbox: Sandbox,
    planOf: (run: Run) => RunPlan,
    options: { capture: boolean; clearArtifacts: boolean },
  ): Promise<{ run: Run; done: Promise<void> }> {
    const { runs, capture } = this.deps;
    const run = runs.open(sandbox);
    let plan: RunPlan;
    try {
      plan = planOf(run);
      if (options.capture) {
        const step = plan.steps[plan.steps.length - 1] as RunStep;
        const session = await capture.prepare(sandbox, run, { clearArtifacts: options.clearArtifacts, env: { ...plan.env, ...step.command.env } });
        if (session) {
          step.files = [...(step.files ?? []), ...session.files];
          step.command = { ...step.command, env: { ...step.command.env, ...session.env } };
          if (session.live) step.capture = session.live;
          plan.collect = () => session.collect();
        }
      } else if (options.clearArtifacts) {
        await capture.clear(sandbox);
      }
    } catch (err) {
      runs.abandon(run);
      throw err;
    }
    this.log.debug({ runId: run.id, sandboxId: sandbox.id }, "run started");
    return { run, done: runs.execute(run, sandbox, plan) };
  }

  /** Install (of libraries not installed yet), compile, run: the program file written with the step that first needs it. */
  private codePlan(sandbox: Sandbox, run: Run, req: CodeRunRequest): RunPlan {
    const h = sandbox.handler;
    // Not under /tmp/.sandboxd/runs: the agent records live runs there, by the same id.
    const layout = { workdir: sandbox.config.workdir, runDir: `/tmp/.sandboxd/work/${run.id}`, runId: run.id };
    const steps: RunStep[] = [];
    const missing = req.libraries.filter((l) => !sandbox.installed.has(l));
    const install = missing.length > 0 ? installStep(sandbox, missing) : undefined;
    if (install) steps.push(install);
    const source = h.sourcePath(req.code, layout);
    const file = { path: source, data: Buffer.from(req.code, "utf8"), mode: 0o644 };
    if (h.compile) steps.push({ phase: "compile", command: h.compile(source, layout), cwd: layout.workdir, files: [file] });
    const runStep: RunStep = { phase: "run", command: h.run(source, layout, req.args), cwd: layout.workdir };
    if (!h.compile) runStep.files = [file];
    if (req.stdin.byteLength > 0) runStep.stdin = req.stdin;
    if (req.keepStdinOpen) runStep.keepStdinOpen = true;
    if (h.name === "python" && this.deps.pythonForkServer) runStep.forkServer = this.deps.pythonForkServer;
    steps.push(runStep);
    return { steps, timeoutMs: req.timeoutMs || sandbox.config.executionTimeoutMs, env: { ...(h.env ?? {}), ...sandbox.config.env, ...req.env } };
  }
}

/**
 * The install step of `libraries` (remembered once installed). A sandbox without network
 * installs offline (see InstallLayout.offline); when that fails and some library is a name
 * rather than a file in the sandbox, the exit says that the network is the likely cause.
 */
function installStep(sandbox: Sandbox, libraries: readonly string[]): RunStep | undefined {
  const h = sandbox.handler;
  // An attached container's network is its own: the sandbox's setting says nothing of it.
  const offline = sandbox.config.network === "none" && !sandbox.attached;
  const wrapped = (sandbox.config.commandWrapper?.length ?? 0) > 0;
  const command = h.install?.(libraries, { workdir: sandbox.config.workdir, offline, env: sandbox.config.env, wrapped });
  if (!command) return undefined;
  const step: RunStep = { phase: "install", command, cwd: sandbox.config.workdir, onSuccess: () => libraries.forEach((l) => sandbox.installed.add(l)) };
  const named = libraries.filter((l) => !l.startsWith("/"));
  if (offline && named.length > 0) {
    step.failureMessage =
      `installing libraries failed: sandbox ${sandbox.id} has no network (NETWORK_MODE_NONE), so only libraries already in its image ` +
      `and package files in the sandbox can be installed, and ${named.join(", ")} would have to be downloaded; ` +
      "create the sandbox with network NETWORK_MODE_BRIDGE to give it egress to a package index";
  }
  return step;
}
