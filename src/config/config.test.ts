import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseBytes, parseDuration } from "./config.js";

const repoRoot = resolve(import.meta.dirname, "../..");

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

describe("config file", () => {
  const dir = mkdtempSync(join(tmpdir(), "sandboxd-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const write = (text: string): string => {
    const file = join(dir, `config-${n++}.jsonc`);
    writeFileSync(file, text);
    return file;
  };

  it("takes the flags' names and units, and whole-line comments", () => {
    const file = write(
      '// a comment\n{\n  "defaults": { "memory-bytes": "1g", "execution-timeout-ms": "5s", "cpus": 2 },\n  // another\n  "quotas": { "maxSandboxes": 3 },\n  "agent": "false",\n  "pools": { "python": 1 }\n}\n',
    );
    {
      const c = loadConfig(["--config", file, "--daemon-id", "t"], {});
      expect(c.defaults.memoryBytes).toBe(1024 ** 3);
      expect(c.defaults.executionTimeoutMs).toBe(5000);
      expect(c.defaults.cpus).toBe(2);
      expect(c.quotas.maxSandboxes).toBe(3);
      expect(c.agent).toBe(false);
      expect(c.pools).toEqual({ python: 1 });
      // Flags still win over the file.
      expect(loadConfig(["--config", file, "--daemon-id", "t", "--defaults.memory-bytes", "2g"], {}).defaults.memoryBytes).toBe(2 * 1024 ** 3);
    }
  });

  it("names the setting when a value or a key is wrong", () => {
    const bad = (text: string) => {
      const file = write(text);
      return () => loadConfig(["--config", file, "--daemon-id", "t"], {});
    };
    expect(bad('{"defaults": {"memory-bytes": "lots"}}')).toThrow(/invalid size "lots"/);
    expect(bad('{"defaults": {"cpus": true}}')).toThrow(/defaults\.cpus in config file: expected a number, got true/);
    expect(bad('{"defaults": {"no-such": 1}}')).toThrow(/unknown setting "defaults\.no-such" in config file/);
    expect(bad('{"listen": 50051}')).toThrow(/listen in config file: expected a string/);
  });

  it("the annotated example in deploy/ loads, and means what its comments say", () => {
    const c = loadConfig(["--config", join(repoRoot, "deploy/sandboxd.example.jsonc"), "--daemon-id", "t"], {});
    expect(c.defaults.memoryBytes).toBe(512 * 1024 * 1024);
    expect(c.defaults.ttlMs).toBe(3_600_000);
    expect(c.limits.maxMemoryBytes).toBe(16 * 1024 ** 3);
    expect(c.pools).toEqual({ python: 2 });
    expect(c.metricsListen).toBe("127.0.0.1:9464");
    expect(c.kubernetes.startTimeoutMs).toBe(120_000);
  });
});
