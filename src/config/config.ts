import { readFileSync } from "node:fs";
import { defaultStateDir, persistentDaemonId } from "./daemon-id.js";

/**
 * The daemon's configuration: defaults, then an optional JSON file (--config), then
 * SANDBOXD_* environment variables, then --flags. Parsed and validated once into this
 * typed object; nothing else reads process.env or argv.
 */
export interface Config {
  /** host:port (TCP) or unix:/path. */
  listen: string;
  /** Names this daemon's sandboxes; empty: the persistent id of this host and state dir. */
  daemonId: string;
  /** What outlives the daemon on this host (its id); empty: /var/lib/sandboxd or ~/.local/state/sandboxd. */
  stateDir: string;
  logLevel: string;
  backend: "docker" | "podman" | "kubernetes";
  /** Engine endpoint: unix socket path or tcp://host:port. Empty: the backend's default. */
  engineEndpoint: string;
  engineTlsDir: string;
  /** An engine call slower than this fails (DEADLINE_EXCEEDED) instead of hanging a client call. */
  engineCallTimeoutMs: number;
  /** Run an init process as PID 1 in sandboxes so orphans are reaped. */
  sandboxInit: boolean;
  sandboxUser: string;
  /** The engine's OCI runtime for sandboxes (e.g. runsc for gVisor); empty: the engine's default. */
  sandboxRuntime: string;
  defaults: {
    memoryBytes: number;
    cpus: number;
    pids: number;
    diskBytes: number;
    executionTimeoutMs: number;
    ttlMs: number;
    idleTimeoutMs: number;
    workdir: string;
  };
  limits: {
    maxMemoryBytes: number;
    maxCpus: number;
    maxPids: number;
    maxDiskBytes: number;
    maxTimeoutMs: number;
    maxCodeBytes: number;
    maxMessageBytes: number;
    /** Comma-separated directories a sandbox's workdir may be, or be under. */
    workdirRoots: string;
  };
  /** Output beyond this many bytes per run is dropped (truncated). */
  maxOutputBytes: number;
  /** Bytes of output each run keeps for Attach. */
  replayBytes: number;
  /**
   * Budget for the output all runs keep in memory (replay windows and output followers have
   * not taken yet); over it, finished runs' replay is dropped first, then live runs' replay.
   */
  maxBufferedBytes: number;
  /** How long a finished run stays attachable. */
  runRetentionMs: number;
  keepaliveMs: number;
  shutdownGraceMs: number;
  reaperIntervalMs: number;
  /** language -> image overrides. */
  images: Record<string, string>;
  /** language -> number of warm sandboxes kept ready (default settings only). */
  pools: Record<string, number>;
  /** Pool members created at once. */
  poolRefillConcurrency: number;
  /** The largest max_size of a pool created over the API (PoolService), and its default. */
  poolMaxSize: number;
  /** Pools a tenant may create over the API (PoolService). */
  maxPoolsPerTenant: number;
  /** Use the resident agent when the image can run it. */
  agent: boolean;
  podmanUlimits: { nofile: number; nproc: number };
  /** Podman's own default seccomp profile, hardened into the one its sandboxes get. */
  podmanSeccompBase: string;
  auth: {
    /** File of `<tenant> <sha256 hex of token>` lines. */
    tokensFile: string;
    /** The same entries, comma-separated (env SANDBOXD_AUTH__TOKENS). */
    tokens: string;
  };
  tls: {
    certFile: string;
    keyFile: string;
    /** When set, clients must present a certificate signed by this CA (mTLS). */
    clientCaFile: string;
  };
  /** Allow listening off loopback without TLS and tokens. */
  insecure: boolean;
  /** host:port of a Prometheus-format /metrics endpoint; empty: off. */
  metricsListen: string;
  /** host:port where the Model Context Protocol is served over Streamable HTTP (at /mcp); empty: off. */
  mcpListen: string;
  /** MCP sessions (HTTP) open at once; more are refused until one closes or idles out. */
  mcpMaxSessions: number;
  /** An MCP session (HTTP) without a request for this long is closed. */
  mcpSessionIdleMs: number;
  /** The network of sandboxes MCP tools create: none or bridge (llm-sandbox's SANDBOX_NETWORK_MODE). */
  mcpNetwork: string;
  /** The Kubernetes backend (backend "kubernetes"): where its pods and leases live. */
  kubernetes: {
    /** The namespace of this daemon's pods and leases (it must exist). */
    namespace: string;
    /** A kubeconfig file; empty: $KUBECONFIG, ~/.kube/config, or the pod's service account. */
    kubeconfig: string;
    /** The kubeconfig context; empty: its current one. */
    context: string;
    /** Pods' imagePullPolicy: IfNotPresent, Never (images imported into the nodes) or Always. */
    imagePullPolicy: string;
    /** RuntimeClass of sandbox pods (gVisor, Kata); empty: the cluster's default. */
    runtimeClass: string;
    /** How long a pod may take from created to running (image pull included). */
    startTimeoutMs: number;
    /** How long a pod may stay unschedulable before CreateSandbox gives up on it. */
    unschedulableTimeoutMs: number;
    /** StorageClass of the PersistentVolumeClaims behind named volumes (VolumeService); empty: no volumes on Kubernetes. */
    storageClass: string;
  };
  /** Bridged sandboxes (NETWORK_MODE_BRIDGE): each on its own network, kept off the host. */
  network: {
    /** "iptables": the daemon installs the host rules; "off": the operator has their own. */
    hostFirewall: string;
    /** Comma-separated TCP ports of the host that bridged sandboxes may reach (e.g. a package mirror). */
    hostAllowPorts: string;
    /**
     * The network of a Dockerfile's RUN steps: "none", or "default" (the engine's default
     * bridge, which the host firewall does not cover: builds then reach what it reaches).
     */
    build: string;
  };
  /** Allow the metrics endpoint off loopback (it has no authentication). */
  metricsInsecure: boolean;
  /** A policy check slower than this refuses the code (regexes can backtrack on hostile input). */
  policyCheckTimeoutMs: number;
  /** Worker threads running policy checks at once; tenants take turns at them. */
  policyCheckWorkers: number;
  /**
   * Attaching to containers sandboxd did not create (`SandboxSpec.container_id`): off
   * unless tenants are listed; see src/sandbox/attach-policy.ts.
   */
  attach: { tenants: string; names: string; labels: string };
  /** Python runs (issue 17): see docs/architecture.md › Python fork server. */
  python: {
    /** Fork Python runs from a started interpreter in the sandbox (the agent's fork server) instead of starting python3 each time. */
    forkServer: boolean;
    /** Comma-separated modules the fork server imports before it forks runs (e.g. numpy,pandas). */
    preload: string;
  };
  /** Volumes (VolumeService) and host binds (SandboxSpec.mounts); docs/volumes.md. */
  volumes: {
    /**
     * Comma-separated host directories sandboxes may bind-mount (`/srv/data` read-only,
     * `/srv/shared:rw` read-write); empty: no host binds at all.
     */
    hostBinds: string;
    /** Comma-separated directories a mount's path in the sandbox must be, or be under. */
    mountRoots: string;
    /** Volumes one tenant may have; 0: unlimited. */
    maxPerTenant: number;
  };
  /** Per-tenant limits; 0 means unlimited. */
  quotas: {
    maxSandboxes: number;
    maxConcurrentRuns: number;
    maxMemoryBytes: number;
  };
}

