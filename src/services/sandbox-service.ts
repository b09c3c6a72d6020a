import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { Config } from "../config/config.js";
import { failedPrecondition, invalidArgument, unavailable } from "../common/errors.js";
import type { RunEventSchema } from "../gen/sandboxd/v1/common_pb.js";
import type { SandboxService, RunRequest, ExecRequest } from "../gen/sandboxd/v1/sandbox_service_pb.js";
import type { CallContext, ServiceImpl } from "../rpc/grpc-adapter.js";
import { signalNames } from "../runtime/process.js";
import type { LanguageRegistry } from "../sandbox/languages.js";
import type { Run } from "../sandbox/run.js";
import type { RunManager, RunPlan, RunStep } from "../sandbox/run-manager.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { resolvePolicy, type CodePolicies } from "./code-policy.js";
import { keepaliveEvent, policyFromProto, runEventToProto, sandboxRequestFromProto, sandboxToProto, severityValue } from "./convert.js";
import { withKeepalive } from "./streams.js";

type Methods = typeof SandboxService extends GenService<infer M extends GenServiceMethods> ? M : never;

/** Extension points later components plug into (policy checks, artifact capture, files). */
export interface RunHooks {
  /** Rejects with PERMISSION_DENIED when the sandbox's policy refuses the code. */
  checkCode?: (sandbox: Sandbox, code: string) => Promise<void>;
  /** Throws when a library may not be installed under the sandbox's policy. */
  checkLibraries?: (sandbox: Sandbox, libraries: readonly string[]) => void;
  /** Adjusts a run plan (plot capture env, `beforeExit` collection) before it starts. */
  prepareRun?: (sandbox: Sandbox, plan: RunPlan, options: { clearArtifacts: boolean }) => Promise<void>;
}

export interface SandboxServiceDeps {
  config: Config;
  sandboxes: SandboxManager;
  runs: RunManager;
  languages: LanguageRegistry;
  hooks: RunHooks;
  policies: CodePolicies;
  extra?: Partial<ServiceImpl<Methods>>;
}

const envKey = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!envKey.test(k)) throw invalidArgument(`invalid environment variable name ${JSON.stringify(k.slice(0, 100))}`);
    if (v.includes("\0")) throw invalidArgument(`environment variable ${k} contains a NUL byte`);
  }
}

function checkTimeout(ms: number, max: number): void {
  if (ms > max) throw invalidArgument(`timeout_ms ${ms} is above the daemon's maximum ${max}`, { reason: "INVALID_LIMIT" });
}

