import type { V1Pod } from "@kubernetes/client-node";
import { containerName as sandboxContainer } from "./pod-spec.js";

/** Where a starting pod stands: running, still on its way, or never going to run (and why). */
export type StartState =
  { kind: "running" } | { kind: "waiting"; unschedulable?: string } | { kind: "image-missing"; why: string } | { kind: "failed"; why: string };

/**
 * Reads a starting pod's status (pure; the runtime polls and decides on deadlines). A pod
 * the scheduler cannot place is "waiting" with the scheduler's message: it may fit later
 * (pods ending, nodes added), so how long to wait is the caller's choice.
 */
export function startState(pod: V1Pod, container = sandboxContainer): StartState {
  const status = pod.status?.containerStatuses?.find((s) => s.name === container);
  if (pod.status?.phase === "Running" && status?.state?.running) return { kind: "running" };
  const waiting = status?.state?.waiting;
  if (waiting?.reason && /ErrImageNeverPull|ImagePullBackOff|ErrImagePull|InvalidImageName/.test(waiting.reason)) {
    return { kind: "image-missing", why: `${waiting.reason}: ${waiting.message ?? ""}`.trim() };
  }
  const terminated = status?.state?.terminated;
  if (terminated) return { kind: "failed", why: terminatedWhy(terminated) };
  if (waiting?.reason === "CreateContainerConfigError" || waiting?.reason === "CreateContainerError" || waiting?.reason === "RunContainerError") {
    return { kind: "failed", why: `${waiting.reason}: ${waiting.message ?? ""}`.trim() };
  }
  if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") {
    return { kind: "failed", why: [pod.status.reason, pod.status.message].filter(Boolean).join(": ") || `pod ${pod.status.phase}` };
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") return { kind: "waiting", unschedulable: scheduled.message ?? "unschedulable" };
  return { kind: "waiting" };
}

function terminatedWhy(t: { reason?: string; exitCode: number; message?: string; signal?: number }): string {
  const parts = [
    t.reason === "OOMKilled" ? "OOMKilled (the memory limit is too small for it to start)" : (t.reason ?? "terminated"),
    `exit code ${t.exitCode}`,
  ];
  if (t.message) parts.push(t.message.trim());
  return parts.join(", ");
}

/**
 * Why a sandbox's pod is gone or stopped, from what the watch last saw of it: an eviction
 * (by the kubelet under node pressure, or through the Eviction API, as `kubectl drain`
 * does), a preemption, an OOM kill, or a plain deletion. Undefined while it runs.
 */
export function deathCause(pod: V1Pod, deleted: boolean, container = sandboxContainer): string | undefined {
  const disruption = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  const disrupted = disruption ? `${disruption.reason ?? "disrupted"}${disruption.message ? `: ${disruption.message}` : ""}` : undefined;
  if (pod.status?.reason === "Evicted") return `the pod was evicted (${pod.status.message ?? disrupted ?? "by the kubelet"})`;
  if (disruption?.reason === "EvictionByEvictionAPI") return `the pod was evicted (${disrupted})`;
  if (disruption?.reason === "PreemptionByScheduler") return `the pod was preempted (${disrupted})`;
  const terminated = pod.status?.containerStatuses?.find((s) => s.name === container)?.state?.terminated;
  if (terminated) return `its container ended (${terminatedWhy(terminated)})`;
  if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") {
    return `the pod ${pod.status.phase === "Failed" ? "failed" : "ended"}${pod.status.reason ? ` (${pod.status.reason})` : ""}`;
  }
  if (deleted) return disrupted ? `the pod was deleted (${disrupted})` : "the pod was deleted";
  return undefined;
}
