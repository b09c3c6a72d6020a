import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runPrefix, startDaemon } from "../helpers/daemon.js";
import { exists, workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

async function poolMembers(daemonId: string) {
  return workloads([`org.sandboxd.daemon=${daemonId}`, "org.sandboxd.pool"]);
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("warm pools", () => {
  it("hands out a ready sandbox once, never returns it, and refills", async () => {
    const metricsAddress = `127.0.0.1:${20000 + Math.floor(Math.random() * 20000)}`;
    await using d = await startDaemon({ args: ["--pools.python", "2", "--metrics-listen", metricsAddress] });
    await waitFor("2 warm members", async () => d.logs().split("pool member ready").length - 1 >= 2);
    const first = await d.sandbox.createSandbox({ spec: { language: "python" } });
    expect(first.sandbox?.fromPool).toBe(true);
    const id = first.sandbox!.id;
    const r = await collect(d.sandbox.run({ sandboxId: id, code: "open('/sandbox/secret.txt','w').write('mine')\nprint('ok')" }));
    expect(r.stdout).toBe("ok\n");
    const usedContainer = first.sandbox!.containerId;
    await d.sandbox.destroySandbox({ sandboxId: id });

    // A custom request is not served from the pool.
    const custom = await d.sandbox.createSandbox({ spec: { language: "python", resources: { pids: 100 } } });
    expect(custom.sandbox?.fromPool).toBe(false);
    await d.sandbox.destroySandbox({ sandboxId: custom.sandbox!.id });

    // The pool refilled with fresh containers; the used one is gone, its files with it.
    await waitFor("refill", async () => (await poolMembers(d.daemonId)).length >= 2);
    const members = await poolMembers(d.daemonId);
    expect(members.map((m) => m.id)).not.toContain(usedContainer);
    const next = await d.sandbox.createSandbox({ spec: { language: "python" } });
    expect(next.sandbox?.fromPool).toBe(true);
    const peek = await collect(d.sandbox.exec({ sandboxId: next.sandbox!.id, shell: "ls /sandbox" }));
    expect(peek.stdout).toBe("");

    // Ephemeral runs take from the pool too.
    const eph = await collect(d.sandbox.run({ language: "python", code: "print('quick')" }));
    expect(eph.stdout).toBe("quick\n");
    await d.sandbox.destroySandbox({ sandboxId: next.sandbox!.id });

    // Pool size, hits, misses and refill time are visible as metrics.
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    expect(metrics).toMatch(/sandboxd_pool_hits_total\{profile="python"\} [3-9]/);
    expect(metrics).toMatch(/sandboxd_pool_last_refill_ms\{profile="python"\} [1-9]\d*/);
    expect(metrics).toMatch(/sandboxd_pool_ready\{profile="python"\} \d/);
  });
});

describe("restarts", () => {
  it("kill -9 then restart re-adopts live sandboxes (pooled or not) and removes the rest", async () => {
    const daemonId = `${runPrefix()}${randomBytes(4).toString("hex")}`;
    const d1 = await startDaemon({ daemonId, args: ["--pools.python", "1"] });
    await waitFor("warm member", async () => d1.logs().includes("pool member ready"));
    const pooled = (await d1.sandbox.createSandbox({ spec: { language: "python", labels: { kind: "pooled" } } })).sandbox!;
    expect(pooled.fromPool).toBe(true);
    const cold = (await d1.sandbox.createSandbox({ spec: { language: "python", resources: { pids: 99 }, labels: { kind: "cold" } } })).sandbox!;
    const short = (await d1.sandbox.createSandbox({ spec: { language: "python", ttlMs: 2000, resources: { pids: 98 } } })).sandbox!;
    await collect(d1.sandbox.run({ sandboxId: cold.id, code: "open('/sandbox/state.txt','w').write('kept')" }));
    // A run is live when the daemon dies.
    const live = d1.sandbox.exec({ sandboxId: cold.id, shell: "sleep 100" });
    const it = live[Symbol.asyncIterator]();
    await it.next();
    await d1.stop("SIGKILL");
    await new Promise((r) => setTimeout(r, 2500));

    const d2 = await startDaemon({ daemonId });
    try {
      const listed = await d2.sandbox.listSandboxes({});
      expect(listed.sandboxes.map((s) => s.id).sort()).toEqual([pooled.id, cold.id].sort());
      expect((await d2.sandbox.listSandboxes({ labels: { kind: "pooled" } })).sandboxes.map((s) => s.id)).toEqual([pooled.id]);
      expect((await collect(d2.sandbox.exec({ sandboxId: cold.id, shell: "cat /sandbox/state.txt" }))).stdout).toBe("kept");
      expect((await collect(d2.sandbox.run({ sandboxId: pooled.id, code: "print('adopted')" }))).stdout).toBe("adopted\n");
      // The run that was live when the daemon died was killed with its agent.
      const ps = await collect(d2.sandbox.exec({ sandboxId: cold.id, argv: ["ps", "-eo", "args"] }));
      expect(ps.stdout).not.toMatch(/sleep 100/);
      // The expired sandbox and the unassigned pool member are gone.
      expect(await exists(short.containerId)).toBe(false);
      const members = await workloads([`org.sandboxd.daemon=${daemonId}`]);
      expect(members.map((m) => m.labels["org.sandboxd.sandbox-id"]).sort()).toEqual([pooled.id, cold.id].sort());
    } finally {
      await d2.stop();
    }
    const left = await workloads([`org.sandboxd.daemon=${daemonId}`]);
    expect(left).toEqual([]);
  });
});
