import { randomBytes } from "node:crypto";
import { startDaemon as startTestDaemon, type DaemonHandle, type StartOptions } from "../../helpers/daemon.js";
import { removeWorkload, workloads } from "../../helpers/engine.js";

/**
 * A real daemon for one test file. Ids start with "e2e-ts-", not "test-": the integration
 * suite removes every "test-*" daemon's containers when it starts, and both run at once.
 */
export async function startDaemon(options: StartOptions = {}): Promise<DaemonHandle & { leftovers(): Promise<string[]> }> {
  const d = await startTestDaemon({ daemonId: `e2e-ts-${randomBytes(4).toString("hex")}`, ...options });
  // On the backend the integration tests use (SANDBOXD_TEST_BACKEND).
  return Object.assign(d, { leftovers: async () => (await workloads([`org.sandboxd.daemon=${d.daemonId}`])).map((w) => w.id) });
}

/** Stops the daemon and fails when it left a container behind (removing them first). */
export async function stopDaemon(d: Awaited<ReturnType<typeof startDaemon>>): Promise<void> {
  await d.stop();
  let left = await d.leftovers();
  for (let i = 0; i < 20 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    left = await d.leftovers();
  }
  if (left.length > 0) {
    for (const id of left) await removeWorkload(id);
    throw new Error(`daemon ${d.daemonId} left ${left.length} containers behind`);
  }
}
