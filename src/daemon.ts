import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ConfigError } from "./config/config.js";
import { TokenTable, isLocalAddress } from "./rpc/auth.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
import { registerDaemonGauges } from "./metrics/daemon-gauges.js";
import type { Config } from "./config/config.js";
import { describeError } from "./common/errors.js";
import type { Logger } from "./common/logger.js";
import { InteractiveService } from "./gen/sandboxd/v1/interactive_service_pb.js";
import { PoolService } from "./gen/sandboxd/v1/pool_service_pb.js";
import { TerminalService } from "./gen/sandboxd/v1/terminal_service_pb.js";
import { SandboxService } from "./gen/sandboxd/v1/sandbox_service_pb.js";
import { VolumeService } from "./gen/sandboxd/v1/volume_service_pb.js";
import { CallTracker, bindService } from "./rpc/grpc-adapter.js";
import { RpcServer } from "./rpc/server.js";
import type { ContainerRuntime } from "./runtime/container-runtime.js";
import type { RunManager } from "./sandbox/run-manager.js";
import type { SandboxManager } from "./sandbox/sandbox-manager.js";
import type { SessionManager } from "./interactive/session-manager.js";
import type { CodePolicies } from "./sandbox/code-policy.js";
import type { DaemonComponents } from "./compose.js";
import type { McpHttpEndpoint } from "./mcp/http.js";

export type DaemonState = "STARTING" | "RUNNING" | "DRAINING" | "STOPPED" | "FAILED";

export interface DaemonDeps {
  config: Config;
  logger: Logger;
  runtime: ContainerRuntime;
  /** Everything the daemon serves, built by compose(). */
  components: DaemonComponents;
}

/**
 * The daemon's life: start (adopt sandboxes, bind, serve), then drain on shutdown: no new
 * calls, running calls get a grace time, then the sandboxes it owns are removed.
 */
export class Daemon {
  state: DaemonState = "STARTING";
  address = "";
  readonly sandboxes: SandboxManager;
  readonly runs: RunManager;
  readonly sessions: SessionManager;
  private readonly server: RpcServer;
  private readonly shutdownController = new AbortController();
  private readonly tracker = new CallTracker();
  private readonly log: Logger;
  private readonly policies: CodePolicies;
  private readonly serviceNames = [
    SandboxService.typeName,
    InteractiveService.typeName,
    PoolService.typeName,
    VolumeService.typeName,
    TerminalService.typeName,
  ];
  private engineWatch: NodeJS.Timeout | undefined;
  private readonly tokens: TokenTable;
  /** The MCP endpoint (--mcp-listen), when serving. */
  mcp: McpHttpEndpoint | undefined;
  private engineUp = true;