export const defaultConfig: Config = {
  listen: "127.0.0.1:50051",
  daemonId: "",
  stateDir: "",
  logLevel: "info",
  backend: "docker",
  engineEndpoint: "",
  engineTlsDir: "",
  engineCallTimeoutMs: 60_000,
  sandboxInit: true,
  sandboxUser: "1000:1000",
  sandboxRuntime: "",
  defaults: {
    memoryBytes: 512 * 1024 * 1024,
    cpus: 1,
    pids: 256,
    diskBytes: 512 * 1024 * 1024,
    executionTimeoutMs: 30_000,
    ttlMs: 60 * 60 * 1000,
    idleTimeoutMs: 15 * 60 * 1000,
    workdir: "/sandbox",
  },
  limits: {
    maxMemoryBytes: 16 * 1024 * 1024 * 1024,
    maxCpus: 64,
    maxPids: 32768,
    maxDiskBytes: 64 * 1024 * 1024 * 1024,
    maxTimeoutMs: 24 * 60 * 60 * 1000,
    maxCodeBytes: 4 * 1024 * 1024,
    maxMessageBytes: 8 * 1024 * 1024,
    workdirRoots: "/sandbox,/workspace,/work,/home,/app,/code,/data,/mnt",
  },
  maxOutputBytes: 16 * 1024 * 1024,
  replayBytes: 8 * 1024 * 1024,
  maxBufferedBytes: 256 * 1024 * 1024,
  runRetentionMs: 5 * 60 * 1000,
  keepaliveMs: 15_000,
  shutdownGraceMs: 10_000,
  reaperIntervalMs: 1_000,
  images: {},
  pools: {},
  poolRefillConcurrency: 2,
  poolMaxSize: 50,
  maxPoolsPerTenant: 8,
  agent: true,
  podmanUlimits: { nofile: 4096, nproc: 4096 },
  podmanSeccompBase: "/usr/share/containers/seccomp.json",
  auth: { tokensFile: "", tokens: "" },
  tls: { certFile: "", keyFile: "", clientCaFile: "" },
  insecure: false,
  metricsListen: "",
  mcpListen: "",
  mcpMaxSessions: 64,
  mcpSessionIdleMs: 30 * 60_000,
  mcpNetwork: "none",
  metricsInsecure: false,
  kubernetes: {
    namespace: "sandboxd",
    kubeconfig: "",
    context: "",
    imagePullPolicy: "IfNotPresent",
    runtimeClass: "",
    startTimeoutMs: 120_000,
    unschedulableTimeoutMs: 10_000,
    storageClass: "",
  },
  network: { hostFirewall: "iptables", hostAllowPorts: "", build: "none" },
  policyCheckTimeoutMs: 2_000,
  policyCheckWorkers: 2,
  attach: { tenants: "", names: "", labels: "" },
  python: { forkServer: false, preload: "" },
  volumes: { hostBinds: "", mountRoots: "/data,/mnt,/workspace,/sandbox,/home", maxPerTenant: 32 },
  quotas: { maxSandboxes: 0, maxConcurrentRuns: 0, maxMemoryBytes: 0 },
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Flat = Record<string, string>;

/** Flattens nested config keys to kebab-case paths: defaults.memoryBytes -> defaults.memory-bytes. */
function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function parseArgs(argv: readonly string[]): { flat: Flat; configFile?: string } {
  const flat: Flat = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}`);
    let key = arg.slice(2);
    let value: string;
    const eq = key.indexOf("=");
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith("--")) {
      value = argv[++i] as string;
    } else {
      value = "true";
    }
    if (key === "config") configFile = value;
    else flat[key] = value;
  }
  return configFile === undefined ? { flat } : { flat, configFile };
}

function fromEnv(env: NodeJS.ProcessEnv): Flat {
  const flat: Flat = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("SANDBOXD_") || v === undefined) continue;
    // SANDBOXD_DEFAULTS__MEMORY_BYTES -> defaults.memory-bytes
    const key = k
      .slice("SANDBOXD_".length)
      .toLowerCase()
      .split("__")
      .map((p) => p.replace(/_/g, "-"))
      .join(".");
    flat[key] = v;
  }
  return flat;
}

const sizeUnits: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};
const timeUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, "": 1 };

/** Parses "512m", "1g", "1048576" into bytes. */
export function parseBytes(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = sizeUnits[(m?.[2] ?? "x").toLowerCase()];
  if (!m || unit === undefined) throw new ConfigError(`invalid size ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * unit);
}

