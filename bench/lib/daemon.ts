import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { startDaemon, type DaemonHandle } from "../../test/helpers/daemon.js";

export type { DaemonHandle };

/**
 * Starts a real daemon for a benchmark at the production log level (the harness default is
 * debug, which costs throughput). Later flags win, so `args` may override anything.
 */
export async function startBenchDaemon(args: string[] = [], daemonId = newDaemonId("bench")): Promise<DaemonHandle> {
  return startDaemon({ args: ["--log-level", "info", ...args], daemonId });
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
