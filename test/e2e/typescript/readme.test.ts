import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../helpers/daemon.js";
import { startDaemon, stopDaemon } from "./daemon.js";

// Runs every ```ts block of clients/typescript/README.md as a program against a live daemon.

const readme = readFileSync(join(repoRoot, "clients/typescript/README.md"), "utf8");
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
const dir = mkdtempSync(join(tmpdir(), "sandboxd-readme-"));
let d: Awaited<ReturnType<typeof startDaemon>>;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  if (d) await stopDaemon(d);
});

describe("clients/typescript/README.md", () => {
  it("has examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  it.each(examples.map((code, i) => [i + 1, code] as const))("example %i runs", (i, code) => {
    const file = join(dir, `example${i}.mts`);
    writeFileSync(file, code.replaceAll('"@sandboxd/client"', JSON.stringify(join(repoRoot, "clients/typescript/src/index.ts"))));
    const r = spawnSync(process.execPath, ["--import", "tsx", file], {
      cwd: repoRoot,
      env: { ...process.env, SANDBOXD_ADDRESS: d.address },
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
