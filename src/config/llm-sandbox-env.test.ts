import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";
import { llmSandboxEnv } from "./llm-sandbox-env.js";

const base = { SANDBOXD_DAEMON_ID: "t", SANDBOXD_STATE_DIR: "/nonexistent" };

describe("llm-sandbox's MCP environment names", () => {
  it("set the settings they mean", () => {
    const { env, notes } = llmSandboxEnv({
      ...base,
      BACKEND: "podman",
      SANDBOX_MEMORY: "1g",
      SANDBOX_CPUS: "2",
      SANDBOX_NETWORK_MODE: "bridge",
      NAMESPACE: "agents",
    });
    const c = loadConfig([], env);
    expect(c.backend).toBe("podman");
    expect(c.defaults.memoryBytes).toBe(1024 ** 3);
    expect(c.defaults.cpus).toBe(2);
    expect(c.mcpNetwork).toBe("bridge");
    expect(c.kubernetes.namespace).toBe("agents");
    expect(notes).toEqual([]);
  });

  it("yield to SANDBOXD_* names and flags", () => {
    const { env } = llmSandboxEnv({ ...base, BACKEND: "podman", SANDBOXD_BACKEND: "docker", SANDBOX_MEM_LIMIT: "256m" });
    const c = loadConfig(["--defaults.memory-bytes", "2g"], env);
    expect(c.backend).toBe("docker");
    expect(c.defaults.memoryBytes).toBe(2 * 1024 ** 3);
  });

  it("refuse what sandboxd never does, and note what it ignores", () => {
    expect(() => llmSandboxEnv({ SANDBOX_NETWORK_MODE: "host" })).toThrow(ConfigError);
    expect(() => llmSandboxEnv({ SANDBOX_NETWORK_MODE: "host" })).toThrow(/never shares the host's network/);
    expect(() => llmSandboxEnv({ SANDBOX_PRIVILEGED: "true" })).toThrow(/never runs privileged/);
    expect(llmSandboxEnv({ SANDBOX_PRIVILEGED: "false" }).notes).toEqual([]);
    expect(llmSandboxEnv({ COMMIT_CONTAINER: "true", SANDBOX_READ_ONLY: "false" }).notes).toEqual([
      expect.stringMatching(/^COMMIT_CONTAINER is ignored/),
      expect.stringMatching(/^SANDBOX_READ_ONLY is ignored: sandboxes always have a read-only root/),
    ]);
    expect(() => loadConfig([], llmSandboxEnv({ ...base, SANDBOX_MEMORY: "lots" }).env)).toThrow(/invalid size "lots"/);
  });
});
