import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../helpers/daemon.js";
import { startDaemon, stopDaemon } from "./daemon.js";

// The client as a user gets it: `npm pack` (its prepack builds dist/), installed into a
// project of its own, imported by package name, and its sandboxctl bin run from there.
const clientDir = join(repoRoot, "clients/typescript");
const work = mkdtempSync(join(tmpdir(), "sandboxd-client-pack-"));
const project = join(work, "project");
let d: Awaited<ReturnType<typeof startDaemon>>;
let tarball: string;

function inProject(command: string, args: string[]) {
  return spawnSync(command, args, { cwd: project, encoding: "utf8", env: { ...process.env, SANDBOXD_ADDRESS: d.address } });
}

beforeAll(async () => {
  d = await startDaemon();
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: clientDir, stdio: "pipe" });
  const packed = readdirSync(work).filter((f) => f.endsWith(".tgz"));
  expect(packed).toHaveLength(1);
  tarball = join(work, packed[0]!);
  mkdirSync(project);
  execFileSync("npm", ["init", "-y"], { cwd: project, stdio: "pipe" });
  // Its dependencies (@grpc/grpc-js, @bufbuild/protobuf) come from the npm cache the repository's install filled.
  execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: project, stdio: "pipe" });
});

afterAll(async () => {
  if (d) await stopDaemon(d);
  rmSync(work, { recursive: true, force: true });
});

describe("the packed @sandboxd/client", () => {
  it("ships JavaScript and declarations, not sources", () => {
    const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean);
    expect(files).toEqual(
      expect.arrayContaining(["package/dist/index.js", "package/dist/index.d.ts", "package/dist/sandboxctl.js", "package/dist/gen/sandboxd/v1/common_pb.d.ts"]),
    );
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("is imported by name and runs code against the daemon", () => {
    writeFileSync(
      join(project, "main.mjs"),
      [
        'import { createClient, SandboxdError } from "@sandboxd/client";',
        "const client = createClient();",
        'const sandbox = await client.createSandbox({ language: "python", labels: { from: "package-test" } });',
        "const r = await sandbox.run(\"import sys\\nprint('packaged', 2 + 3)\\nsys.exit(4)\").result();",
        'const err = await client.getSandbox("sbx_missing").catch((e) => e);',
        "process.stdout.write(JSON.stringify({ id: sandbox.id, stdout: r.stdout, exitCode: r.exitCode, typed: err instanceof SandboxdError, code: err.code }));",
        "client.close();",
      ].join("\n"),
    );
    const r = inProject(process.execPath, ["main.mjs"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { id: string; stdout: string; exitCode: number; typed: boolean; code: string };
    expect(out).toMatchObject({ stdout: "packaged 5\n", exitCode: 4, typed: true, code: "NOT_FOUND" });

    // sandboxctl, installed as the package's bin, sees the sandbox the program left and removes it.
    const ls = inProject(join(project, "node_modules/.bin/sandboxctl"), ["--json", "ls", "--label", "from=package-test"]);
    expect(ls.status).toBe(0);
    expect((JSON.parse(ls.stdout) as { id: string }[]).map((s) => s.id)).toEqual([out.id]);
    const rm = inProject(join(project, "node_modules/.bin/sandboxctl"), ["rm", out.id]);
    expect(rm.stdout).toBe(`${out.id} destroyed\n`);
    expect(rm.status).toBe(0);
  });

  it("is ESM-only; CommonJS code loads it with import()", () => {
    // The README says so: a CommonJS module reaches it through a dynamic import.
    writeFileSync(
      join(project, "main.cjs"),
      [
        "(async () => {",
        '  const { createClient } = await import("@sandboxd/client");',
        "  const client = createClient();",
        '  const r = await client.runEphemeral("python", "print(\'from commonjs\')").result();',
        "  process.stdout.write(r.stdout);",
        "  client.close();",
        "})();",
      ].join("\n"),
    );
    const r = inProject(process.execPath, ["main.cjs"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("from commonjs\n");
    expect(r.status).toBe(0);
  });

  it("type-checks a TypeScript consumer against the shipped declarations", () => {
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: [] },
        include: ["consumer.ts"],
      }),
    );
    writeFileSync(
      join(project, "consumer.ts"),
      [
        'import { createClient, type RunResult, type SandboxdClient } from "@sandboxd/client";',
        'const client: SandboxdClient = createClient({ address: "127.0.0.1:1" });',
        "export async function exitOf(): Promise<number> {",
        '  const sandbox = await client.createSandbox({ language: "python" });',
        '  const r: RunResult = await sandbox.run("print(1)").result();',
        "  return r.exitCode;",
        "}",
        "// @ts-expect-error: run() takes code, not a number",
        'export const wrong = (s: Awaited<ReturnType<SandboxdClient["createSandbox"]>>) => s.run(42);',
      ].join("\n"),
    );
    const tsc = inProject(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]);
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });

  it("installs sandboxctl as an executable bin that prints its version", () => {
    const bin = join(project, "node_modules/@sandboxd/client/dist/sandboxctl.js");
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const r = inProject(join(project, "node_modules/.bin/sandboxctl"), ["--version"]);
    expect(r.stdout).toBe("sandboxctl 0.1.0\n");
    expect(r.status).toBe(0);
  });

  it("npm i -g puts sandboxctl on the PATH; it runs code piped to it", () => {
    const prefix = join(work, "global");
    execFileSync("npm", ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball], { stdio: "pipe" });
    const r = spawnSync("sandboxctl", ["run", "-", "--lang", "python"], {
      cwd: work,
      encoding: "utf8",
      input: "print('installed', 6 * 7)\n",
      env: { ...process.env, SANDBOXD_ADDRESS: d.address, PATH: `${join(prefix, "bin")}:${process.env["PATH"] ?? ""}` },
    });
    expect([r.stdout, r.stderr, r.status]).toEqual(["installed 42\n", "", 0]);
  });

  it("runs from a checkout without tsx once built", () => {
    const r = spawnSync(process.execPath, [join(clientDir, "dist/sandboxctl.js"), "--json", "ls", "--label", "from=nobody"], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, SANDBOXD_ADDRESS: d.address },
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual([]);
    expect(r.status).toBe(0);
  });
});