  constructor(private readonly deps: DaemonDeps) {
    const { config, logger, components } = deps;
    this.log = logger.child({ component: "daemon" });
    this.sandboxes = components.sandboxes;
    this.runs = components.runs;
    this.sessions = components.sessions;
    this.policies = components.policies;
    registerDaemonGauges(components.metrics.registry, {
      sandboxes: this.sandboxes,
      runs: this.runs,
      tracker: this.tracker,
      engineUp: () => this.engineUp,
    });
    const tokens = TokenTable.load(config.auth.tokensFile, config.auth.tokens);
    this.tokens = tokens;
    if (config.mcpListen && !isLocalAddress(config.mcpListen) && tokens.size === 0 && !config.insecure) {
      throw new ConfigError(`refusing to serve MCP on ${config.mcpListen} without bearer tokens; configure auth.tokens-file, or pass --insecure`);
    }
    const tls = config.tls.certFile !== "";
    if (!isLocalAddress(config.listen) && (!tls || tokens.size === 0) && !config.insecure) {
      throw new ConfigError(
        `refusing to listen on ${config.listen} without TLS and bearer tokens; configure tls.cert-file, tls.key-file and auth.tokens-file, or pass --insecure`,
      );
    }
    if (config.metricsListen && !isLocalAddress(config.metricsListen) && !config.metricsInsecure) {
      throw new ConfigError(`refusing to serve metrics on ${config.metricsListen} off loopback (no authentication); pass --metrics-insecure to allow it`);
    }
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(
          config.tls.clientCaFile ? readFileSync(config.tls.clientCaFile) : null,
          [{ private_key: readFileSync(config.tls.keyFile), cert_chain: readFileSync(config.tls.certFile) }],
          config.tls.clientCaFile !== "",
        )
      : grpc.ServerCredentials.createInsecure();
    this.server = new RpcServer({
      files: [SandboxService.file, InteractiveService.file, PoolService.file, VolumeService.file, TerminalService.file],
      maxMessageBytes: config.limits.maxMessageBytes,
      credentials,
      logger,
    });
    const adapterOptions = {
      logger: logger.child({ component: "rpc" }),
      shutdownSignal: this.shutdownController.signal,
      authenticate: (metadata: grpc.Metadata) => tokens.authenticate(metadata),
      tracker: this.tracker,
      metrics: components.metrics,
    };
    this.log.info({ tenants: tokens.size, tls, mtls: config.tls.clientCaFile !== "" }, "authentication configured");
    const sandboxService = bindService(SandboxService, components.sandboxService, adapterOptions);
    this.server.addService(SandboxService.typeName, sandboxService.definition, sandboxService.implementation);
    const interactive = bindService(InteractiveService, components.interactiveService, adapterOptions);
    this.server.addService(InteractiveService.typeName, interactive.definition, interactive.implementation);
    const pools = bindService(PoolService, components.poolService, adapterOptions);
    this.server.addService(PoolService.typeName, pools.definition, pools.implementation);
    const volumes = bindService(VolumeService, components.volumeService, adapterOptions);
    this.server.addService(VolumeService.typeName, volumes.definition, volumes.implementation);
    const terminal = bindService(TerminalService, components.terminalService, adapterOptions);
    this.server.addService(TerminalService.typeName, terminal.definition, terminal.implementation);
  }

