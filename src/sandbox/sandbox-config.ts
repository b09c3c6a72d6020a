import type { Config } from "../config/config.js";
import { failedPrecondition, invalidArgument } from "../common/errors.js";
import { checkCommandWrapper } from "./command-wrapper.js";
import { checkMounts, type MountRequest, type SandboxMount } from "./sandbox-mounts.js";
import type { LanguageHandler, LanguageRegistry } from "./languages.js";
import { checkEgressPolicy, type EgressPolicySpec } from "./egress-policy.js";

export interface ResourceLimits {
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** Size of each tmpfs (the workdir and /tmp). */
  diskBytes: number;
}

const MiB = 1024 * 1024;

/**
 * Memory no tmpfs may take: the workdir and /tmp are tmpfs whose pages count against the
 * container's memory limit, and a full memory cgroup OOM-kills processes (the agent among
 * them) instead of failing the write. A quarter of the memory, at least 64 MiB - but at
 * most half of it, so that small sandboxes (16-128 MiB) still get some disk.
 */
export function processHeadroom(memoryBytes: number): number {
  return Math.max(Math.floor(memoryBytes / 4), Math.min(64 * MiB, Math.floor(memoryBytes / 2)));
}

/** The most each of `mounts` tmpfs may be so that together they leave the headroom free. */
export function maxDiskBytes(memoryBytes: number, mounts: number): number {
  const each = Math.floor((memoryBytes - processHeadroom(memoryBytes)) / mounts);
  return each - (each % 4096);
}

function fmtMiB(bytes: number): string {
  return `${+(bytes / MiB).toFixed(1)} MiB`;
}

export interface PolicyPatternSpec {
  pattern: string;
  description: string;
  severity: string;
}

export interface PolicySpec {
  severityThreshold: string;
  patterns: PolicyPatternSpec[];
  restrictedModules: { name: string; description: string; severity: string }[];
}

/** What a request and the configuration made of it both hold, with the same types. */
interface SandboxSettings {
  language: string;
  image: string;
  resources: ResourceLimits;
  env: Record<string, string>;
  workdir: string;
  user: string;
  executionTimeoutMs: number;
  ttlMs: number;
  idleTimeoutMs: number;
  labels: Record<string, string>;
  outputDir: string;
}

/** A sandbox's effective configuration, defaults filled in. Stored in a container label. */
export interface SandboxConfig extends SandboxSettings {
  dockerfile?: { content: string; contextFiles: Record<string, string> };
  network: "none" | "bridge" | "allow_list";
  /** NETWORK_MODE_ALLOW_LIST: what the egress proxy lets through (src/sandbox/egress-policy.ts). */
  egress?: EgressPolicySpec;
  securityPreset?: string;
  securityPolicy?: PolicySpec;
  commitOnClose?: string;
  containerId?: string;
  /** Kubernetes: the client's Pod manifest (JSON), merged under the daemon's by the runtime. */
  podManifest?: string;
  /** The argv prefix of every user process (src/sandbox/command-wrapper.ts); absent when none. */
  commandWrapper?: string[];
  capturePlots: boolean;
  /** Pause after this long without calls (ms); absent: never (src/sandbox/sandbox.ts). */
  autoPauseMs?: number;
  /** Calls that need the sandbox running resume it when it is paused. */
  autoResume?: boolean;
  /** Volumes and host directories mounted into the sandbox (src/sandbox/sandbox-mounts.ts); absent when none. */
  mounts?: SandboxMount[];
}

/** What a client asked for; zero values mean "default". */
export interface SandboxRequest extends SandboxSettings {
  dockerfile?: { content: string; contextFiles: Record<string, Uint8Array> } | undefined;
  network: "unspecified" | "none" | "bridge" | "allow_list";
  egress?: EgressPolicySpec | undefined;
  securityPreset?: string | undefined;
  securityPolicy?: PolicySpec | undefined;
  commitOnClose: string;
  containerId: string;
  podManifest: string;
  commandWrapper: string[];
  disablePlotCapture: boolean;
  autoPauseMs?: number;
  autoResume?: boolean;
  /** SandboxSpec.mounts; absent or empty: none. */
  mounts?: MountRequest[];
}

