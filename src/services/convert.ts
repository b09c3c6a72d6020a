import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ExitStatus,
  NetworkMode,
  RunPhase,
  SandboxState,
  SecuritySeverity,
  Stream,
  type RunEventSchema,
  type SandboxSchema,
  type SandboxUsageSchema,
  type SandboxSpec,
  type ArtifactSchema,
  type SecurityPolicy,
  Backend,
} from "../gen/sandboxd/v1/common_pb.js";
import type { ArtifactInfo, Phase, RunEvent } from "../sandbox/run.js";
import type { Sandbox, SandboxUsageReading } from "../sandbox/sandbox.js";
import type { PolicySpec, SandboxConfig, SandboxRequest } from "../sandbox/sandbox-config.js";
import type { DownloadTrailerSchema } from "../gen/sandboxd/v1/sandbox_service_pb.js";
import type { ExitKind } from "../runtime/process.js";

const severityNames: Record<number, string> = {
  [SecuritySeverity.UNSPECIFIED]: "SAFE",
  [SecuritySeverity.SAFE]: "SAFE",
  [SecuritySeverity.LOW]: "LOW",
  [SecuritySeverity.MEDIUM]: "MEDIUM",
  [SecuritySeverity.HIGH]: "HIGH",
};

function severityName(s: SecuritySeverity): string {
  return severityNames[s] ?? "SAFE";
}

export function severityValue(s: string): SecuritySeverity {
  const map: Record<string, SecuritySeverity> = {
    SAFE: SecuritySeverity.SAFE,
    LOW: SecuritySeverity.LOW,
    MEDIUM: SecuritySeverity.MEDIUM,
    HIGH: SecuritySeverity.HIGH,
  };
  return map[s.toUpperCase()] ?? SecuritySeverity.UNSPECIFIED;
}

export function policyFromProto(p: SecurityPolicy): PolicySpec {
  return {
    severityThreshold: severityName(p.severityThreshold),
    patterns: p.patterns.map((x) => ({ pattern: x.pattern, description: x.description, severity: severityName(x.severity) })),
    restrictedModules: p.restrictedModules.map((m) => ({ name: m.name, description: m.description, severity: severityName(m.severity) })),
  };
}

function policyToProto(p: PolicySpec): MessageInitShape<typeof import("../gen/sandboxd/v1/common_pb.js").SecurityPolicySchema> {
  return {
    severityThreshold: severityValue(p.severityThreshold),
    patterns: p.patterns.map((x) => ({ pattern: x.pattern, description: x.description, severity: severityValue(x.severity) })),
    restrictedModules: p.restrictedModules.map((m) => ({ name: m.name, description: m.description, severity: severityValue(m.severity) })),
  };
}

/** A client's SandboxSpec as the domain's request (zero values mean default). */
export function sandboxRequestFromProto(spec: SandboxSpec | undefined, languageOverride?: string): SandboxRequest {
  const s = spec;
  return {
    language: languageOverride || s?.language || "",
    image: s?.image ?? "",
    dockerfile: s?.dockerfile ? { content: s.dockerfile.content, contextFiles: s.dockerfile.contextFiles } : undefined,
    resources: {
      memoryBytes: Number(s?.resources?.memoryBytes ?? 0n),
      cpus: s?.resources?.cpus ?? 0,
      pids: s?.resources?.pids ?? 0,
      diskBytes: Number(s?.resources?.diskBytes ?? 0n),
    },
    network:
      s?.network === NetworkMode.BRIDGE
        ? "bridge"
        : s?.network === NetworkMode.ALLOW_LIST
          ? "allow_list"
          : s?.network === NetworkMode.NONE
            ? "none"
            : "unspecified",
    egress: s?.egress ? { hosts: [...s.egress.hosts], cidrs: [...s.egress.cidrs], ports: [...s.egress.ports] } : undefined,
    env: { ...(s?.env ?? {}) },
    workdir: s?.workdir ?? "",
    user: s?.user ?? "",
    executionTimeoutMs: s?.executionTimeoutMs ?? 0,
    ttlMs: s?.ttlMs ?? 0,
    idleTimeoutMs: s?.idleTimeoutMs ?? 0,
    securityPreset: s?.security.case === "securityPreset" ? s.security.value : undefined,
    securityPolicy: s?.security.case === "securityPolicy" ? policyFromProto(s.security.value) : undefined,
    labels: { ...(s?.labels ?? {}) },
    commitOnClose: s?.commitOnClose ?? "",
    containerId: s?.containerId ?? "",
    podManifest: s?.podManifest ?? "",
    commandWrapper: [...(s?.commandWrapper ?? [])],
    disablePlotCapture: s?.artifacts?.disablePlotCapture ?? false,
    outputDir: s?.artifacts?.outputDir ?? "",
    autoPauseMs: s?.autoPauseMs ?? 0,
    autoResume: s?.autoResume ?? false,
    mounts: (s?.mounts ?? []).map((m) => ({
      volume: m.source.case === "volume" ? m.source.value : "",
      hostPath: m.source.case === "hostPath" ? m.source.value : "",
      path: m.path,
      readOnly: m.readOnly,
    })),
  };
}

