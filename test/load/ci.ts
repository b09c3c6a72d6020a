/**
 * The short versions of the load, soak and resume tests, one after another, each in its
 * own process with its own daemon: about 3 minutes on 2 cores. For CI:
 *
 *   node --import tsx test/load/ci.ts
 *
 * Prints each test's one-line result and ends with "load tests: N passed, N failed"; exits 1
 * when any failed. Full JSON reports go to .cache/load-reports/<test>.json. Override a
 * test's flags with LOAD_<NAME> variables (they apply to all three) or edit the lists below.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/daemon.js";

const runs: { name: string; file: string; args: string[] }[] = [
  { name: "load", file: "load.ts", args: ["--clients", "50", "--sandboxes", "20", "--sessions", "4", "--duration", "40s"] },
  {
    name: "soak",
    file: "soak.ts",
    args: ["--clients", "12", "--sandboxes", "10", "--sessions", "2", "--duration", "60s", "--run-retention", "10s", "--sample-interval", "2s"],
  },
  { name: "resume", file: "resume.ts", args: ["--mib", "50", "--min-cuts", "10"] },
];

const reportDir = join(repoRoot, ".cache", "load-reports");
mkdirSync(reportDir, { recursive: true });

function runOne(r: (typeof runs)[number]): Promise<{ ok: boolean; line: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "test", "load", r.file), ...r.args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    // Bounded: a hung test is a failed test.
    const timer = setTimeout(() => child.kill("SIGKILL"), 10 * 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      const lines = out.trimEnd().split("\n");
      const line = lines[lines.length - 1] ?? "";
      const json = lines.slice(0, -1).join("\n");
      writeFileSync(join(reportDir, `${r.name}.json`), json);
      let detail = "";
      if (code !== 0) {
        // The report is left in the clone; the failures themselves go to the log, where CI keeps them.
        try {
          const failures = (JSON.parse(json) as { workload?: { failures?: string[] } }).workload?.failures ?? [];
          detail = failures
            .slice(0, 10)
            .map((f) => `\n  ${f}`)
            .join("");
        } catch {
          detail = "\n  (no JSON report)";
        }
      }
      resolve({ ok: code === 0, line: `${line} (${((Date.now() - t0) / 1000).toFixed(0)} s)${detail}` });
    });
  });
}

let passed = 0;
let failed = 0;
for (const r of runs) {
  const res = await runOne(r);
  process.stdout.write(`${res.line}\n`);
  if (res.ok) passed++;
  else failed++;
}
process.stdout.write(`reports: ${join(".cache", "load-reports")}/{${runs.map((r) => r.name).join(",")}}.json\n`);
process.stdout.write(`load tests: ${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
