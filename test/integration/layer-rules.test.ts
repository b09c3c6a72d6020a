import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/daemon.js";

// The layer rules (.dependency-cruiser.cjs, docs/architecture.md) pass on the tree and fail,
// naming the rule, on a copy of it with one wrong import per rule.
const copy = mkdtempSync(join(tmpdir(), "sandboxd-layers-"));

afterAll(() => rmSync(copy, { recursive: true, force: true }));

interface Violation {
  rule: string;
  from: string;
}

/** Runs the check as `npm run lint:layers` does; its report has one "error RULE: FROM → TO" per violation. */
function depcruise(cwd: string): { status: number | null; violations: Violation[]; output: string } {
  const r = spawnSync(
    process.execPath,
    [join(repoRoot, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs"), "src", "--config", ".dependency-cruiser.cjs", "--output-type", "err"],
    {
      cwd,
      encoding: "utf8",
    },
  );
  const output = r.stdout + r.stderr;
  const violations = [...output.matchAll(/^\s*error ([\w-]+): (\S+)/gm)].map((m) => ({ rule: m[1]!, from: m[2]! }));
  return { status: r.status, violations, output };
}

describe("layer rules", () => {
  it("hold on the source tree", () => {
    const r = depcruise(repoRoot);
    expect(r.violations).toEqual([]);
    expect(r.output).toMatch(/no dependency violations found/);
    expect(r.status).toBe(0);
  });

  it("fail on each wrong import, naming its rule", () => {
    cpSync(join(repoRoot, "src"), join(copy, "src"), { recursive: true });
    for (const f of ["tsconfig.json", ".dependency-cruiser.cjs", "package.json"]) cpSync(join(repoRoot, f), join(copy, f));
    symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"));
    const bad: Record<string, [file: string, source: string]> = {
      "dockerode-only-in-runtime-docker": ["src/sandbox/bad-engine.ts", 'import "dockerode";\n'],
      "kubernetes-only-in-runtime-kubernetes": ["src/runtime/bad-kube.ts", 'import "@kubernetes/client-node";\n'],
      "generated-code-only-in-rpc-and-services": ["src/sandbox/bad-proto.ts", 'import "../gen/sandboxd/v1/common_pb.js";\n'],
      "domain-not-on-services-or-rpc": ["src/files/bad-service.ts", 'import "../services/convert.js";\n'],
      "runtime-not-on-domain-or-services": ["src/runtime/bad-domain.ts", 'import "../sandbox/run.js";\n'],
      "mcp-beside-services": ["src/mcp/bad-grpc.ts", 'import "../services/convert.js";\n'],
      "common-imports-only-common": ["src/common/bad-config.ts", 'import "../config/config.js";\n'],
      "no-circular": ["src/common/bad-cycle-a.ts", 'import "./bad-cycle-b.js";\n'],
    };
    for (const [file, source] of Object.values(bad)) writeFileSync(join(copy, file), source);
    writeFileSync(join(copy, "src/common/bad-cycle-b.ts"), 'import "./bad-cycle-a.js";\nexport {};\n');

    const r = depcruise(copy);
    expect(r.status).not.toBe(0);
    const found = new Map<string, string[]>();
    for (const v of r.violations) found.set(v.rule, [...(found.get(v.rule) ?? []), v.from]);
    for (const [rule, [file]] of Object.entries(bad)) expect(found.get(rule), rule).toContain(file);
    // Nothing but the planted imports.
    expect(r.violations.filter((v) => !v.from.includes("/bad-"))).toEqual([]);
    expect(r.output).toMatch(new RegExp(`${r.violations.length} dependency violations`));
  });
});
