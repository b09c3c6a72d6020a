import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { Config } from "../config/config.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";
import { isFieldSet } from "@bufbuild/protobuf";
import { failedPrecondition, invalidArgument, notFound, unavailable } from "../common/errors.js";
import { posix } from "node:path";
import { FileEventType } from "../gen/sandboxd/v1/sandbox_service_pb.js";
import type { FileChange } from "../runtime/sandbox-channel.js";
import { SandboxSpecSchema, type SandboxSpec } from "../gen/sandboxd/v1/common_pb.js";
import type { AcquireOverrides } from "../sandbox/client-pools.js";
import type { RunEventSchema } from "../gen/sandboxd/v1/common_pb.js";
import type { SandboxService } from "../gen/sandboxd/v1/sandbox_service_pb.js";
import type { CallContext, ServiceImpl } from "../rpc/grpc-adapter.js";
import { signalNames } from "../runtime/process.js";
import type { Run } from "../sandbox/run.js";
import type { RunManager } from "../sandbox/run-manager.js";
import type { PolicySource, RunPipeline, StartedRun } from "../sandbox/run-pipeline.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { keepaliveEvent, policyFromProto, runEventToProto, sandboxRequestFromProto, sandboxToProto, severityValue, usageToProto } from "./convert.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import { withKeepalive } from "./streams.js";
import type { VolumeManager } from "../sandbox/volume-manager.js";
import { AsyncQueue } from "../common/async-queue.js";

export type SandboxMethods = typeof SandboxService extends GenService<infer M extends GenServiceMethods> ? M : never;
type Methods = SandboxMethods;

/** The SandboxService methods this file implements (files and artifacts have their own files). */
export type SandboxCoreMethods = Omit<ServiceImpl<Methods>, "uploadFiles" | "downloadFiles" | "listArtifacts" | "downloadArtifact" | "clearArtifacts">;

export interface SandboxServiceDeps {
  config: Config;
  sandboxes: SandboxManager;
  runs: RunManager;
  pipeline: RunPipeline;
  metrics: SandboxdMetrics;
  volumes: VolumeManager;
}

/** Build output one BuildImage call holds for a slow client before it drops some. */
const maxPendingBuildOutput = 4 * 1024 * 1024;

/** WatchSandbox's interval: 0 means this, less than the minimum is INVALID_ARGUMENT. */
const defaultWatchIntervalMs = 1000;
const minWatchIntervalMs = 100;

/** File events one WatchFiles call holds for a slow client; past it they are dropped (an OVERFLOW says so). */
const maxPendingFileEvents = 10_000;
const fileEventTypes: Record<FileChange["type"], FileEventType> = {
  create: FileEventType.CREATE,
  write: FileEventType.WRITE,
  remove: FileEventType.REMOVE,
  rename: FileEventType.RENAME,
  overflow: FileEventType.OVERFLOW,
};

/** Fields of CreateSandbox's spec that apply to a sandbox acquired from a pool. */
const acquireFields = new Set(["labels", "ttlMs", "idleTimeoutMs"]);

/** With pool_id, the spec may set only labels, ttl_ms and idle_timeout_ms (INVALID_ARGUMENT else). */
function acquireOverrides(spec: SandboxSpec | undefined): AcquireOverrides {
  if (!spec) return { labels: {}, ttlMs: 0, idleTimeoutMs: 0 };
  const others = SandboxSpecSchema.fields.filter((f) => !acquireFields.has(f.localName) && isFieldSet(spec, f)).map((f) => `spec.${f.name}`);
  if (others.length > 0) {
    throw invalidArgument(
      `${others.join(", ")} cannot be set with pool_id: the pool's spec applies; only spec.labels, spec.ttl_ms and spec.idle_timeout_ms may be set for the acquired sandbox`,
    );
  }
  return { labels: { ...spec.labels }, ttlMs: spec.ttlMs, idleTimeoutMs: spec.idleTimeoutMs };
}

