import type { Config } from "./config/config.js";
import type { Logger } from "./common/logger.js";
import { ArtifactManager } from "./artifacts/artifact-manager.js";
import { SessionManager, SessionRegistry, defaultInteractive } from "./interactive/session-manager.js";
import type { ContainerRuntime } from "./runtime/container-runtime.js";
import { SandboxdMetrics } from "./metrics/sandboxd-metrics.js";
import { CodePolicies } from "./sandbox/code-policy.js";
import { LanguageRegistry } from "./sandbox/languages.js";
import { RunManager } from "./sandbox/run-manager.js";
import { RunPipeline } from "./sandbox/run-pipeline.js";
import { SandboxManager } from "./sandbox/sandbox-manager.js";
import { TerminalRegistry } from "./sandbox/terminals.js";
import { createArtifactsService } from "./services/artifacts-service.js";
import { createFilesService } from "./services/files-service.js";
import { createInteractiveService } from "./services/interactive-service.js";
import { createPoolService } from "./services/pool-service.js";
import { createVolumeService } from "./services/volume-service.js";
import { VolumeManager } from "./sandbox/volume-manager.js";
import { createSandboxService, type SandboxMethods } from "./services/sandbox-service.js";
import { createTerminalService } from "./services/terminal-service.js";
import type { ServiceImpl } from "./rpc/grpc-adapter.js";

export interface ComposeDeps {
  config: Config;
  runtime: ContainerRuntime;
  logger: Logger;
}

/**
 * Builds every collaborator of the daemon from config, runtime and logger, each handed
 * what it uses through its constructor, so the import graph shows every route a request
 * takes. Nothing is wired later (no hooks, no callback arrays).
 */
export function compose({ config, runtime, logger }: ComposeDeps) {
  // The registry behind /metrics: every component records on it; Daemon adds its gauges.
  const metrics = new SandboxdMetrics();
  const languages = new LanguageRegistry();
  const policies = new CodePolicies(config.policyCheckTimeoutMs, logger, metrics, config.policyCheckWorkers);
  const artifacts = new ArtifactManager(logger);
  const sessionRegistry = new SessionRegistry();
  const terminals = new TerminalRegistry(logger.child({ component: "terminals" }));
  const sandboxes = new SandboxManager({ config, runtime, languages, validator: policies, cleanups: [sessionRegistry, terminals], metrics, logger });
  const volumes = new VolumeManager({ config, runtime, languages, sandboxes, logger });
  const runs = new RunManager(config, logger, metrics);
  const sessions = new SessionManager({
    registry: sessionRegistry,
    sandboxes,
    images: artifacts,
    defaults: { ...defaultInteractive, maxOutputBytes: config.maxOutputBytes, replayBytes: config.replayBytes, budget: runs.budget },
    limits: config.limits,
    logger,
  });
  const pipeline = new RunPipeline({
    limits: config.limits,
    sandboxes,
    runs,
    languages,
    policies,
    capture: artifacts,
    logger,
    ...(config.python.forkServer
      ? {
          pythonForkServer: {
            preload: config.python.preload
              .split(",")
              .map((m) => m.trim())
              .filter((m) => m !== ""),
          },
        }
      : {}),
  });
  // SandboxService is implemented in three files (runs, files, artifacts): one object here.
  const sandboxService: ServiceImpl<SandboxMethods> = {
    ...createSandboxService({ config, sandboxes, runs, pipeline, metrics, volumes }),
    ...createFilesService({ sandboxes, metrics }),
    ...createArtifactsService({ sandboxes, artifacts }),
  };
  const interactiveService = createInteractiveService({ config, sessions, pipeline });
  const poolService = createPoolService({ sandboxes });
  const volumeService = createVolumeService({ volumes });
  const terminalService = createTerminalService({ sandboxes, terminals });
  return {
    metrics,
    languages,
    policies,
    artifacts,
    sandboxes,
    runs,
    sessions,
    pipeline,
    sandboxService,
    interactiveService,
    poolService,
    volumes,
    volumeService,
    terminals,
    terminalService,
  };
}

export type DaemonComponents = ReturnType<typeof compose>;