export function specToProto(c: SandboxConfig): MessageInitShape<typeof import("../gen/sandboxd/v1/common_pb.js").SandboxSpecSchema> {
  const security = c.securityPreset
    ? { case: "securityPreset" as const, value: c.securityPreset }
    : c.securityPolicy
      ? { case: "securityPolicy" as const, value: policyToProto(c.securityPolicy) }
      : { case: undefined };
  return {
    language: c.language,
    image: c.image,
    resources: { memoryBytes: BigInt(c.resources.memoryBytes), cpus: c.resources.cpus, pids: c.resources.pids, diskBytes: BigInt(c.resources.diskBytes) },
    network: c.network === "bridge" ? NetworkMode.BRIDGE : c.network === "allow_list" ? NetworkMode.ALLOW_LIST : NetworkMode.NONE,
    ...(c.egress ? { egress: { hosts: c.egress.hosts, cidrs: c.egress.cidrs, ports: c.egress.ports } } : {}),
    env: c.env,
    workdir: c.workdir,
    user: c.user,
    executionTimeoutMs: c.executionTimeoutMs,
    ttlMs: c.ttlMs,
    idleTimeoutMs: c.idleTimeoutMs,
    security,
    labels: c.labels,
    commitOnClose: c.commitOnClose ?? "",
    containerId: c.containerId ?? "",
    podManifest: c.podManifest ?? "",
    commandWrapper: c.commandWrapper ?? [],
    artifacts: { disablePlotCapture: !c.capturePlots, outputDir: c.outputDir },
    autoPauseMs: c.autoPauseMs ?? 0,
    autoResume: c.autoResume ?? false,
    mounts: (c.mounts ?? []).map((m) => ({
      source: m.kind === "volume" ? { case: "volume" as const, value: m.volumeId } : { case: "hostPath" as const, value: m.hostPath },
      path: m.path,
      readOnly: m.readOnly,
    })),
  };
}

/** SANDBOX_STATE_CREATING is never reported: a sandbox exists once its container started. */
const states = {
  running: SandboxState.RUNNING,
  stopped: SandboxState.STOPPED,
  expired: SandboxState.EXPIRED,
  failed: SandboxState.FAILED,
  paused: SandboxState.PAUSED,
} as const;

export function sandboxToProto(s: Sandbox, backend: string, usage?: SandboxUsageReading): MessageInitShape<typeof SandboxSchema> {
  return {
    id: s.id,
    spec: specToProto(s.config),
    state: states[s.state],
    image: s.image,
    containerId: s.containerId,
    createdAt: timestampFromDate(s.createdAt),
    expiresAt: timestampFromDate(s.expiresAt),
    fromPool: s.fromPool,
    poolId: s.poolId,
    ...(s.pausedAt ? { pausedAt: timestampFromDate(s.pausedAt) } : {}),
    backend: backend === "podman" ? Backend.PODMAN : backend === "kubernetes" ? Backend.KUBERNETES : Backend.DOCKER,
    ...(usage ? { usage: usageToProto(usage) } : {}),
  };
}

const phases: Record<Phase, RunPhase> = { install: RunPhase.INSTALL, compile: RunPhase.COMPILE, run: RunPhase.RUN };
const exitStatuses: Record<ExitKind, ExitStatus> = {
  exited: ExitStatus.EXITED,
  timeout: ExitStatus.TIMEOUT,
  killed: ExitStatus.KILLED,
  oom: ExitStatus.OOM,
  cancelled: ExitStatus.CANCELLED,
  lost: ExitStatus.LOST,
};