/** Parses "30s", "5m", "1500ms", "1500" (ms) into milliseconds. */
export function parseDuration(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(v);
  const unit = timeUnits[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) throw new ConfigError(`invalid duration ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * unit);
}

function setPath(target: Record<string, unknown>, path: string, raw: string, template: Record<string, unknown>): void {
  const parts = path.split(".");
  let obj = target;
  let tmpl: unknown = template;
  for (let i = 0; i < parts.length; i++) {
    const camel = (parts[i] as string).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const last = i === parts.length - 1;
    const t = (tmpl as Record<string, unknown>)[camel];
    if (t === undefined && !(tmpl === template["images"] || tmpl === template["pools"])) {
      throw new ConfigError(`unknown setting ${JSON.stringify(path)}`);
    }
    if (last) {
      obj[camel] = coerce(path, raw, t);
      return;
    }
    if ((camel === "images" || camel === "pools") && i === parts.length - 2) {
      const key = parts[i + 1] as string;
      if (camel === "pools") {
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 0 || n > 1000) throw new ConfigError(`${path}: expected a pool size from 0 to 1000, got ${JSON.stringify(raw)}`);
        (obj["pools"] as Record<string, number>)[key] = n;
      } else {
        (obj["images"] as Record<string, string>)[key] = raw;
      }
      return;
    }
    obj = obj[camel] as Record<string, unknown>;
    tmpl = t;
  }
}

function coerce(path: string, raw: string, template: unknown): unknown {
  if (typeof template === "boolean") {
    if (!["true", "false", "1", "0"].includes(raw)) throw new ConfigError(`${path}: expected true or false, got ${JSON.stringify(raw)}`);
    return raw === "true" || raw === "1";
  }
  if (typeof template === "number") {
    if (/bytes$/i.test(path)) return parseBytes(raw);
    if (/ms$/i.test(path)) return parseDuration(raw);
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new ConfigError(`${path}: expected a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (typeof template === "object" && template !== null) {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      throw new ConfigError(`${path}: expected JSON`);
    }
  }
  return raw;
}

