import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { runPrefix, startDaemon } from "../helpers/daemon.js";
import { leases } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// Sandboxes are found again by the daemon id in their labels: two live daemons with one id
// would adopt and then remove each other's sandboxes. The second must refuse to start.
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "sandboxd-state-"));
  dirs.push(d);
  return d;
}

async function leaseContainers(daemonId: string) {
  return leases(daemonId);
}

describe("one live daemon per daemon id", () => {
  it("a second daemon with the same id refuses to start and touches nothing; after a kill -9 the id is free again", async () => {
    const daemonId = `${runPrefix()}${randomBytes(4).toString("hex")}`;
    const first = await startDaemon({ daemonId });
    const { sandbox } = await first.sandbox.createSandbox({ spec: { language: "python" } });
    await collect(first.sandbox.exec({ sandboxId: sandbox!.id, shell: "echo kept > /sandbox/f" }));
    expect(await leaseContainers(daemonId)).toHaveLength(1);

    await expect(startDaemon({ daemonId })).rejects.toThrow(/another live sandboxd holds daemon id/);
    // The first one's sandbox is untouched and still served.
    const r = await collect(first.sandbox.exec({ sandboxId: sandbox!.id, shell: "cat /sandbox/f" }));
    expect(r.stdout).toBe("kept\n");

    await first.stop("SIGKILL");
    const restarted = await startDaemon({ daemonId });
    try {
      const again = await collect(restarted.sandbox.exec({ sandboxId: sandbox!.id, shell: "cat /sandbox/f" }));
      expect(again.stdout).toBe("kept\n");
      expect(await leaseContainers(daemonId)).toHaveLength(1);
    } finally {
      await restarted.stop();
    }
    // A clean stop releases the lease: nothing is left behind.
    expect(await leaseContainers(daemonId)).toHaveLength(0);
  });

  it("without --daemon-id the id is made once per state directory and kept", async () => {
    const a = stateDir();
    const b = stateDir();
    const idOf = (dir: string) => readFileSync(join(dir, "daemon-id"), "utf8").trim();
    const one = await startDaemon({ defaultDaemonId: true, args: ["--state-dir", a] });
    const two = await startDaemon({ defaultDaemonId: true, args: ["--state-dir", b] });
    try {
      expect(idOf(a)).toMatch(/^[a-z0-9-]+-[0-9a-f]{8}$/);
      expect(idOf(a)).not.toBe(idOf(b));
      // Both serve at once: different ids, different leases.
      expect(await leaseContainers(idOf(a))).toHaveLength(1);
      expect(await leaseContainers(idOf(b))).toHaveLength(1);
      expect(one.logs()).toContain(`"daemonId":"${idOf(a)}"`);
    } finally {
      await one.stop();
      await two.stop();
    }
    const kept = idOf(a);
    const again = await startDaemon({ defaultDaemonId: true, args: ["--state-dir", a] });
    try {
      expect(again.logs()).toContain(`"daemonId":"${kept}"`);
      expect(idOf(a)).toBe(kept);
    } finally {
      await again.stop();
    }
  });
});