export function exitStatusToProto(kind: ExitKind): ExitStatus {
  return exitStatuses[kind];
}

export function artifactToProto(a: ArtifactInfo): MessageInitShape<typeof ArtifactSchema> {
  return { ...a, size: BigInt(a.size), createdAt: timestampFromDate(a.createdAt) };
}

export function runEventToProto(ev: RunEvent): MessageInitShape<typeof RunEventSchema> {
  const b = ev.body;
  switch (b.type) {
    case "started":
      return { seq: BigInt(ev.seq), event: { case: "started", value: { runId: b.runId, pid: b.pid, phase: phases[b.phase], sandboxId: b.sandboxId } } };
    case "output":
      return {
        seq: BigInt(ev.seq),
        event: {
          case: "output",
          value: {
            stream: b.stream === "stdout" ? Stream.STDOUT : Stream.STDERR,
            data: b.data,
            offset: BigInt(b.offset),
            streamOffset: BigInt(b.streamOffset),
            phase: phases[b.phase],
          },
        },
      };
    case "artifact":
      return { seq: BigInt(ev.seq), event: { case: "artifact", value: artifactToProto(b.artifact) } };
    case "display":
      return { seq: BigInt(ev.seq), event: { case: "display", value: { data: b.data, metadataJson: b.metadataJson, artifactId: b.artifactId } } };
    case "result":
      return { seq: BigInt(ev.seq), event: { case: "result", value: { executionCount: b.executionCount, data: b.data } } };
    case "error":
      return { seq: BigInt(ev.seq), event: { case: "error", value: { name: b.name, value: b.value, traceback: b.traceback } } };
    case "exited":
      return {
        seq: BigInt(ev.seq),
        event: {
          case: "exited",
          value: {
            status: exitStatuses[b.exit.status],
            exitCode: b.exit.exitCode,
            signal: b.exit.signal,
            durationMs: b.exit.durationMs,
            stdoutBytes: BigInt(b.exit.stdoutBytes),
            stderrBytes: BigInt(b.exit.stderrBytes),
            truncated: b.exit.truncated,
            phase: phases[b.exit.phase],
            message: b.exit.message,
            kernelRestarted: b.exit.kernelRestarted,
            peakMemoryBytes: BigInt(b.exit.peakMemoryBytes ?? 0),
            cpuTimeMs: BigInt(b.exit.cpuTimeMs ?? 0),
            usageMeasured: b.exit.peakMemoryBytes !== undefined,
          },
        },
      };
  }
}

export function keepaliveEvent(): MessageInitShape<typeof RunEventSchema> {
  return { seq: 0n, event: { case: "keepalive", value: { at: timestampFromDate(new Date()) } } };
}

/** A download's `chunk` or `trailer` part as the message DownloadFiles and DownloadArtifact both stream. */
export function downloadPartToProto(part: { type: "chunk"; data: Uint8Array } | { type: "trailer"; bytes: number; sha256: string }): {
  message: { case: "chunk"; value: Uint8Array } | { case: "trailer"; value: MessageInitShape<typeof DownloadTrailerSchema> };
} {
  return part.type === "chunk"
    ? { message: { case: "chunk", value: part.data } }
    : { message: { case: "trailer", value: { bytes: BigInt(part.bytes), sha256: part.sha256 } } };
}

export function usageToProto(u: SandboxUsageReading): MessageInitShape<typeof SandboxUsageSchema> {
  if (!u.available) return { available: false, unavailableReason: u.reason, sampledAt: timestampFromDate(u.sampledAt) };
  const s = u.sample;
  return {
    available: true,
    sampledAt: timestampFromDate(u.sampledAt),
    memoryBytes: BigInt(s.memoryBytes),
    memoryPeakBytes: BigInt(s.memoryPeakBytes),
    memoryLimitBytes: BigInt(s.memoryLimitBytes),
    cpuTimeMs: BigInt(s.cpuTimeMs),
    processes: s.processes,
    processesLimit: s.processesLimit,
    paths: s.paths.map((p) => ({ path: p.path, usedBytes: BigInt(p.usedBytes), totalBytes: BigInt(p.totalBytes) })),
  };
}