/**
 * Merges a config file's object into the settings. Keys are the flags' (`memory-bytes`) or
 * camelCase (`memoryBytes`); values are JSON, and a string where a size, duration, number
 * or boolean belongs is read as the flag's value would be ("1g", "30s", "true").
 */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>, at = ""): void {
  const free = at === "images" || at === "pools"; // keys are languages
  for (const [rawKey, v] of Object.entries(over)) {
    const k = free ? rawKey : rawKey.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const path = at ? `${at}.${kebab(k)}` : kebab(k);
    if (!(k in base) && !free) throw new ConfigError(`unknown setting ${JSON.stringify(path)} in config file`);
    const b = base[k];
    if (b !== null && typeof b === "object" && !Array.isArray(b) && v !== null && typeof v === "object") {
      deepMerge(b as Record<string, unknown>, v as Record<string, unknown>, path);
    } else if (typeof v === "string" && (typeof b === "number" || typeof b === "boolean")) {
      base[k] = coerce(path, v, b);
    } else if (!free && (typeof b === "number" || typeof b === "boolean" || typeof b === "string") && typeof v !== typeof b) {
      throw new ConfigError(`${path} in config file: expected a ${typeof b}, got ${JSON.stringify(v)}`);
    } else {
      base[k] = v;
    }
  }
}

