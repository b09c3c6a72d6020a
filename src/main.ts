#!/usr/bin/env node
// Composition root: config -> logger -> runtime -> daemon -> signal handlers. No logic here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { ConfigError, describeConfig, hostAllowPorts, loadConfig, type Config } from "./config/config.js";
import { describeError } from "./common/errors.js";
import { createLogger } from "./common/logger.js";
import { compose, type DaemonComponents } from "./compose.js";
import { llmSandboxEnv } from "./config/llm-sandbox-env.js";
import { Daemon } from "./daemon.js";
import type { ContainerRuntime } from "./runtime/container-runtime.js";
import { DockerRuntime } from "./runtime/docker/docker-runtime.js";
import { HostFirewall } from "./runtime/host-firewall.js";

function engineOptions(config: Config) {
  const endpoint = config.engineEndpoint;
  if (endpoint === "") return {};
  if (endpoint.startsWith("tcp://")) {
    const url = new URL(endpoint);
    const tls = config.engineTlsDir
      ? {
          ca: readFileSync(join(config.engineTlsDir, "ca.pem")),
          cert: readFileSync(join(config.engineTlsDir, "cert.pem")),
          key: readFileSync(join(config.engineTlsDir, "key.pem")),
        }
      : undefined;
    return { host: url.hostname, port: Number(url.port || 2375), ...(tls ? { tls } : {}) };
  }
  return { socketPath: endpoint.replace(/^unix:\/\//, "") };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // `sandboxd mcp`: the daemon in-process, serving MCP on stdio (stdout is the protocol's alone).
  const mcpStdio = argv[0] === "mcp";
  if (mcpStdio) argv.shift();
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      `sandboxd: runs untrusted code in containers, streamed over gRPC\n\nUsage: sandboxd [flags]        the daemon\n       sandboxd mcp [flags]    the daemon serving the Model Context Protocol on stdio (docs/mcp.md)\n\nSettings (flags, SANDBOXD_* env, or a JSON --config file):\n${describeConfig()}\n`,
    );
    return;
  }
  let config: Config;
  let envNotes: string[] = [];
  try {
    let env = process.env;
    if (mcpStdio) {
      ({ env, notes: envNotes } = llmSandboxEnv(process.env));
      // Its gRPC listener takes a free loopback port unless told otherwise, so it never
      // collides with a daemon already running on this machine.
      if (!argv.some((a) => a === "--listen" || a.startsWith("--listen="))) argv.unshift("--listen", "127.0.0.1:0");
    }
    config = loadConfig(argv, env);
    // Its own daemon id (and so its own sandboxes and lease) beside a daemon of this host.
    if (mcpStdio && !argv.some((a) => a === "--daemon-id" || a.startsWith("--daemon-id=")) && !env["SANDBOXD_DAEMON_ID"]) {
      config.daemonId = `mcp-${config.daemonId}`.slice(0, 41);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sandboxd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, ...(mcpStdio ? { destination: 2 } : {}) });
  for (const note of envNotes) logger.warn(note);
  const firewall = new HostFirewall({
    mode: config.network.hostFirewall as "iptables" | "off",
    daemonTag: createHash("sha256").update(config.daemonId).digest("hex").slice(0, 4),
    allowPorts: hostAllowPorts(config),
    logger,
  });
  let runtime: ContainerRuntime;
  if (config.backend === "kubernetes") {
    // Loaded only for this backend: @kubernetes/client-node is about half of an idle daemon's memory.
    const { KubernetesRuntime } = await import("./runtime/kubernetes/kubernetes-runtime.js");
    runtime = new KubernetesRuntime({
      namespace: config.kubernetes.namespace,
      ...(config.kubernetes.kubeconfig ? { kubeconfig: config.kubernetes.kubeconfig } : {}),
      ...(config.kubernetes.context ? { context: config.kubernetes.context } : {}),
      imagePullPolicy: config.kubernetes.imagePullPolicy as "IfNotPresent" | "Never" | "Always",
      ...(config.kubernetes.runtimeClass ? { runtimeClassName: config.kubernetes.runtimeClass } : {}),
      callTimeoutMs: config.engineCallTimeoutMs,
      startTimeoutMs: config.kubernetes.startTimeoutMs,
      unschedulableTimeoutMs: config.kubernetes.unschedulableTimeoutMs,
      ...(config.kubernetes.storageClass ? { storageClassName: config.kubernetes.storageClass } : {}),
      logger: logger.child({ component: "runtime" }),
    });
  } else {
    try {
      runtime = new DockerRuntime({
        name: config.backend,
        firewall,
        ...(config.sandboxRuntime ? { ociRuntime: config.sandboxRuntime } : {}),
        init: config.sandboxInit,
        // Used by the runtime only when the backend is Podman.
        podman: { ulimits: config.podmanUlimits, seccompBase: config.podmanSeccompBase, stateDir: config.stateDir },
        callTimeoutMs: config.engineCallTimeoutMs,
        logger: logger.child({ component: "runtime" }),
        ...engineOptions(config),
      });
    } catch (err) {
      // Podman's seccomp profile could not be derived from its base.
      process.stderr.write(`sandboxd: ${describeError(err)}\n`);
      process.exit(2);
    }
  }
  let daemon: Daemon;
  let components: DaemonComponents;
  try {
    components = compose({ config, runtime, logger });
    daemon = new Daemon({ config, logger, runtime, components });
  } catch (err) {
    if (err instanceof ConfigError || (err as NodeJS.ErrnoException).code === "ENOENT") {
      process.stderr.write(`sandboxd: ${describeError(err)}\n`);
      process.exit(2);
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutdown requested");
    daemon
      .shutdown()
      .then(() => firewall.close())
      .then(
        () => {
          logger.flush();
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err: describeError(err) }, "shutdown failed");
          logger.flush();
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("unhandledRejection", (err) => logger.error({ err: describeError(err) }, "unhandled rejection"));
  void daemon.failed.then((reason) => {
    process.stderr.write(`sandboxd: failed: ${reason}\n`);
    logger.flush();
    process.exit(1);
  });
  const address = await daemon.start();
  // One machine-readable line on stdout-adjacent stderr so scripts and tests can find the port.
  process.stderr.write(`sandboxd listening on ${address}\n`);
  if (mcpStdio) {
    // Loaded only for `sandboxd mcp` (see daemon.ts: the SDK is a fifth of an idle daemon's heap).
    const [{ StdioServerTransport }, { mcpServerFactory }] = await Promise.all([import("@modelcontextprotocol/sdk/server/stdio.js"), import("./mcp/index.js")]);
    const transport = new StdioServerTransport();
    // The client closing stdin (or the transport failing) ends the session and the daemon.
    transport.onclose = () => stop("stdin closed");
    process.stdin.on("end", () => stop("stdin closed"));
    await mcpServerFactory(config, components, logger)("default").connect(transport);
    logger.info("MCP serving on stdio");
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`sandboxd: ${describeError(err)}\n`);
  process.exit(1);
});
