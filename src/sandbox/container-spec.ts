import type { ContainerSpec } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";
import type { SandboxConfig } from "./sandbox-config.js";

export interface SandboxSpecInput {
  daemonId: string;
  id: string;
  tenant: string;
  config: SandboxConfig;
  image: string;
  createdAt: Date;
  /** The language's environment (the sandbox's own env overrides it). */
  languageEnv: Record<string, string> | undefined;
}

/** Labels selecting one daemon's containers. */
export function daemonLabels(daemonId: string): Record<string, string> {
  return { [Label.managed]: "true", [Label.daemon]: daemonId };
}

/**
 * What a sandbox's container is: its state in labels (so a restarted daemon finds it
 * again), its limits, and the secure defaults. Backend differences (Podman's ulimits) are
 * the runtime's, not this spec's.
 */
export function sandboxContainerSpec(input: SandboxSpecInput): ContainerSpec {
  const { config, id, createdAt } = input;
  const labels: Record<string, string> = {
    ...daemonLabels(input.daemonId),
    [Label.sandboxId]: id,
    [Label.tenant]: input.tenant,
    [Label.createdAt]: String(createdAt.getTime()),
    [Label.expiresAt]: String(createdAt.getTime() + config.ttlMs),
    [Label.config]: JSON.stringify(config),
  };
  for (const [k, v] of Object.entries(config.labels)) labels[Label.userPrefix + k] = v;
  return {
    name: `sandboxd-${input.daemonId}-${id}`,
    image: input.image,
    labels,
    env: { ...(input.languageEnv ?? {}), ...config.env, HOME: config.workdir },
    workdir: config.workdir,
    user: config.user,
    memoryBytes: config.resources.memoryBytes,
    cpus: config.resources.cpus,
    pids: config.resources.pids,
    diskBytes: config.resources.diskBytes,
    network: "none",
    // A sandbox committed on close keeps its changes (workdir included) in the container
    // layer, so its root is writable and its workdir is not a tmpfs.
    readOnlyRoot: config.commitOnClose === undefined,
    workdirTmpfs: config.commitOnClose === undefined,
    ...(config.podManifest ? { podManifest: config.podManifest } : {}),
    ...(config.mounts && config.mounts.length > 0
      ? {
          mounts: config.mounts.map((m) => ({
            type: m.kind === "volume" ? ("volume" as const) : ("bind" as const),
            source: m.source,
            target: m.path,
            readOnly: m.readOnly,
          })),
        }
      : {}),
  };
}
