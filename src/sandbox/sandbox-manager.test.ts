import { describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { defaultConfig } from "../config/config.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { LanguageRegistry } from "./languages.js";
import { SandboxManager } from "./sandbox-manager.js";
import { emptyRequest } from "./sandbox-config.js";
import { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";

/** Only imageLabels is reached before the missing-image error. */
const noImages = { name: "docker", imageLabels: async () => undefined } as unknown as ContainerRuntime;

describe("SandboxManager", () => {
  it("names the build command when a default image is missing", async () => {
    const m = new SandboxManager({
      config: structuredClone(defaultConfig),
      runtime: noImages,
      languages: new LanguageRegistry(),
      validator: { validate: () => {}, enforceLibrariesOf: () => {} },
      cleanups: [],
      metrics: new SandboxdMetrics(),
      logger: silentLogger(),
    });
    const req = emptyRequest("python");
    await expect(m.create("t", req)).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "IMAGE_MISSING",
      message: expect.stringMatching(/deploy\/images\/build\.sh python/),
    });
  });
});