/** A config file is JSON; lines whose first characters are `//` are comments. */
function parseConfigFile(text: string): unknown {
  return JSON.parse(
    text
      .split("\n")
      .map((line) => (/^\s*\/\//.test(line) ? "" : line))
      .join("\n"),
  );
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const cfg = structuredClone(defaultConfig) as unknown as Record<string, unknown>;
  const { flat: flagFlat, configFile } = parseArgs(argv);
  const envFlat = fromEnv(env);
  const file = configFile ?? envFlat["config"];
  delete envFlat["config"];
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseConfigFile(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    deepMerge(cfg, parsed as Record<string, unknown>);
  }
  const template = defaultConfig as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(envFlat)) {
    // SANDBOXD_ADDRESS, SANDBOXD_TOKEN and friends belong to clients: unknown env names are not errors.
    try {
      setPath(cfg, k, v, template);
    } catch (err) {
      if (!(err instanceof ConfigError && err.message.startsWith("unknown setting"))) throw err;
    }
  }
  for (const [k, v] of Object.entries(flagFlat)) setPath(cfg, k, v, template);
  const config = cfg as unknown as Config;
  validate(config);
  if (config.stateDir === "") config.stateDir = defaultStateDir(env);
  if (config.daemonId === "") {
    try {
      config.daemonId = persistentDaemonId(config.stateDir);
    } catch (err) {
      throw new ConfigError(`cannot keep a daemon id in ${config.stateDir}: ${(err as Error).message} (set --state-dir or --daemon-id)`);
    }
  }
  return config;
}

function validate(c: Config): void {
  if (!["docker", "podman", "kubernetes"].includes(c.backend))
    throw new ConfigError(`backend must be docker, podman or kubernetes, got ${JSON.stringify(c.backend)}`);
  if (!["IfNotPresent", "Never", "Always"].includes(c.kubernetes.imagePullPolicy))
    throw new ConfigError(`kubernetes.image-pull-policy must be IfNotPresent, Never or Always, got ${JSON.stringify(c.kubernetes.imagePullPolicy)}`);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(c.kubernetes.namespace)) throw new ConfigError("kubernetes.namespace must be a DNS label");
  if (c.sandboxRuntime !== "" && c.backend === "kubernetes") throw new ConfigError("sandbox-runtime is for Docker; on Kubernetes set kubernetes.runtime-class");
  if (c.daemonId !== "" && !/^[a-z0-9][a-z0-9-]{0,40}$/.test(c.daemonId)) throw new ConfigError("daemon-id must be lowercase letters, digits and dashes");
  if (!c.listen.startsWith("unix:") && !/^[^\s]+:\d+$/.test(c.listen))
    throw new ConfigError(`listen must be host:port or unix:/path, got ${JSON.stringify(c.listen)}`);
  const positive: [string, number][] = [
    ["defaults.memory-bytes", c.defaults.memoryBytes],
    ["defaults.cpus", c.defaults.cpus],
    ["defaults.pids", c.defaults.pids],
    ["defaults.disk-bytes", c.defaults.diskBytes],
    ["max-output-bytes", c.maxOutputBytes],
    ["replay-bytes", c.replayBytes],
    ["max-buffered-bytes", c.maxBufferedBytes],
    ["keepalive-ms", c.keepaliveMs],
    ["kubernetes.start-timeout-ms", c.kubernetes.startTimeoutMs],
    ["kubernetes.unschedulable-timeout-ms", c.kubernetes.unschedulableTimeoutMs],
    ["policy-check-workers", c.policyCheckWorkers],
    ["pool-max-size", c.poolMaxSize],
    ["pool-refill-concurrency", c.poolRefillConcurrency],
  ];
  for (const [name, v] of positive) if (!(v > 0)) throw new ConfigError(`${name} must be positive`);
  if (!c.defaults.workdir.startsWith("/")) throw new ConfigError("defaults.workdir must be absolute");
  if (!["trace", "debug", "info", "warn", "error", "fatal", "silent"].includes(c.logLevel)) throw new ConfigError(`invalid log-level ${c.logLevel}`);
  if ((c.tls.certFile === "") !== (c.tls.keyFile === "")) throw new ConfigError("tls.cert-file and tls.key-file go together");
  if (c.tls.clientCaFile && !c.tls.certFile) throw new ConfigError("tls.client-ca-file (mTLS) needs tls.cert-file and tls.key-file");
  if (c.sandboxRuntime !== "" && c.backend === "podman") {
    // Podman's Docker-compatible API ignores HostConfig.Runtime: the sandbox would silently run under runc.
    throw new ConfigError(
      "sandbox-runtime is not honoured by Podman's API; set the runtime in Podman's containers.conf ([engine] runtime = \"runsc\") instead",
    );
  }
  if (c.mcpListen !== "" && !/^[^\s]+:\d+$/.test(c.mcpListen)) throw new ConfigError(`mcp-listen must be host:port, got ${JSON.stringify(c.mcpListen)}`);
  if (!["none", "bridge"].includes(c.mcpNetwork)) throw new ConfigError(`mcp-network must be none or bridge, got ${JSON.stringify(c.mcpNetwork)}`);
  if (!(Number.isInteger(c.mcpMaxSessions) && c.mcpMaxSessions > 0)) throw new ConfigError("mcp-max-sessions must be a whole number, 1 or more");
  for (const m of c.python.preload.split(",").map((s) => s.trim())) {
    if (m !== "" && !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(m))
      throw new ConfigError(`python.preload: ${JSON.stringify(m)} is not a module name`);
  }
  if (!["none", "default"].includes(c.network.build)) throw new ConfigError(`network.build must be none or default, got ${JSON.stringify(c.network.build)}`);
  if (!["iptables", "off"].includes(c.network.hostFirewall))
    throw new ConfigError(`network.host-firewall must be iptables or off, got ${JSON.stringify(c.network.hostFirewall)}`);
  for (const p of hostAllowPorts(c))
    if (!(Number.isInteger(p) && p > 0 && p < 65536)) throw new ConfigError(`network.host-allow-ports: ${p} is not a TCP port`);
  if (!(Number.isInteger(c.maxPoolsPerTenant) && c.maxPoolsPerTenant >= 0)) throw new ConfigError("max-pools-per-tenant must be a whole number, 0 or more");
  for (const [name, v] of Object.entries(c.quotas)) if (!(v >= 0)) throw new ConfigError(`quotas.${kebab(name)} must not be negative`);
  for (const b of hostBinds(c)) {
    if (!b.path.startsWith("/") || b.path.split("/").includes(".."))
      throw new ConfigError(`volumes.host-binds: ${JSON.stringify(b.path)} must be an absolute path without '..'`);
  }
  for (const r of mountRoots(c)) {
    if (!r.startsWith("/") || r === "/" || r.split("/").includes(".."))
      throw new ConfigError(`volumes.mount-roots: ${JSON.stringify(r)} must be an absolute directory other than /`);
  }
  if (!(Number.isInteger(c.volumes.maxPerTenant) && c.volumes.maxPerTenant >= 0))
    throw new ConfigError("volumes.max-per-tenant must be a whole number, 0 or more");
}

