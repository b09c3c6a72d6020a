import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecuritySeverity } from "../../src/gen/sandboxd/v1/common_pb.js";
import { leftoverContainers, repoRoot, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// The built daemon (`npm run build`, then bin/sandboxd) as users and the image run it: plain
// JavaScript from dist/, with its run-time assets (agent, runners, hooks, the policy worker).
let d: DaemonHandle;

beforeAll(async () => {
  execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "pipe" });
  d = await startDaemon({ command: [join(repoRoot, "bin/sandboxd")] });
});

afterAll(async () => {
  await d?.stop();
});

describe("the built daemon", () => {
  it("copies every run-time asset beside the compiled code", () => {
    for (const asset of [
      "agent/sandboxd_agent.py",
      "agent/sandboxd_procfs.py",
      "interactive/runner/sandboxd_session.py",
      "interactive/runner/ipython_runner.py",
      "interactive/runner/shell_runner.py",
      "artifacts/capture/python/sitecustomize.py",
      "artifacts/capture/r/Rprofile.R",
      "security/policy-worker.js",
      "main.js",
    ]) {
      expect(existsSync(join(repoRoot, "dist", asset)), asset).toBe(true);
    }
    expect(existsSync(join(repoRoot, "dist/security/policy-checker.test.js"))).toBe(false);
  });

  it("runs from dist/, not through tsx", () => {
    const cmdline = execFileSync("cat", [`/proc/${d.process.pid}/cmdline`], { encoding: "utf8" }).split("\0");
    expect(cmdline).toContain(join(repoRoot, "dist/main.js"));
    expect(cmdline.join(" ")).not.toMatch(/tsx/);
  });

  it("checks code in its policy worker (compiled JavaScript)", async () => {
    const res = await d.sandbox.checkCode({
      language: "python",
      code: "import subprocess\n",
      policy: {
        case: "inline",
        value: {
          severityThreshold: SecuritySeverity.MEDIUM,
          restrictedModules: [{ name: "subprocess", description: "Process spawning", severity: SecuritySeverity.HIGH }],
        },
      },
    });
    expect(res.safe).toBe(false);
    expect(res.violations.map((v) => [v.rule, v.line, v.column])).toEqual([["import:subprocess", 1, 8]]);
  });

  it("runs code in a sandbox through its agent", async () => {
    const r = await collect(d.sandbox.run({ language: "python", code: "import sys\nprint('built', 6 * 7)\nsys.exit(3)\n" }));
    expect(r.stdout).toBe("built 42\n");
    expect(r.exit.exitCode).toBe(3);
  });

  it("stops on SIGTERM and leaves no container", async () => {
    expect(await d.stop()).toBe(0);
    // The engine may still be finishing a removal the daemon asked for before it exited.
    let left = await leftoverContainers(d.daemonId);
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      left = await leftoverContainers(d.daemonId);
    }
    expect(left).toEqual([]);
  });
});

describe("bin/sandboxd without a build", () => {
  it("says to run npm run build", () => {
    const dir = mkdtempSync(join(tmpdir(), "sandboxd-nobuild-"));
    try {
      mkdirSync(join(dir, "bin"));
      copyFileSync(join(repoRoot, "bin/sandboxd"), join(dir, "bin/sandboxd"));
      const r = spawnSync("sh", [join(dir, "bin/sandboxd"), "--help"], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/run 'npm run build' first/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