// Labels live in container labels (pod labels on Kubernetes), which engines bound: a large
// value makes the engine answer 431 instead of a clear error.
const maxLabels = 64;
const maxLabelValueBytes = 1024;
const maxLabelBytes = 16 * 1024;
const labelKey = /^[a-zA-Z0-9][a-zA-Z0-9._\/-]{0,62}$/;
const envKey = /^[A-Za-z_][A-Za-z0-9_]*$/;
const imageRef = /^[a-z0-9][a-z0-9._\/:@-]{0,254}$/i;

/** A pod manifest is kept with the sandbox (in its labels), so it is small; its fields are the runtime's to judge. */
const maxPodManifestBytes = 32 * 1024;
function checkPodManifest(text: string): string {
  if (Buffer.byteLength(text) > maxPodManifestBytes)
    throw invalidArgument(`pod_manifest is larger than ${maxPodManifestBytes} bytes`, { reason: "POD_MANIFEST_INVALID" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`pod_manifest is not JSON: ${(err as Error).message}`, { reason: "POD_MANIFEST_INVALID" });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw invalidArgument("pod_manifest must be a JSON object (a Pod)", { reason: "POD_MANIFEST_INVALID" });
  return text;
}

function checkAbsolutePath(field: string, p: string): void {
  if (!p.startsWith("/") || p.includes("\0") || p.split("/").includes("..") || p.length > 1024) {
    throw invalidArgument(`${field} must be an absolute path without '..', got ${JSON.stringify(p.slice(0, 200))}`, { reason: "INVALID_PATH" });
  }
}

function limit(field: string, value: number, fallback: number, max: number): number {
  if (!Number.isFinite(value)) throw invalidArgument(`${field} must be a finite number, got ${value}`, { reason: "INVALID_LIMIT" });
  if (value < 0) throw invalidArgument(`${field} must not be negative`, { reason: "INVALID_LIMIT" });
  if (value === 0) return fallback;
  if (value > max) throw invalidArgument(`${field} ${value} is above the daemon's maximum ${max}`, { reason: "INVALID_LIMIT" });
  return value;
}

/** Validates a client's request and fills in defaults: the one place sandbox input is checked. */
export function resolveSandboxConfig(req: SandboxRequest, config: Config, languages: LanguageRegistry): { config: SandboxConfig; handler: LanguageHandler } {
  const handler = languages.get(req.language);
  const d = config.defaults;
  const l = config.limits;
  const resources: ResourceLimits = {
    memoryBytes: limit("resources.memory_bytes", req.resources.memoryBytes, d.memoryBytes, l.maxMemoryBytes),
    cpus: limit("resources.cpus", req.resources.cpus, d.cpus, l.maxCpus),
    pids: limit("resources.pids", req.resources.pids, d.pids, l.maxPids),
    diskBytes: limit("resources.disk_bytes", req.resources.diskBytes, d.diskBytes, l.maxDiskBytes),
  };
  if (resources.memoryBytes < 16 * 1024 * 1024) throw invalidArgument("resources.memory_bytes must be at least 16 MiB", { reason: "INVALID_LIMIT" });
  if (resources.pids < 8) throw invalidArgument("resources.pids must be at least 8", { reason: "INVALID_LIMIT" });
  if (resources.cpus < 0.01) throw invalidArgument("resources.cpus must be at least 0.01", { reason: "INVALID_LIMIT" });
  if (resources.diskBytes < 4 * 1024 * 1024) throw invalidArgument("resources.disk_bytes must be at least 4 MiB", { reason: "INVALID_LIMIT" });
  // Each tmpfs (the workdir, unless committed on close, and /tmp) may hold disk_bytes of
  // memory: together they must leave the processes their headroom. The default shrinks to
  // fit; an explicit size that does not fit is refused (a smaller disk than asked for would
  // surprise later, as ENOSPC).
  const mounts = req.commitOnClose ? 1 : 2;
  const fit = maxDiskBytes(resources.memoryBytes, mounts);
  if (req.resources.diskBytes === 0) {
    resources.diskBytes = Math.min(resources.diskBytes, fit);
  } else if (resources.diskBytes > fit) {
    const need = Math.ceil((mounts * resources.diskBytes) / MiB) * MiB;
    const minMemory = [need * 2, Math.ceil((need * 4) / 3), need + 64 * MiB].filter((m) => m - processHeadroom(m) >= need).sort((a, b) => a - b)[0] ?? need * 2;
    throw invalidArgument(
      `resources.disk_bytes ${fmtMiB(resources.diskBytes)} does not fit in resources.memory_bytes ${fmtMiB(resources.memoryBytes)}: ` +
        `${mounts === 2 ? "the workdir and /tmp are tmpfs of disk_bytes each" : "/tmp is a tmpfs of disk_bytes"}, counted against the memory limit, ` +
        `and ${fmtMiB(processHeadroom(resources.memoryBytes))} (a quarter, at least 64 MiB, at most half) must stay free for processes; ` +
        `ask for at most ${fmtMiB(fit)} of disk, or for at least ${fmtMiB(minMemory)} of memory`,
      { reason: "INVALID_LIMIT" },
    );
  }
  const workdir = req.workdir || d.workdir;
  checkAbsolutePath("workdir", workdir);
  // The workdir becomes a tmpfs owned by the sandbox user: over /etc it would hand that user
  // the system's files, over /usr/lib it would hide them. Only the allowed roots qualify.
  const roots = config.limits.workdirRoots
    .split(",")
    .map((r) => r.trim().replace(/\/+$/, ""))
    .filter((r) => r !== "");
  if (!roots.some((r) => workdir === r || workdir.startsWith(`${r}/`))) {
    throw invalidArgument(`workdir ${JSON.stringify(workdir)} is not under an allowed root (${roots.join(", ")}; setting limits.workdir-roots)`, {
      reason: "INVALID_PATH",
    });
  }
  for (const [k, v] of Object.entries(req.env)) {
    if (!envKey.test(k)) throw invalidArgument(`invalid environment variable name ${JSON.stringify(k)}`);
    if (v.includes("\0")) throw invalidArgument(`environment variable ${k} contains a NUL byte`);
  }
  const labelEntries = Object.entries(req.labels);
  if (labelEntries.length > maxLabels) throw invalidArgument(`at most ${maxLabels} labels, got ${labelEntries.length}`, { reason: "INVALID_LABEL" });
  let labelBytes = 0;
  for (const [k, v] of labelEntries) {
    if (!labelKey.test(k)) throw invalidArgument(`invalid label key ${JSON.stringify(k.slice(0, 100))}`, { reason: "INVALID_LABEL" });
    const size = Buffer.byteLength(v, "utf8");
    if (size > maxLabelValueBytes)
      throw invalidArgument(`label ${k}: a value has at most ${maxLabelValueBytes} bytes, got ${size}`, { reason: "INVALID_LABEL" });
    if (v.includes("\0")) throw invalidArgument(`label ${k} contains a NUL byte`, { reason: "INVALID_LABEL" });
    labelBytes += k.length + size;
  }
  if (labelBytes > maxLabelBytes) throw invalidArgument(`labels take at most ${maxLabelBytes} bytes in all, got ${labelBytes}`, { reason: "INVALID_LABEL" });
  const image = req.image || config.images[handler.name] || handler.image;
  if (!imageRef.test(image)) throw invalidArgument(`invalid image reference ${JSON.stringify(image)}`);
  if (req.user && !/^[a-z0-9_][a-z0-9_.-]{0,31}(?::[a-z0-9_][a-z0-9_.-]{0,31})?$/i.test(req.user)) {
    throw invalidArgument(`invalid user ${JSON.stringify(req.user)}`);
  }
  if (req.user === "root" || req.user === "0" || req.user.startsWith("0:") || req.user.startsWith("root:")) {
    throw invalidArgument("sandboxes do not run as root", { reason: "ROOT_NOT_ALLOWED" });
  }
  if (req.commitOnClose && !imageRef.test(req.commitOnClose)) throw invalidArgument(`invalid commit_on_close image name ${JSON.stringify(req.commitOnClose)}`);
  if (req.containerId && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(req.containerId)) throw invalidArgument("invalid container_id");
  const outputDir = req.outputDir || `${workdir}/output`;
  checkAbsolutePath("artifacts.output_dir", outputDir);
  const out: SandboxConfig = {
    language: handler.name,
    image,
    resources,
    network: req.network === "bridge" || req.network === "allow_list" ? req.network : "none",
    ...(req.network !== "allow_list" && req.egress && req.egress.hosts.length + req.egress.cidrs.length + req.egress.ports.length > 0
      ? (() => {
          throw invalidArgument("egress lists hosts, CIDRs or ports, which only a NETWORK_MODE_ALLOW_LIST sandbox uses", { reason: "EGRESS_POLICY_INVALID" });
        })()
      : {}),
    ...(req.network === "allow_list" ? { egress: checkEgressPolicy(req.egress ?? { hosts: [], cidrs: [], ports: [] }) } : {}),
    env: { ...req.env },
    workdir,
    user: req.user || config.sandboxUser,
    executionTimeoutMs: limit("execution_timeout_ms", req.executionTimeoutMs, d.executionTimeoutMs, l.maxTimeoutMs),
    ttlMs: limit("ttl_ms", req.ttlMs, d.ttlMs, l.maxTimeoutMs),
    idleTimeoutMs: limit("idle_timeout_ms", req.idleTimeoutMs, d.idleTimeoutMs, l.maxTimeoutMs),
    labels: { ...req.labels },
    capturePlots: !req.disablePlotCapture && handler.plots,
    outputDir,
  };
  if (req.dockerfile && req.dockerfile.content.trim() !== "") {
    out.dockerfile = {
      content: req.dockerfile.content,
      contextFiles: Object.fromEntries(Object.entries(req.dockerfile.contextFiles).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    };
  }
  if (req.securityPreset) out.securityPreset = req.securityPreset;
  if (req.securityPolicy) out.securityPolicy = req.securityPolicy;
  if (req.commitOnClose) out.commitOnClose = req.commitOnClose;
  if (req.containerId) out.containerId = req.containerId;
  if (req.podManifest) out.podManifest = checkPodManifest(req.podManifest);
  if (req.commandWrapper.length > 0) out.commandWrapper = checkCommandWrapper(req.commandWrapper);
  if (req.autoPauseMs) {
    if (config.backend === "kubernetes") {
      throw failedPrecondition("auto_pause_ms is not available on the Kubernetes backend: it cannot pause a pod", { reason: "NOT_SUPPORTED_BY_BACKEND" });
    }
    out.autoPauseMs = limit("auto_pause_ms", req.autoPauseMs, 0, l.maxTimeoutMs);
  }
  if (req.autoResume) out.autoResume = true;
  if (req.mounts && req.mounts.length > 0) {
    if (req.containerId) throw invalidArgument("mounts cannot be added to an existing container (container_id)", { reason: "VOLUME_MOUNT_INVALID" });
    out.mounts = checkMounts(req.mounts, config, workdir);
  }
  return { config: out, handler };
}

/** A request that asks for nothing but the language: every field at its "default" zero. */
export function emptyRequest(language: string): SandboxRequest {
  return {
    language,
    image: "",
    resources: { memoryBytes: 0, cpus: 0, pids: 0, diskBytes: 0 },
    network: "unspecified",
    env: {},
    workdir: "",
    user: "",
    executionTimeoutMs: 0,
    ttlMs: 0,
    idleTimeoutMs: 0,
    labels: {},
    commitOnClose: "",
    containerId: "",
    podManifest: "",
    commandWrapper: [],
    disablePlotCapture: false,
    outputDir: "",
  };
}
