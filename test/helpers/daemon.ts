import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { InteractiveService } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createClient, type CallOptions, type Client } from "./client.js";

type MethodsOf<S> = S extends GenService<infer M extends GenServiceMethods> ? M : never;

export const repoRoot = new URL("../..", import.meta.url).pathname;
import { backendArgs, workloads } from "./engine.js";
/** The backend the integration suite runs against (engine.ts): the same tests prove Docker, Podman and Kubernetes. */
export { backend, docker, engineSocket, onKubernetes } from "./engine.js";
/** Every test daemon's id starts with this, so the leftover check finds their containers. */
export const testDaemonPrefix = "test-";
/**
 * This test run's own prefix (set by the global setup and inherited by workers), so that
 * concurrent runs on one engine never clean up each other's containers. Read when called:
 * the global setup imports this module before it sets the variable.
 */
export function runPrefix(): string {
  const run = process.env["SANDBOXD_TEST_RUN"];
  if (!run) throw new Error("SANDBOXD_TEST_RUN is not set: run the integration tests through vitest's global setup");
  return `${testDaemonPrefix}${run}-`;
}

export interface DaemonHandle {
  address: string;
  daemonId: string;
  process: ChildProcess;
  logFile: string;
  sandbox: Client<MethodsOf<typeof SandboxService>>;
  interactive: Client<MethodsOf<typeof InteractiveService>>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  rssBytes(): number;
  logs(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  daemonId?: string;
  /** Start without --daemon-id: the daemon takes its persistent id from its state directory. */
  defaultDaemonId?: boolean;
  clientOptions?: CallOptions;
  credentials?: import("@grpc/grpc-js").ChannelCredentials;
  /** The daemon's command line before its flags; default: src/main.ts through tsx. */
  command?: [string, ...string[]];
}

/** Starts a real sandboxd process on a free loopback port. */
export async function startDaemon(options: StartOptions = {}): Promise<DaemonHandle> {
  const daemonId = options.daemonId ?? `${runPrefix()}${randomBytes(4).toString("hex")}`;
  const logDir = join(repoRoot, ".cache", "test-logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${daemonId}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  // Which test started this daemon, for whoever reads the log after a failure.
  const caller = /[^\s(]+\.test\.ts:\d+/.exec(new Error().stack ?? "")?.[0];
  if (caller) log.write(`# started by ${caller.replace(repoRoot, "")}\n`);
  const [program, ...programArgs] = options.command ?? [process.execPath, "--import", "tsx", join(repoRoot, "src/main.ts")];
  const child = spawn(
    program,
    [
      ...programArgs,
      "--listen",
      "127.0.0.1:0",
      ...(options.defaultDaemonId ? [] : ["--daemon-id", daemonId]),
      "--log-level",
      "debug",
      "--shutdown-grace-ms",
      "5000",
      ...backendArgs(),
      ...(options.args ?? []),
    ],
    { cwd: repoRoot, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`daemon did not start; see ${logFile}`)), 30_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      log.write(chunk);
      buf += chunk.toString();
      const m = /sandboxd listening on (\S+)/.exec(buf);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening: ${buf}`));
    });
  });
  const sandbox = createClient(SandboxService, address, options.clientOptions, options.credentials);
  const interactive = createClient(InteractiveService, address, options.clientOptions, options.credentials);
  let stopped: Promise<number | null> | undefined;
  const stop = (signal: NodeJS.Signals = "SIGTERM") => {
    if (!stopped) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      stopped = exited.finally(() => {
        sandbox.close();
        interactive.close();
        log.end();
      });
    }
    return stopped;
  };
  return {
    address,
    daemonId,
    process: child,
    logFile,
    sandbox,
    interactive,
    stop,
    rssBytes: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb * 1024;
    },
    logs: () => readFileSync(logFile, "utf8"),
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** Containers this run's test daemons left behind (or, with a prefix, any test run's). */
export async function leftoverContainers(prefix = runPrefix()) {
  const all = await workloads(["org.sandboxd.managed=true"]);
  return all.filter((c) => (c.labels["org.sandboxd.daemon"] ?? "").startsWith(prefix));
}
