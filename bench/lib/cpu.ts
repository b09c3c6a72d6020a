/** CPU time of the processes that carry a benchmark's bytes, read from /proc. */
import { readFileSync, readdirSync } from "node:fs";

/** CPU time (user+system, with reaped children's) of one process, in clock ticks (0 when gone). */
function cpuTicks(pid: number, systemOnly = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (systemOnly) return Number(f[12]) + Number(f[14]);
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}

/**
 * The host processes that carry a transfer: those inside the container's cgroup (the agent and
 * the transfer's cat; only a sandbox has them), its containerd-shim, and dockerd (shared with
 * whatever else the machine runs: an upper bound).
 */
export function carriers(containerId: string): Record<string, number[]> {
  const out: Record<string, number[]> = { container: [], shim: [], dockerd: [] };
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const comm = readFileSync(`/proc/${name}/comm`, "utf8").trim();
      if (comm === "dockerd") out["dockerd"]?.push(Number(name));
      else if (comm.startsWith("containerd-shim") && readFileSync(`/proc/${name}/cmdline`, "utf8").includes(containerId)) out["shim"]?.push(Number(name));
      else if (readFileSync(`/proc/${name}/cgroup`, "utf8").includes(containerId)) out["container"]?.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ms each group of processes spent while `fn` ran (processes that started meanwhile count from 0). */
export async function withCpu<T>(groups: () => Record<string, number[]>, fn: () => Promise<T>): Promise<{ result: T; cpuMs: Record<string, number> }> {
  const tick = 1000 / 100;
  const before = new Map<number, number>();
  const first = groups();
  for (const pids of Object.values(first)) for (const pid of pids) before.set(pid, cpuTicks(pid));
  const daemonSys = first["daemon"]?.[0];
  const sysBefore = daemonSys === undefined ? 0 : cpuTicks(daemonSys, true);
  const result = await fn();
  const cpuMs: Record<string, number> = {};
  for (const [g, pids] of Object.entries(groups())) {
    cpuMs[g] = pids.reduce((sum, pid) => sum + (cpuTicks(pid) - (before.get(pid) ?? 0)) * tick, 0);
  }
  // The daemon's system time (syscalls, page faults) apart: part of cpuMs.daemon.
  if (daemonSys !== undefined) cpuMs["daemon_system"] = (cpuTicks(daemonSys, true) - sysBefore) * tick;
  return { result, cpuMs };
}
