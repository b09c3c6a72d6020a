import { ConfigError } from "./config.js";

/**
 * llm-sandbox's MCP server is configured by environment variables (BACKEND, SANDBOX_MEMORY,
 * SANDBOX_NETWORK_MODE, ...). `sandboxd mcp` accepts the ones that mean the same thing here,
 * as the SANDBOXD_* setting they name; a SANDBOXD_* variable or a flag wins over them.
 */
const aliases: Record<string, string> = {
  BACKEND: "SANDBOXD_BACKEND",
  SANDBOX_MEMORY: "SANDBOXD_DEFAULTS__MEMORY_BYTES",
  SANDBOX_MEM_LIMIT: "SANDBOXD_DEFAULTS__MEMORY_BYTES",
  SANDBOX_CPUS: "SANDBOXD_DEFAULTS__CPUS",
  SANDBOX_CPU_COUNT: "SANDBOXD_DEFAULTS__CPUS",
  SANDBOX_NETWORK_MODE: "SANDBOXD_MCP_NETWORK",
  NAMESPACE: "SANDBOXD_KUBERNETES__NAMESPACE",
  DOCKER_HOST: "SANDBOXD_ENGINE_ENDPOINT",
};

/** Names llm-sandbox reads that have no meaning here (sandboxd's own rules apply), with why. */
const ignored: Record<string, string> = {
  COMMIT_CONTAINER: "sandboxes are never committed by the MCP tools",
  KEEP_TEMPLATE: "sandboxd keeps no template containers",
  SANDBOX_READ_ONLY: "sandboxes always have a read-only root",
  SANDBOX_CAP_DROP: "sandboxes always drop every capability",
  SANDBOX_SECURITY_OPT: "sandboxes always run with no-new-privileges and a seccomp profile",
};

/** The environment with llm-sandbox's names added as SANDBOXD_* names; notes for what is ignored. */
export function llmSandboxEnv(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; notes: string[] } {
  const out: NodeJS.ProcessEnv = { ...env };
  const notes: string[] = [];
  for (const [name, target] of Object.entries(aliases)) {
    const value = env[name];
    if (value === undefined || value === "" || out[target] !== undefined) continue;
    if (name === "SANDBOX_NETWORK_MODE" && !["none", "bridge"].includes(value)) {
      throw new ConfigError(`SANDBOX_NETWORK_MODE must be none or bridge here, got ${JSON.stringify(value)} (a sandbox never shares the host's network)`);
    }
    out[target] = value;
  }
  const privileged = env["SANDBOX_PRIVILEGED"];
  if (privileged !== undefined && ["1", "true", "yes"].includes(privileged.toLowerCase())) {
    throw new ConfigError("SANDBOX_PRIVILEGED: sandboxd never runs privileged sandboxes");
  }
  for (const [name, why] of Object.entries(ignored)) if (env[name] !== undefined) notes.push(`${name} is ignored: ${why}`);
  return { env: out, notes };
}
