#!/usr/bin/env node
// Composition root: config -> logger -> runtime -> daemon -> signal handlers. No logic here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { ConfigError, describeConfig, hostAllowPorts, loadConfig, type Config } from "./config/config.js";
import { describeError } from "./common/errors.js";
import { createLogger } from "./common/logger.js";
import { compose } from "./compose.js";
import { Daemon } from "./daemon.js";
import type { ContainerRuntime } from "./runtime/container-runtime.js";
import { DockerRuntime } from "./runtime/docker/docker-runtime.js";
import { KubernetesRuntime } from "./runtime/kubernetes/kubernetes-runtime.js";
import { HostFirewall } from "./runtime/host-firewall.js";
import { writePodmanSeccompProfile } from "./runtime/docker/podman-seccomp.js";

function engineOptions(config: Config) {
  const endpoint = config.engineEndpoint || (config.backend === "podman" ? "/run/podman/podman.sock" : "/var/run/docker.sock");
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

/** Podman here needs explicit nofile/nproc limits below the host's hard limits. */
function podmanUlimits(config: Config) {
  const u = config.podmanUlimits;
  return [
    { name: "nofile", soft: u.nofile, hard: u.nofile },
    { name: "nproc", soft: u.nproc, hard: u.nproc },
  ];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      `sandboxd: runs untrusted code in containers, streamed over gRPC\n\nSettings (flags, SANDBOXD_* env, or a JSON --config file):\n${describeConfig()}\n`,
    );
    return;
  }
  let config: Config;
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sandboxd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });
  const firewall = new HostFirewall({
    mode: config.network.hostFirewall as "iptables" | "off",
    daemonTag: createHash("sha256").update(config.daemonId).digest("hex").slice(0, 4),
    allowPorts: hostAllowPorts(config),
    logger,
  });
  let runtime: ContainerRuntime;
  if (config.backend === "kubernetes") {
    runtime = new KubernetesRuntime({
      namespace: config.kubernetes.namespace,
      ...(config.kubernetes.kubeconfig ? { kubeconfig: config.kubernetes.kubeconfig } : {}),
      ...(config.kubernetes.context ? { context: config.kubernetes.context } : {}),
      imagePullPolicy: config.kubernetes.imagePullPolicy as "IfNotPresent" | "Never" | "Always",
      ...(config.kubernetes.runtimeClass ? { runtimeClassName: config.kubernetes.runtimeClass } : {}),
      callTimeoutMs: config.engineCallTimeoutMs,
      logger: logger.child({ component: "runtime" }),
    });
  } else {
    let seccompProfile: string | undefined;
    try {
      if (config.backend === "podman") seccompProfile = writePodmanSeccompProfile(config.stateDir, config.podmanSeccompBase);
    } catch (err) {
      process.stderr.write(`sandboxd: ${describeError(err)}\n`);
      process.exit(2);
    }
    runtime = new DockerRuntime({
      name: config.backend,
      firewall,
      ...(seccompProfile ? { seccompProfile } : {}),
      ...(config.sandboxRuntime ? { ociRuntime: config.sandboxRuntime } : {}),
      init: config.sandboxInit,
      ...(config.backend === "podman" ? { ulimits: podmanUlimits(config) } : {}),
      callTimeoutMs: config.engineCallTimeoutMs,
      logger: logger.child({ component: "runtime" }),
      ...engineOptions(config),
    });
  }
  let daemon: Daemon;
  try {
    daemon = new Daemon({ config, logger, runtime, components: compose({ config, runtime, logger }) });
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
}

main().catch((err: unknown) => {
  process.stderr.write(`sandboxd: ${describeError(err)}\n`);
  process.exit(1);
});
