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

describe("Sandbox pause", () => {
  /** A runtime that records pause calls and checks they never overlap. */
  function pausable() {
    const calls: string[] = [];
    let busy = false;
    const step = (name: string) => async () => {
      expect(busy).toBe(false);
      busy = true;
      calls.push(name);
      await new Promise((r) => setTimeout(r, 5));
      busy = false;
    };
    return { calls, runtime: { pause: step("pause"), unpause: step("unpause") } as unknown as ContainerRuntime };
  }

  it("is idempotent and serialises concurrent pauses and resumes", async () => {
    const { calls, runtime } = pausable();
    const s = sandbox(runtime);
    expect(await Promise.all([s.pause(), s.pause()])).toEqual([true, false]);
    expect(s.state).toBe("paused");
    expect(s.pausedAt).toBeInstanceOf(Date);
    expect(await Promise.all([s.resume(), s.resume()])).toEqual([true, false]);
    expect(s.state).toBe("running");
    expect(calls).toEqual(["pause", "unpause"]);
  });

  it("is never idle while paused, but its TTL still ends it", async () => {
    const { runtime } = pausable();
    const s = sandbox(runtime);
    await s.pause();
    const afterIdle = s.lastUsedAt + config.idleTimeoutMs + 1;
    expect(afterIdle).toBeLessThan(s.expiresAt.getTime());
    expect(s.expiryReason(afterIdle)).toBeUndefined();
    expect(s.expiryReason(s.expiresAt.getTime())).toMatch(/TTL/);
  });

  it("refuses calls while paused unless auto_resume, which resumes it", async () => {
    const { calls, runtime } = pausable();
    const s = sandbox(runtime);
    await s.pause();
    await expect(s.ready()).rejects.toMatchObject({ reason: "SANDBOX_PAUSED" });
    const auto = new Sandbox({
      id: "sbx-2",
      tenant: "t",
      config: { ...config, autoResume: true },
      handler,
      containerId: "c2",
      image: "img",
      createdAt: new Date(),
      attached: false,
      fromPool: false,
      runtime,
      logger: silentLogger(),
      useAgent: true,
    });
    await auto.pause();
    await auto.ready();
    expect(auto.state).toBe("running");
    expect(calls).toEqual(["pause", "pause", "unpause"]);
  });

  it("is due for auto-pause only with auto_pause_ms, no run and no call for that long", () => {
    const { runtime } = pausable();
    const none = sandbox(runtime);
    expect(none.autoPauseDue(Date.now() + 3_600_000)).toBe(false);
    const s = new Sandbox({
      id: "sbx-3",
      tenant: "t",
      config: { ...config, autoPauseMs: 1000 },
      handler,
      containerId: "c3",
      image: "img",
      createdAt: new Date(),
      attached: false,
      fromPool: false,
      runtime,
      logger: silentLogger(),
      useAgent: true,
    });
    expect(s.autoPauseDue(s.lastUsedAt + 999)).toBe(false);
    expect(s.autoPauseDue(s.lastUsedAt + 1000)).toBe(true);
  });
});
