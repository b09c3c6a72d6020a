import { describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import type { ContainerInfo, ContainerRuntime, Lease } from "../runtime/container-runtime.js";
import { DaemonLease } from "./daemon-lease.js";
import { Label } from "./labels.js";

/** A lease the test can drop, then a second daemon that holds it. */
function arbiter() {
  let drop!: () => void;
  let calls = 0;
  const other: ContainerInfo = {
    id: "c2",
    name: "lease",
    image: "i",
    labels: { [Label.leaseHolder]: "the other daemon" },
    running: true,
    createdAt: new Date(),
  };
  const runtime = {
    acquireLease: async (): Promise<Lease | { heldBy: ContainerInfo }> => {
      calls++;
      if (calls > 1) return { heldBy: other };
      return { lost: new Promise<void>((r) => (drop = r)), release: async () => {} };
    },
  } as unknown as ContainerRuntime;
  return { runtime, drop: () => drop(), calls: () => calls };
}

describe("DaemonLease", () => {
  it("is forfeited when it was lost and another live daemon holds it now", async () => {
    const a = arbiter();
    const lease = new DaemonLease(a.runtime, async () => ({ name: "sandboxd-lease-x", image: "i", labels: {} }), "x", silentLogger());
    await lease.acquire();
    expect(lease.held).toBe(true);
    a.drop();
    const err = await lease.forfeited;
    expect(err).toMatchObject({ code: "FAILED_PRECONDITION", reason: "DAEMON_ID_IN_USE" });
    expect(lease.held).toBe(false);
    expect(a.calls()).toBe(2);
  });
});
