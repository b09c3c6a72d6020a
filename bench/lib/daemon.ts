import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, startDaemon, type DaemonHandle } from "../../test/helpers/daemon.js";

export type { DaemonHandle };

/** Newest modification time under a directory, in ms. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

let built: string | undefined;

/**
 * The daemon a benchmark measures: bin/sandboxd (what the container image and the systemd
 * unit run, with its node flags) over the built dist/main.js, rebuilt first when src/ is
 * newer than it. BENCH_DAEMON=source measures src/main.ts through tsx instead (its loader
 * adds memory). BENCH_DAEMON_NODE_ARGS adds node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 * (bin/sandboxd's SANDBOXD_NODE_ARGS).
 */
export function benchDaemonCommand(): [string, ...string[]] {
  const nodeArgs = (process.env["BENCH_DAEMON_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
  if (process.env["BENCH_DAEMON"] === "source") return [process.execPath, ...nodeArgs, "--import", "tsx", join(repoRoot, "src/main.ts")];
  const main = join(repoRoot, "dist", "main.js");
  if (built === undefined) {
    let stale = true;
    try {
      stale = statSync(main).mtimeMs < newestMtime(join(repoRoot, "src"));
    } catch {
      // not built yet
    }
    if (stale) execFileSync("npm", ["run", "-s", "build"], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
    built = main;
  }
  return ["env", `SANDBOXD_NODE_ARGS=${nodeArgs.join(" ")}`, join(repoRoot, "bin", "sandboxd")];
}

/**
 * Starts a real daemon for a benchmark at the production log level (the harness default is
 * debug, which costs throughput). Later flags win, so `args` may override anything.
 */
export async function startBenchDaemon(args: string[] = [], daemonId = newDaemonId("bench")): Promise<DaemonHandle> {
  return startDaemon({ args: ["--log-level", "info", ...args], daemonId, command: benchDaemonCommand() });
}

/**
 * Not the harness's "test-" prefix: the integration suite's global setup removes every
 * "test-" daemon's containers, which would pull sandboxes out from under a benchmark that
 * runs at the same time (and its teardown would blame them on the tests).
 */
export function newDaemonId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * Starts a daemon with warm pools, or returns the reason it cannot (the pool flag is not
 * known to this build of the daemon): the benchmark then reports the pool part as pending.
 */
export async function startPooledDaemon(language: string, size: number, args: string[] = []): Promise<{ daemon?: DaemonHandle; unsupported?: string }> {
  try {
    return { daemon: await startBenchDaemon([`--pools.${language}`, String(size), ...args]) };
  } catch (err) {
    const msg = (err as Error).message;
    if (/unknown setting|pools/.test(msg)) return { unsupported: `--pools.${language} is not supported by this daemon build: ${msg.split("\n")[0]}` };
    throw err;
  }
}

/** Daemon RSS and open file descriptors from /proc. */
export function processStats(pid: number): { rssBytes: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssBytes: rssKb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}
