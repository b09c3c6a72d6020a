import { describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { defaultConfig } from "../config/config.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { LanguageRegistry } from "./languages.js";
import { SandboxManager } from "./sandbox-manager.js";

/** Only imageLabels is reached before the missing-image error. */
const noImages = { name: "docker", imageLabels: async () => undefined } as unknown as ContainerRuntime;

describe("SandboxManager", () => {
  it("names the build command when a default image is missing", async () => {
    const m = new SandboxManager({
      config: structuredClone(defaultConfig),
      runtime: noImages,
      languages: new LanguageRegistry(),
      validator: { validate: () => {} },
      cleanups: [],
      logger: silentLogger(),
    });
    const req = {
      language: "python",
      image: "",
      resources: { memoryBytes: 0, cpus: 0, pids: 0, diskBytes: 0 },
      network: "unspecified" as const,
      env: {},
      workdir: "",
      user: "",
      executionTimeoutMs: 0,
      ttlMs: 0,
      idleTimeoutMs: 0,
      labels: {},
      commitOnClose: "",
      containerId: "",
      disablePlotCapture: false,
      outputDir: "",
    };
    await expect(m.create("t", req)).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "IMAGE_MISSING",
      message: expect.stringMatching(/deploy\/images\/build\.sh python/),
    });
  });
});
