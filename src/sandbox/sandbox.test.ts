import { describe, expect, it } from "vitest";
import { unavailable } from "../common/errors.js";
import { silentLogger } from "../common/logger.js";
import { defaultConfig } from "../config/config.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { LanguageRegistry } from "./languages.js";
import { Sandbox } from "./sandbox.js";
import { emptyRequest, resolveSandboxConfig } from "./sandbox-config.js";

const languages = new LanguageRegistry();
const { config, handler } = resolveSandboxConfig(emptyRequest("python"), defaultConfig, languages);

function sandbox(runtime: ContainerRuntime, deaths: string[] = []): Sandbox {
  return new Sandbox({
    id: "sbx-1",
    tenant: "t",
    config,
    handler,
    containerId: "c1",
    image: "img",
    createdAt: new Date(),
    attached: false,
    fromPool: false,
    runtime,
    logger: silentLogger(),
    useAgent: true,
    onRunnerDeath: (_cid, reason) => deaths.push(reason),
  });
}

describe("Sandbox.recover", () => {
  it("marks the sandbox failed when no agent can be started again, with the reason", async () => {
    let attempts = 0;
    const runtime = {
      exec: async () => {
        attempts++;
        throw unavailable("the engine refuses the exec");
      },
    } as unknown as ContainerRuntime;
    const deaths: string[] = [];
    const s = sandbox(runtime, deaths);
    await s.recover("agent exited with code 137");
    expect(s.state).toBe("failed");
    expect(s.failure).toMatch(/its agent cannot be restarted: .*the engine refuses the exec.*agent exited with code 137/);
    expect(attempts).toBe(2);
    // Each failed start reports itself (the manager inspects the container); a failed sandbox is not retried.
    expect(deaths.length).toBe(2);
    await s.recover("again");
    expect(attempts).toBe(2);
  });

  it("does nothing for a sandbox that is closed or no longer running", async () => {
    let attempts = 0;
    const runtime = {
      exec: async () => {
        attempts++;
        throw unavailable("no");
      },
    } as unknown as ContainerRuntime;
    const s = sandbox(runtime);
    s.end("expired");
    await s.recover("x");
    const t = sandbox(runtime);
    await t.close();
    await t.recover("x");
    expect(attempts).toBe(0);
    expect(t.state).toBe("running");
  });
});
