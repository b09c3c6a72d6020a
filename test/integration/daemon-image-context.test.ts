import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/daemon.js";

const run = promisify(execFile);

// What `docker build -f deploy/daemon/Dockerfile .` sends as its context, read back by the
// Docker engine itself: a scratch image that copies the whole context, exported as a tar.
// (The daemon image's own base comes from a registry this machine does not reach.)
const work = mkdtempSync(join(tmpdir(), "sandboxd-context-"));
const tag = `sandboxd-test/context-${process.pid}:latest`;

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await run("docker", ["rmi", "-f", tag]).catch(() => {});
});

async function contextFiles(): Promise<string[]> {
  writeFileSync(join(work, "Dockerfile"), "FROM scratch\nCOPY . /context/\n");
  await run("docker", ["build", "-q", "-t", tag, "-f", join(work, "Dockerfile"), repoRoot], { maxBuffer: 16 * 1024 * 1024 });
  const { stdout: id } = await run("docker", ["create", tag, "none"]);
  try {
    const { stdout } = await run("sh", ["-c", `docker export ${id.trim()} | tar -t`], { maxBuffer: 64 * 1024 * 1024 });
    return stdout
      .split("\n")
      .filter((p) => p.startsWith("context/") && !p.endsWith("/"))
      .map((p) => p.slice("context/".length));
  } finally {
    await run("docker", ["rm", "-f", id.trim()]);
  }
}

describe("the daemon image's build context (.dockerignore)", () => {
  it("holds what deploy/daemon/Dockerfile copies, and nothing of node_modules, tests, clients or caches", async () => {
    const files = await contextFiles();
    expect(files).toEqual(
      expect.arrayContaining(["package.json", "package-lock.json", "src/main.ts", "proto/sandboxd/v1/common.proto", "bin/sandboxd", "LICENSE"]),
    );
    // Every source of every COPY of the Dockerfile (not --from a stage) is in the context.
    const dockerfile = readFileSync(join(repoRoot, "deploy/daemon/Dockerfile"), "utf8");
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      const path = source.replace(/^\.\//, "");
      expect(
        files.some((f) => f === path || f.startsWith(`${path}/`)),
        `${source} (COPY in deploy/daemon/Dockerfile)`,
      ).toBe(true);
    }
    const unwanted = files.filter(
      (f) => /^(node_modules|test|clients|bench|docs|dist|\.git|\.cache|\.ci)\//.test(f) || f.endsWith(".test.ts") || f.includes("__pycache__"),
    );
    expect(unwanted).toEqual([]);
  });
});
