/**
 * Renders a results file (default bench/results/baseline.json) as the markdown tables of
 * docs/benchmarks.md: goals vs measured, then the numbers reported without a goal.
 *
 *   node --import tsx bench/report.ts [bench/results/latest.json]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../test/helpers/daemon.js";
import type { MachineInfo } from "./lib/machine.js";
import type { BenchResult } from "./lib/result.js";

interface Report {
  machine: MachineInfo;
  startedAt: string;
  durationMs: number;
  results: BenchResult[];
}

export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const lines: string[] = [];
  lines.push(
    `Measured ${report.startedAt.slice(0, 16).replace("T", " ")} UTC on ${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, kernel ${m.kernel}, Docker ${m.docker}, Node ${m.node}, commit ${m.gitCommit}${m.gitDirty ? " (+ uncommitted src/ changes)" : ""}; whole suite ${(report.durationMs / 60_000).toFixed(1)} min.`,
    "",
    "| benchmark | goal | measured | met |",
    "|---|---|---|---|",
  );
  for (const r of report.results) {
    if (r.status === "error") {
      lines.push(`| ${r.title} | | error: ${(r.error ?? "").split("\n")[0]} | |`);
      continue;
    }
    for (const g of r.goals) {
      const measured = g.value === null ? `pending${r.pending.length ? ` (${r.pending[0]?.split(":")[0]})` : ""}` : String(g.value);
      lines.push(`| ${g.description} | ${g.op === "<=" ? "≤" : "≥"} ${g.target} | ${measured} | ${g.met === null ? "–" : g.met ? "yes" : "no"} |`);
    }
  }
  const reported = report.results.flatMap((r) => r.reported);
  if (reported.length) {
    lines.push("", "| also measured (no goal) | value |", "|---|---|");
    for (const x of reported) lines.push(`| ${x.description} | ${x.value ?? "–"} ${x.unit} |`);
  }
  const loads = report.results.map((r) => `${r.name} ${r.loadAvg?.before ?? "?"}→${r.loadAvg?.after ?? "?"}`);
  lines.push("", `1-minute load average before→after each benchmark: ${loads.join(", ")}.`);
  return `${lines.join("\n")}\n`;
}

const file = process.argv[2] ?? join(repoRoot, "bench", "results", "baseline.json");
process.stdout.write(renderMarkdown(JSON.parse(readFileSync(file, "utf8")) as Report));
