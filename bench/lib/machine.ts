import { execFileSync } from "node:child_process";
import { cpus, totalmem, release } from "node:os";
import { readFileSync } from "node:fs";

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  os: string;
  node: string;
  docker: string;
  gitCommit: string;
  gitDirty: boolean;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

export function machineInfo(): MachineInfo {
  let os = "unknown";
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? os;
  } catch {
    // no os-release
  }
  const status = tryRun("git", ["status", "--porcelain", "--", "src"]);
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryBytes: totalmem(),
    kernel: release(),
    os,
    node: process.version,
    docker: tryRun("docker", ["version", "--format", "{{.Server.Version}}"]),
    gitCommit: tryRun("git", ["rev-parse", "--short", "HEAD"]),
    // The daemon runs from the working tree: say whether src/ had uncommitted changes.
    gitDirty: status !== "" && status !== "unknown",
  };
}
