import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseBytes, parseDuration } from "./config.js";

describe("config", () => {
  it("layers flags over env over defaults", () => {
    const c = loadConfig(["--listen", "127.0.0.1:9000", "--defaults.memory-bytes=1g"], {
      SANDBOXD_LOG_LEVEL: "debug",
      SANDBOXD_LISTEN: "127.0.0.1:1",
      SANDBOXD_DEFAULTS__EXECUTION_TIMEOUT_MS: "5s",
    });
    expect(c.listen).toBe("127.0.0.1:9000");
    expect(c.logLevel).toBe("debug");
    expect(c.defaults.memoryBytes).toBe(1024 ** 3);
    expect(c.defaults.executionTimeoutMs).toBe(5000);
  });

  it("rejects unknown settings and bad values with the setting named", () => {
    expect(() => loadConfig(["--no-such-thing", "1"], {})).toThrow(/unknown setting "no-such-thing"/);
    expect(() => loadConfig(["--backend", "lxc"], {})).toThrow(ConfigError);
    expect(() => loadConfig(["--defaults.memory-bytes", "lots"], {})).toThrow(/invalid size/);
    expect(() => loadConfig(["--listen", "nowhere"], {})).toThrow(/listen/);
  });

  it("API pool limits: --pool-max-size and --max-pools-per-tenant", () => {
    const d = loadConfig(["--daemon-id", "t"], {});
    expect([d.poolMaxSize, d.maxPoolsPerTenant]).toEqual([50, 8]);
    const c = loadConfig(["--pool-max-size", "3", "--max-pools-per-tenant", "0", "--daemon-id", "t"], {});
    expect([c.poolMaxSize, c.maxPoolsPerTenant]).toEqual([3, 0]);
    expect(() => loadConfig(["--pool-max-size", "0", "--daemon-id", "t"], {})).toThrow(/pool-max-size must be positive/);
    expect(() => loadConfig(["--max-pools-per-tenant", "1.5", "--daemon-id", "t"], {})).toThrow(/max-pools-per-tenant/);
  });

  it("ignores SANDBOXD_* variables that belong to clients", () => {
    expect(loadConfig([], { SANDBOXD_ADDRESS: "127.0.0.1:1", SANDBOXD_TOKEN: "x" }).listen).toBe("127.0.0.1:50051");
  });

  it("parses sizes and durations", () => {
    expect(parseBytes("512m")).toBe(512 * 1024 * 1024);
    expect(parseBytes("2048")).toBe(2048);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("250")).toBe(250);
    expect(() => parseDuration("soon")).toThrow(ConfigError);
  });

  it("reads the output budget like the replay window: flag, env, file", () => {
    expect(loadConfig([], {}).maxBufferedBytes).toBe(256 * 1024 * 1024);
    expect(loadConfig(["--max-buffered-bytes", "64m"], {}).maxBufferedBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig([], { SANDBOXD_MAX_BUFFERED_BYTES: "1g" }).maxBufferedBytes).toBe(1024 ** 3);
    expect(() => loadConfig(["--max-buffered-bytes", "0"], {})).toThrow(/max-buffered-bytes must be positive/);
  });

  it("accepts image overrides per language", () => {
    const c = loadConfig(["--images.python", "my/python:3"], {});
    expect(c.images).toEqual({ python: "my/python:3" });
  });

  it("keeps one daemon id per state directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "sandboxd-id-"));
    try {
      const id = loadConfig(["--state-dir", dir], {}).daemonId;
      expect(id).toMatch(/^[a-z0-9-]+-[0-9a-f]{8}$/);
      expect(loadConfig(["--state-dir", dir], {}).daemonId).toBe(id);
      expect(loadConfig(["--state-dir", dir, "--daemon-id", "explicit"], {}).daemonId).toBe("explicit");
      const other = mkdtempSync(join(tmpdir(), "sandboxd-id-"));
      expect(loadConfig(["--state-dir", other], {}).daemonId).not.toBe(id);
      rmSync(other, { recursive: true });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
