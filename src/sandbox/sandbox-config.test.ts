import { describe, expect, it } from "vitest";
import { defaultConfig } from "../config/config.js";
import { LanguageRegistry } from "./languages.js";
import { emptyRequest, maxDiskBytes, processHeadroom, resolveSandboxConfig, type SandboxRequest } from "./sandbox-config.js";

const MiB = 1024 * 1024;
const languages = new LanguageRegistry();

function req(resources: Partial<SandboxRequest["resources"]>, extra: Partial<SandboxRequest> = {}): SandboxRequest {
  const base = emptyRequest("python");
  return { ...base, resources: { ...base.resources, ...resources }, ...extra };
}

const disk = (r: SandboxRequest) => resolveSandboxConfig(r, defaultConfig, languages).config.resources.diskBytes;

describe("tmpfs sizes fit in the memory limit", () => {
  it("leaves a quarter of the memory, at least 64 MiB (at most half), to processes", () => {
    expect(processHeadroom(512 * MiB)).toBe(128 * MiB);
    expect(processHeadroom(128 * MiB)).toBe(64 * MiB);
    expect(processHeadroom(64 * MiB)).toBe(32 * MiB);
    expect(processHeadroom(16 * MiB)).toBe(8 * MiB);
    expect(processHeadroom(4096 * MiB)).toBe(1024 * MiB);
  });

  it("shrinks the default disk so that the workdir and /tmp together fit", () => {
    expect(disk(req({}))).toBe(192 * MiB); // 512 MiB memory: 2 x 192 + 128
    expect(disk(req({ memoryBytes: 128 * MiB }))).toBe(32 * MiB);
    expect(disk(req({ memoryBytes: 16 * MiB }))).toBe(4 * MiB);
    expect(disk(req({ memoryBytes: 4096 * MiB }))).toBe(512 * MiB); // the configured default fits as it is
    // Committed on close: the workdir is in the container layer, only /tmp is a tmpfs.
    expect(disk(req({}, { commitOnClose: "me/img:1" }))).toBe(384 * MiB);
    for (const m of [16, 100, 128, 300, 512, 2048]) {
      const d = disk(req({ memoryBytes: m * MiB }));
      expect(2 * d + processHeadroom(m * MiB)).toBeLessThanOrEqual(m * MiB);
    }
  });

  it("keeps an explicit disk that fits and refuses one that does not, saying what would", () => {
    expect(disk(req({ memoryBytes: 128 * MiB, diskBytes: 32 * MiB }))).toBe(32 * MiB);
    expect(disk(req({ diskBytes: 100 * MiB }))).toBe(100 * MiB);
    expect(() => resolveSandboxConfig(req({ memoryBytes: 128 * MiB, diskBytes: 64 * MiB }), defaultConfig, languages)).toThrow(
      /disk_bytes 64 MiB does not fit in resources.memory_bytes 128 MiB.*at most 32 MiB of disk, or for at least 192 MiB of memory/,
    );
    try {
      resolveSandboxConfig(req({ diskBytes: 512 * MiB }), defaultConfig, languages);
      throw new Error("not refused");
    } catch (err) {
      expect(err).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_LIMIT" });
      const m = /at least ([\d.]+) MiB of memory/.exec((err as Error).message);
      const suggested = Number(m?.[1]) * MiB;
      expect(disk(req({ diskBytes: 512 * MiB, memoryBytes: Math.ceil(suggested / MiB) * MiB }))).toBe(512 * MiB);
    }
    expect(maxDiskBytes(512 * MiB, 2)).toBe(192 * MiB);
  });
});
