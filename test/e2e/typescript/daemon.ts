import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { startDaemon as startTestDaemon, type DaemonHandle, type StartOptions } from "../../helpers/daemon.js";

/**
 * A real daemon for one test file. Ids start with "e2e-ts-", not "test-": the integration
 * suite removes every "test-*" daemon's containers when it starts, and both run at once.
 */
export async function startDaemon(options: StartOptions = {}): Promise<DaemonHandle & { leftovers(): string[] }> {
  const d = await startTestDaemon({ daemonId: `e2e-ts-${randomBytes(4).toString("hex")}`, ...options });
  return Object.assign(d, {
    leftovers: () =>
      execFileSync("docker", ["ps", "-aq", "--filter", `label=org.sandboxd.daemon=${d.daemonId}`], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean),
  });
}

/** Stops the daemon and fails when it left a container behind (removing them first). */
export async function stopDaemon(d: Awaited<ReturnType<typeof startDaemon>>): Promise<void> {
  await d.stop();
  let left = d.leftovers();
  for (let i = 0; i < 20 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    left = d.leftovers();
  }
  if (left.length > 0) {
    execFileSync("docker", ["rm", "-f", ...left]);
    throw new Error(`daemon ${d.daemonId} left ${left.length} containers behind`);
  }
}
