import { daemonContainers } from "../../../bench/lib/engine.js";
import { newDaemonId, startBenchDaemon, type DaemonHandle } from "../../../bench/lib/daemon.js";

export type { DaemonHandle };

/** A daemon for a load run; its id starts with "load-" (not the integration suite's "test-"). */
export function startLoadDaemon(args: string[]): Promise<DaemonHandle> {
  return startBenchDaemon(args, newDaemonId("load"));
}

export async function containerCount(daemonId: string): Promise<number> {
  return (await daemonContainers(daemonId)).length;
}

/** Waits until the daemon's container count is at most `want`; returns the last count seen. */
export async function waitForContainers(daemonId: string, want: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = await containerCount(daemonId);
  while (n > want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    n = await containerCount(daemonId);
  }
  return n;
}