/** Streams a run's events to a caller; cancelling the call cancels the run unless detached. */
async function* streamRun(
  run: Run,
  fromOffset: number,
  ctx: CallContext,
  keepaliveMs: number,
  cancelOnAbort: boolean,
): AsyncGenerator<MessageInitShape<typeof RunEventSchema>> {
  const onAbort = () => {
    if (cancelOnAbort && !run.done) {
      ctx.log.info({ runId: run.id }, "client went away; cancelling run");
      run.cancel("cancelled");
    }
  };
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const ev of withKeepalive(run.follow(fromOffset, ctx.signal), keepaliveMs, () => null, ctx.signal)) {
      yield ev === null ? keepaliveEvent() : runEventToProto(ev);
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

export function createSandboxService(deps: SandboxServiceDeps): ServiceImpl<Methods> {
  const { config, sandboxes, runs, languages, hooks } = deps;
  const backend = config.backend;

  const runStreaming = async function* (sandbox: Sandbox, plan: RunPlan, ctx: CallContext, detach: boolean, clearArtifacts: boolean) {
    await hooks.prepareRun?.(sandbox, plan, { clearArtifacts });
    const run = runs.start(sandbox, plan);
    ctx.log.debug({ runId: run.id, sandboxId: sandbox.id }, "run started");
    yield* streamRun(run, 0, ctx, config.keepaliveMs, !detach);
    // A run whose process was lost (engine or agent gone) ends the call UNAVAILABLE, after
    // its exit event, so clients both see the event and get a retryable status.
    if (run.exit?.status === "lost") throw unavailable(`the run was lost: ${run.exit.message}`, { reason: "RUN_LOST" });
  };

  const buildRunPlan = (sandbox: Sandbox, req: RunRequest): RunPlan => {
    const h = sandbox.handler;
    const runId = Math.random().toString(36).slice(2, 10);
    const layout = { workdir: sandbox.config.workdir, runDir: `/tmp/.sandboxd/runs/${runId}`, runId };
    const steps: RunStep[] = [];
    const missing = req.libraries.filter((l) => !sandbox.installed.has(l));
    if (missing.length > 0 && h.install) {
      steps.push({
        phase: "install",
        command: h.install(missing, layout),
        cwd: layout.workdir,
        onSuccess: () => missing.forEach((l) => sandbox.installed.add(l)),
      });
    }
    const source = h.sourcePath(req.code, layout);
    const file = { path: source, data: Buffer.from(req.code, "utf8"), mode: 0o644 };
    if (h.compile) steps.push({ phase: "compile", command: h.compile(source, layout), cwd: layout.workdir, files: [file] });
    const runStep: RunStep = { phase: "run", command: h.run(source, layout, req.args), cwd: layout.workdir };
    if (!h.compile) runStep.files = [file];
    if (req.stdin.byteLength > 0) runStep.stdin = req.stdin;
    if (req.keepStdinOpen) runStep.keepStdinOpen = true;
    steps.push(runStep);
    return { steps, timeoutMs: req.timeoutMs || sandbox.config.executionTimeoutMs, env: { ...(h.env ?? {}), ...sandbox.config.env, ...req.env } };
  };

  const validateRun = (req: RunRequest) => {
    if (req.code.trim() === "") throw invalidArgument("code is empty", { reason: "EMPTY_CODE" });
    if (Buffer.byteLength(req.code) > config.limits.maxCodeBytes) {
      throw invalidArgument(`code is ${Buffer.byteLength(req.code)} bytes; the limit is ${config.limits.maxCodeBytes}`, { reason: "CODE_TOO_LARGE" });
    }
    checkEnv(req.env);
    checkTimeout(req.timeoutMs, config.limits.maxTimeoutMs);
  };

  const execPlan = (sandbox: Sandbox, req: ExecRequest): RunPlan => {
    const hasArgv = req.argv.length > 0;
    const hasShell = req.shell.trim() !== "";
    if (hasArgv === hasShell) throw invalidArgument("exactly one of argv and shell is required");
    if (hasArgv && req.argv[0] === "") throw invalidArgument("argv[0] is empty");
    if (req.argv.some((a) => a.includes("\0")) || req.shell.includes("\0")) throw invalidArgument("command contains a NUL byte");
    checkEnv(req.env);
    checkTimeout(req.timeoutMs, config.limits.maxTimeoutMs);
    const workdir = req.workdir || sandbox.config.workdir;
    if (!workdir.startsWith("/") || workdir.split("/").includes("..") || workdir.includes("\0"))
      throw invalidArgument(`workdir must be an absolute path without '..', got ${JSON.stringify(workdir.slice(0, 200))}`, { reason: "INVALID_PATH" });
    const step: RunStep = { phase: "run", command: { argv: hasArgv ? req.argv : ["/bin/sh", "-c", req.shell] }, cwd: workdir };
    if (req.stdin.byteLength > 0) step.stdin = req.stdin;
    if (req.keepStdinOpen) step.keepStdinOpen = true;
    return { steps: [step], timeoutMs: req.timeoutMs || sandbox.config.executionTimeoutMs, env: { ...sandbox.config.env, ...req.env } };
  };

  const impl: ServiceImpl<Methods> = {
    async createSandbox(req, ctx) {
      const sandbox = await sandboxes.create(ctx.tenant, sandboxRequestFromProto(req.spec), { signal: ctx.signal });
      return { sandbox: sandboxToProto(sandbox, backend) };
    },

    async getSandbox(req, ctx) {
      return { sandbox: sandboxToProto(sandboxes.peek(ctx.tenant, req.sandboxId), backend) };
    },

    async listSandboxes(req, ctx) {
      return { sandboxes: sandboxes.list(ctx.tenant, req.labels).map((s) => sandboxToProto(s, backend)) };
    },

    async destroySandbox(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      const res = await sandboxes.destroy(ctx.tenant, req.sandboxId);
      return { destroyed: res.destroyed, committedImage: res.committedImage ?? "" };
    },

    async *run(req, ctx) {
      validateRun(req);
      let sandbox: Sandbox;
      let ephemeral = false;
      if (req.sandboxId) {
        sandbox = sandboxes.get(ctx.tenant, req.sandboxId);
        if (req.language && languages.get(req.language).name !== sandbox.handler.name) {
          throw invalidArgument(`sandbox ${sandbox.id} runs ${sandbox.handler.name}, not ${req.language}`, { reason: "LANGUAGE_MISMATCH" });
        }
      } else {
        if (!req.language) throw invalidArgument("either sandbox_id or language is required", { reason: "LANGUAGE_NOT_SUPPORTED" });
        const request = sandboxRequestFromProto(req.ephemeral, req.language);
        languages.validateLibraries(languages.get(request.language), req.libraries);
        sandbox = await sandboxes.create(ctx.tenant, request, { signal: ctx.signal });
        ephemeral = true;
      }
      try {
        languages.validateLibraries(sandbox.handler, req.libraries);
        await hooks.checkCode?.(sandbox, req.code);
        hooks.checkLibraries?.(sandbox, req.libraries);
        yield* wrapEvents(runStreaming(sandbox, buildRunPlan(sandbox, req), ctx, req.detachOnCancel && !ephemeral, req.clearArtifacts));
      } finally {
        if (ephemeral) {
          // The caller has its exit event: the container goes away in the background.
          void sandboxes.destroy(ctx.tenant, sandbox.id).catch((err: unknown) => ctx.log.warn({ err }, "removing an ephemeral sandbox failed"));
        }
      }
    },

    async *exec(req, ctx) {
      const sandbox = sandboxes.get(ctx.tenant, req.sandboxId);
      yield* wrapEvents(runStreaming(sandbox, execPlan(sandbox, req), ctx, req.detachOnCancel, false));
    },

    async *install(req, ctx) {
      const sandbox = sandboxes.get(ctx.tenant, req.sandboxId);
      if (req.libraries.length === 0) throw invalidArgument("libraries is empty");
      languages.validateLibraries(sandbox.handler, req.libraries);
      hooks.checkLibraries?.(sandbox, req.libraries);
      checkTimeout(req.timeoutMs, config.limits.maxTimeoutMs);
      const h = sandbox.handler;
      const layout = { workdir: sandbox.config.workdir };
      const install = h.install?.(req.libraries, layout);
      if (!install) throw invalidArgument(`installing libraries is not supported for ${h.name}`);
      const plan: RunPlan = {
        steps: [{ phase: "install", command: install, cwd: sandbox.config.workdir, onSuccess: () => req.libraries.forEach((l) => sandbox.installed.add(l)) }],
        timeoutMs: req.timeoutMs || Math.max(sandbox.config.executionTimeoutMs, 300_000),
        env: { ...(h.env ?? {}), ...sandbox.config.env },
      };
      yield* wrapEvents(runStreaming(sandbox, plan, ctx, false, false));
    },

    async *attach(req, ctx) {
      let run;
      try {
        run = runs.get(ctx.tenant, req.runId);
      } catch (err) {
        // Not known to this daemon: perhaps it was live when a previous one died.
        const sandbox = await sandboxes.sandboxThatLost(ctx.tenant, req.runId);
        if (!sandbox) throw err;
        run = runs.recordLost(sandbox, req.runId);
      }
      for await (const ev of streamRun(run, Number(req.offset), ctx, config.keepaliveMs, false)) yield { event: ev };
    },

    async signal(req, ctx) {
      const run = runs.get(ctx.tenant, req.runId);
      const name = req.signal.toUpperCase().startsWith("SIG") ? req.signal.toUpperCase() : `SIG${req.signal.toUpperCase()}`;
      if (!(name in signalNames)) throw invalidArgument(`unknown signal ${JSON.stringify(req.signal)}; known: ${Object.keys(signalNames).join(", ")}`);
      if (run.done || !run.process) throw failedPrecondition(`run ${run.id} is not running`);
      run.process.signal(name);
      return {};
    },

    async checkCode(req, ctx) {
      let language = req.language;
      let policy;
      switch (req.policy.case) {
        case "preset":
          policy = resolvePolicy(req.policy.value, undefined);
          break;
        case "inline":
          policy = resolvePolicy(undefined, policyFromProto(req.policy.value));
          break;
        case "sandboxId": {
          const sandbox = sandboxes.get(ctx.tenant, req.policy.value);
          language ||= sandbox.handler.name;
          policy = deps.policies.policyOf(sandbox);
          if (!policy) throw failedPrecondition(`sandbox ${sandbox.id} has no security policy`, { reason: "NO_POLICY" });
          break;
        }
        default:
          throw invalidArgument("one of preset, inline or sandbox_id is required");
      }
      if (!policy) throw invalidArgument("a security policy is required");
      if (Buffer.byteLength(req.code) > config.limits.maxCodeBytes)
        throw invalidArgument(`code is larger than ${config.limits.maxCodeBytes} bytes`, { reason: "CODE_TOO_LARGE" });
      const handlerName = languages.get(language).name;
      const result = await deps.policies.check(handlerName, req.code, policy, ctx.tenant);
      return {
        safe: result.safe,
        violations: result.violations.map((v) => ({
          rule: v.rule,
          description: v.description,
          severity: severityValue(v.severity),
          line: v.line,
          column: v.column,
          snippet: v.snippet,
        })),
      };
    },

    async writeInput(req, ctx) {
      const run = runs.get(ctx.tenant, req.runId);
      if (run.done || !run.process) throw failedPrecondition(`run ${run.id} is not running`);
      if (req.data.byteLength > 0) run.process.writeStdin(req.data);
      if (req.close) run.process.closeStdin();
      return {};
    },
    ...deps.extra,
  };
  return impl;
}

async function* wrapEvents(events: AsyncIterable<MessageInitShape<typeof RunEventSchema>>) {
  for await (const event of events) yield { event };
}