/** Streams a run's events to a caller; cancelling the call cancels the run unless detached. */
async function* streamRun(
  run: Run,
  fromOffset: number,
  ctx: CallContext,
  keepaliveMs: number,
  cancelOnAbort: boolean,
  metrics: SandboxdMetrics,
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
      if (ev !== null && ev.body.type === "output") metrics.outputBytes.inc({ stream: ev.body.stream }, ev.body.data.byteLength);
      yield ev === null ? keepaliveEvent() : runEventToProto(ev);
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Sandboxes and runs: each method decodes its request, calls one domain method, and
 * encodes the answer; validation, policy and planning belong to the run pipeline.
 */
export function createSandboxService(deps: SandboxServiceDeps): SandboxCoreMethods {
  const { config, sandboxes, runs, pipeline, metrics, volumes } = deps;
  const backend = config.backend;

  /** Streams a started run; a lost run ends the call UNAVAILABLE after its exit event. */
  const stream = async function* (started: StartedRun, ctx: CallContext) {
    for await (const event of streamRun(started.run, 0, ctx, config.keepaliveMs, started.cancelOnAbort, metrics)) yield { event };
    // A run whose process was lost (engine or agent gone) ends the call UNAVAILABLE, after
    // its exit event, so clients both see the event and get a retryable status.
    const exit = started.run.exit;
    if (exit?.status === "lost") throw unavailable(`the run was lost: ${exit.message}`, { reason: "RUN_LOST" });
  };

  const withUsage = async (s: Sandbox) => sandboxToProto(s, backend, await s.usage());

  return {
    async createSandbox(req, ctx) {
      if (req.poolId !== "") {
        const sandbox = await sandboxes.acquire(ctx.tenant, req.poolId, acquireOverrides(req.spec), { signal: ctx.signal });
        return { sandbox: sandboxToProto(sandbox, backend) };
      }
      const { request, release } = await volumes.resolveMounts(ctx.tenant, sandboxRequestFromProto(req.spec));
      try {
        const sandbox = await sandboxes.create(ctx.tenant, request, { signal: ctx.signal });
        return { sandbox: sandboxToProto(sandbox, backend) };
      } finally {
        release();
      }
    },

    async getSandbox(req, ctx) {
      return { sandbox: await withUsage(sandboxes.peek(ctx.tenant, req.sandboxId)) };
    },

    async listSandboxes(req, ctx) {
      return { sandboxes: await Promise.all(sandboxes.list(ctx.tenant, req.labels).map(withUsage)) };
    },

    async *watchFiles(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      if (req.path.includes("\0")) throw invalidArgument("path must not contain NUL");
      const sandbox = sandboxes.get(ctx.tenant, req.sandboxId);
      const path = posix.resolve(sandbox.config.workdir, req.path);
      const channel = await sandbox.runner();
      if (!channel.watchFiles) {
        throw failedPrecondition("the image has no python3: no agent runs in this sandbox to watch its files", { reason: "FILE_WATCH_NOT_SUPPORTED" });
      }
      const watch = await channel.watchFiles(path, req.recursive);
      if (!watch) throw notFound(`${path} does not exist in the sandbox`, { reason: "FILE_WATCH_PATH_NOT_FOUND" });
      // Changes are taken off the agent's frames as they come, and held here for a slow
      // client up to a bound; past it they are dropped and one OVERFLOW says how many.
      const pending = new AsyncQueue<FileChange>();
      let held = 0;
      let dropped = 0;
      const pump = (async () => {
        for await (const change of watch.changes) {
          if (held >= maxPendingFileEvents) {
            dropped++;
            continue;
          }
          if (dropped > 0) {
            pending.push({ type: "overflow", path, isDir: true, message: `${dropped} events were dropped: the client read too slowly` });
            held++;
            dropped = 0;
          }
          held++;
          pending.push(change);
        }
        pending.end();
      })();
      const onAbort = () => watch.stop();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      try {
        yield { message: { case: "ready", value: true } };
        for await (const c of pending) {
          held--;
          yield {
            message: {
              case: "event",
              value: { type: fileEventTypes[c.type], path: c.path, oldPath: c.oldPath ?? "", isDir: c.isDir, message: c.message ?? "" },
            },
          };
        }
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        watch.stop();
        await pump;
      }
    },

    async *watchSandbox(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      const intervalMs = req.intervalMs === 0 ? defaultWatchIntervalMs : req.intervalMs;
      if (intervalMs < minWatchIntervalMs) throw invalidArgument(`interval_ms must be at least ${minWatchIntervalMs} (or 0 for ${defaultWatchIntervalMs})`);
      const sandbox = sandboxes.peek(ctx.tenant, req.sandboxId);
      // Samples until the sandbox goes away (destroyed, reaped) or the caller does.
      const present = () => {
        if (sandbox.gone) return false;
        try {
          return sandboxes.peek(ctx.tenant, req.sandboxId) === sandbox;
        } catch {
          return false;
        }
      };
      while (!ctx.signal.aborted && present()) {
        const usage = await sandbox.usage();
        if (!present()) return;
        yield { usage: usageToProto(usage) };
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, intervalMs);
          ctx.signal.addEventListener("abort", done, { once: true });
        });
      }
    },

    async destroySandbox(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      const res = await sandboxes.destroy(ctx.tenant, req.sandboxId);
      return { destroyed: res.destroyed, committedImage: res.committedImage ?? "" };
    },

    async *run(req, ctx) {
      const started = await pipeline.run(
        ctx.tenant,
        {
          sandboxId: req.sandboxId,
          language: req.language,
          code: req.code,
          args: req.args,
          libraries: req.libraries,
          env: req.env,
          stdin: req.stdin,
          keepStdinOpen: req.keepStdinOpen,
          timeoutMs: req.timeoutMs,
          detachOnCancel: req.detachOnCancel,
          clearArtifacts: req.clearArtifacts,
          ephemeral: sandboxRequestFromProto(req.ephemeral, req.language),
        },
        ctx.signal,
      );
      yield* stream(started, ctx);
    },

    async *exec(req, ctx) {
      const started = await pipeline.exec(ctx.tenant, {
        sandboxId: req.sandboxId,
        argv: req.argv,
        shell: req.shell,
        workdir: req.workdir,
        env: req.env,
        stdin: req.stdin,
        keepStdinOpen: req.keepStdinOpen,
        timeoutMs: req.timeoutMs,
        detachOnCancel: req.detachOnCancel,
      });
      yield* stream(started, ctx);
    },

    async *install(req, ctx) {
      yield* stream(await pipeline.install(ctx.tenant, { sandboxId: req.sandboxId, libraries: req.libraries, timeoutMs: req.timeoutMs }), ctx);
    },

    async *attach(req, ctx) {
      const run = await pipeline.findRun(ctx.tenant, req.runId);
      for await (const ev of streamRun(run, Number(req.offset), ctx, config.keepaliveMs, false, metrics)) yield { event: ev };
    },

    async signal(req, ctx) {
      const run = runs.get(ctx.tenant, req.runId);
      const name = req.signal.toUpperCase().startsWith("SIG") ? req.signal.toUpperCase() : `SIG${req.signal.toUpperCase()}`;
      if (!(name in signalNames)) throw invalidArgument(`unknown signal ${JSON.stringify(req.signal)}; known: ${Object.keys(signalNames).join(", ")}`);
      if (run.done || !run.process) throw failedPrecondition(`run ${run.id} is not running`);
      run.process.signal(name);
      return {};
    },

    async *buildImage(req, ctx) {
      const dockerfile = req.dockerfile;
      if (!dockerfile || dockerfile.content.trim() === "") throw invalidArgument("dockerfile.content is required", { reason: "DOCKERFILE_MISSING" });
      const started = Date.now();
      const output = new AsyncQueue<string>();
      // A client reading slower than the builder writes loses the middle of the output
      // (said in the stream), never the daemon's memory.
      let pending = 0;
      let dropped = 0;
      const onOutput = (text: string) => {
        if (pending + text.length > maxPendingBuildOutput) {
          dropped += text.length;
          return;
        }
        if (dropped > 0) {
          output.push(`[${dropped} bytes of build output dropped: the client read too slowly]\n`);
          dropped = 0;
        }
        pending += text.length;
        output.push(text);
      };
      const build = sandboxes.images.build(
        {
          content: dockerfile.content,
          contextFiles: Object.fromEntries(Object.entries(dockerfile.contextFiles).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
        },
        { onOutput, signal: ctx.signal },
      );
      build.then(
        () => output.end(),
        (err: unknown) => output.fail(err),
      );
      for await (const text of output) {
        pending -= text.length;
        yield { event: { case: "output" as const, value: text } };
      }
      const result = await build;
      yield { event: { case: "result" as const, value: { image: result.image, cached: result.cached, durationMs: BigInt(Date.now() - started) } } };
    },

    async pauseSandbox(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      const { sandbox, changed } = await sandboxes.pause(ctx.tenant, req.sandboxId);
      return { sandbox: sandboxToProto(sandbox, backend), changed };
    },

    async resumeSandbox(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      const { sandbox, changed } = await sandboxes.resume(ctx.tenant, req.sandboxId);
      return { sandbox: sandboxToProto(sandbox, backend), changed };
    },

    async checkCode(req, ctx) {
      let source: PolicySource;
      switch (req.policy.case) {
        case "preset":
          source = { kind: "preset", name: req.policy.value };
          break;
        case "inline":
          source = { kind: "inline", spec: policyFromProto(req.policy.value) };
          break;
        case "sandboxId":
          source = { kind: "sandbox", sandboxId: req.policy.value };
          break;
        default:
          throw invalidArgument("one of preset, inline or sandbox_id is required");
      }
      const result = await pipeline.checkCode(ctx.tenant, req.language, req.code, source);
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
      // Not awaited: a WriteInput answers at once, as before (its bytes wait in the agent).
      if (req.data.byteLength > 0) void run.process.writeStdin(req.data);
      if (req.close) run.process.closeStdin();
      return {};
    },
  };
}