/** One entry of volumes.host-binds: a host directory, read-only unless it ends in `:rw`. */
export interface HostBindEntry {
  path: string;
  writable: boolean;
}

export function hostBinds(c: Config): HostBindEntry[] {
  return c.volumes.hostBinds
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "")
    .map((e) => {
      const m = /^(.*):(rw|ro)$/.exec(e);
      const path = (m ? (m[1] as string) : e).replace(/(.)\/+$/, "$1");
      return { path, writable: m?.[2] === "rw" };
    });
}

export function mountRoots(c: Config): string[] {
  return c.volumes.mountRoots
    .split(",")
    .map((r) => r.trim().replace(/(.)\/+$/, "$1"))
    .filter((r) => r !== "");
}

export function hostAllowPorts(c: Config): number[] {
  return c.network.hostAllowPorts
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .map(Number);
}

/** The configuration table for --help and the README. */
export function describeConfig(): string {
  const rows: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + kebab(k);
      if (v !== null && typeof v === "object" && !Array.isArray(v) && k !== "images" && k !== "pools") walk(v as Record<string, unknown>, `${key}.`);
      else rows.push(`  --${key}  (default ${JSON.stringify(v)})`);
    }
  };
  walk(defaultConfig as unknown as Record<string, unknown>, "");
  return rows.join("\n");
}
