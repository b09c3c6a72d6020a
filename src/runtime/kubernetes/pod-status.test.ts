import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { deathCause, startState } from "./pod-status.js";

// Pod statuses as the API server reports them (shapes taken from a real cluster's pods).
const pod = (status: NonNullable<V1Pod["status"]>): V1Pod => ({ metadata: { name: "p" }, status });
const container = (state: object) => [{ name: "sandbox", image: "i", imageID: "", ready: false, restartCount: 0, state }];

describe("startState", () => {
  it("running only when the sandbox container runs", () => {
    expect(startState(pod({ phase: "Running", containerStatuses: container({ running: {} }) }))).toEqual({ kind: "running" });
    expect(startState(pod({ phase: "Pending" }))).toEqual({ kind: "waiting" });
  });

  it("tells a missing image from a failed start and an OOM kill", () => {
    expect(startState(pod({ phase: "Pending", containerStatuses: container({ waiting: { reason: "ErrImageNeverPull", message: "not present" } }) })).kind).toBe(
      "image-missing",
    );
    const oom = startState(pod({ phase: "Failed", containerStatuses: container({ terminated: { reason: "OOMKilled", exitCode: 137 } }) }));
    expect(oom).toEqual({ kind: "failed", why: expect.stringMatching(/^OOMKilled .*exit code 137/) });
    const config = startState(pod({ phase: "Pending", containerStatuses: container({ waiting: { reason: "CreateContainerError", message: "bad mount" } }) }));
    expect(config).toEqual({ kind: "failed", why: "CreateContainerError: bad mount" });
    expect(startState(pod({ phase: "Failed", reason: "Evicted", message: "low on memory" }))).toEqual({ kind: "failed", why: "Evicted: low on memory" });
  });

  it("passes the scheduler's message on while the pod is unschedulable", () => {
    const s = startState(
      pod({
        phase: "Pending",
        conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient memory." }],
      }),
    );
    expect(s).toEqual({ kind: "waiting", unschedulable: "0/1 nodes are available: 1 Insufficient memory." });
  });
});

describe("deathCause", () => {
  it("names evictions, preemptions, OOM kills and deletions", () => {
    const disrupted = (reason: string) => pod({ phase: "Running", conditions: [{ type: "DisruptionTarget", status: "True", reason, message: "m" }] });
    expect(deathCause(disrupted("EvictionByEvictionAPI"), true)).toBe("the pod was evicted (EvictionByEvictionAPI: m)");
    expect(deathCause(disrupted("PreemptionByScheduler"), true)).toBe("the pod was preempted (PreemptionByScheduler: m)");
    expect(deathCause(pod({ phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." }), false)).toBe(
      "the pod was evicted (The node was low on resource: memory.)",
    );
    expect(deathCause(pod({ phase: "Running", containerStatuses: container({ terminated: { reason: "OOMKilled", exitCode: 137 } }) }), false)).toMatch(
      /OOMKilled/,
    );
    expect(deathCause(pod({ phase: "Running" }), true)).toBe("the pod was deleted");
    expect(deathCause(pod({ phase: "Running", containerStatuses: container({ running: {} }) }), false)).toBeUndefined();
  });
});