  async start(): Promise<string> {
    const { config, runtime } = this.deps;
    try {
      await runtime.ping();
    } catch (err) {
      // The daemon serves anyway: calls fail fast with UNAVAILABLE until the engine is back.
      this.engineUp = false;
      this.log.error({ err: describeError(err) }, "container engine unreachable at start");
    }
    try {
      if (this.engineUp) await this.sandboxes.start();
    } catch (err) {
      // E.g. another live daemon holds this daemon id: nothing may be served or touched.
      this.state = "FAILED";
      this.failure = describeError(err);
      throw err;
    }
    void this.sandboxes.leaseForfeited.then((err) => this.fail(err));
    if (config.listen.startsWith("unix:")) {
      const path = config.listen.slice("unix:".length).replace(/^\/\//, "");
      mkdirSync(dirname(path), { recursive: true });
      rmSync(path, { force: true });
    }
    this.address = await this.server.listen(config.listen);
    if (config.metricsListen) {
      this.metrics = await startMetricsServer(config.metricsListen, this.deps.components.metrics.registry, () => this.notReady());
      this.log.info({ address: config.metricsListen }, "metrics listening");
    }
    if (config.mcpListen) {
      // Loaded only when served: the MCP SDK (and its schema library) is a fifth of an idle daemon's heap.
      const [{ startMcpHttp }, { mcpServerFactory }] = await Promise.all([import("./mcp/http.js"), import("./mcp/index.js")]);
      this.mcp = await startMcpHttp({
        listen: config.mcpListen,
        maxSessions: config.mcpMaxSessions,
        sessionIdleMs: config.mcpSessionIdleMs,
        authenticate: (header) => this.tokens.authenticateHeader(header),
        build: mcpServerFactory(config, this.deps.components, this.deps.logger),
        logger: this.deps.logger,
      });
      this.log.info({ address: this.mcp.address }, "MCP listening (Streamable HTTP at /mcp)");
      process.stderr.write(`sandboxd MCP listening on http://${this.mcp.address}/mcp\n`);
    }
    this.state = "RUNNING";
    this.server.setServing(this.engineUp ? "SERVING" : "NOT_SERVING", this.serviceNames);
    this.watchEngine();
    this.log.info({ address: this.address, backend: config.backend, daemonId: config.daemonId }, "sandboxd listening");
    return this.address;
  }

  /** Why /readyz answers 503 (the gRPC health status's reason), or undefined while serving. */
  private notReady(): string | undefined {
    if (this.state !== "RUNNING") return `daemon ${this.state.toLowerCase()}`;
    if (!this.engineUp) return `container engine (${this.deps.runtime.name}) unreachable`;
    return undefined;
  }

  /** Health follows the engine: NOT_SERVING while it is unreachable, and adoption on return. */
  private watchEngine(): void {
    this.engineWatch = setInterval(() => {
      void this.deps.runtime.ping().then(
        async () => {
          if (this.engineUp) return;
          this.engineUp = true;
          this.log.info("container engine is back");
          await this.sandboxes.start().catch((err: unknown) => this.log.warn({ err: describeError(err) }, "adoption failed"));
          if (this.state === "RUNNING") this.server.setServing("SERVING", this.serviceNames);
        },
        () => {
          if (!this.engineUp) return;
          this.engineUp = false;
          this.log.error("container engine unreachable");
          this.server.setServing("NOT_SERVING", this.serviceNames);
        },
      );
    }, 2000);
    this.engineWatch.unref();
  }

  private metrics: import("node:http").Server | undefined;

  /** Why the daemon is FAILED. */
  failure: string | undefined;
  private failedResolve!: (reason: string) => void;
  /** Settles when the daemon failed while running (main exits non-zero). */
  readonly failed = new Promise<string>((resolve) => {
    this.failedResolve = resolve;
  });

  /**
   * RUNNING -> FAILED: another live daemon took this daemon id (its lease was lost and
   * could not be retaken), so the sandboxes are that daemon's now. Stop serving at once and
   * leave them alone: their channels close, nothing is removed.
   */
  private async fail(err: unknown): Promise<void> {
    if (this.state !== "RUNNING" && this.state !== "STARTING") return;
    this.state = "FAILED";
    this.failure = describeError(err);
    this.log.error({ err: this.failure }, "daemon failed");
    if (this.engineWatch) clearInterval(this.engineWatch);
    this.server.setServing("NOT_SERVING", this.serviceNames);
    this.shutdownController.abort();
    await this.mcp?.close();
    this.runs.clear();
    this.sessions.shutdown();
    await this.server.shutdown(0).catch(() => undefined);
    await this.sandboxes.shutdown(false).catch((e: unknown) => this.log.warn({ err: describeError(e) }, "closing sandbox channels failed"));
    this.metrics?.close();
    await this.policies.close();
    this.failedResolve(this.failure);
  }

  async shutdown(): Promise<void> {
    if (this.state === "DRAINING" || this.state === "STOPPED" || this.state === "FAILED") return;
    this.state = "DRAINING";
    const { config } = this.deps;
    this.log.info({ inFlight: this.tracker.inFlight, graceMs: config.shutdownGraceMs }, "draining");
    if (this.engineWatch) clearInterval(this.engineWatch);
    this.server.setServing("NOT_SERVING", this.serviceNames);
    const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
    const serverDown = this.server.shutdown(config.shutdownGraceMs);
    await Promise.race([this.tracker.idle(), grace]);
    // Whatever still runs is told the daemon is going away.
    this.shutdownController.abort();
    await this.mcp?.close();
    this.runs.clear();
    this.sessions.shutdown();
    await serverDown;
    await this.sandboxes.shutdown(true);
    this.metrics?.close();
    await this.policies.close();
    this.state = "STOPPED";
    this.log.info("stopped");
  }
}
