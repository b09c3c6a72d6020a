import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../test/helpers/daemon.js";
import { readmeMarkers, withReadmeTable, type Report } from "./report.js";

describe("the README's performance table", () => {
  it("is the one rendered from the committed baseline (npm run bench:readme regenerates it)", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const baseline = JSON.parse(readFileSync(join(repoRoot, "bench", "results", "baseline.json"), "utf8")) as Report;
    expect(readme).toContain(readmeMarkers.begin);
    expect(withReadmeTable(readme, baseline)).toBe(readme);
  });

  it("lists every goal of the baseline with its target and value", () => {
    const baseline = JSON.parse(readFileSync(join(repoRoot, "bench", "results", "baseline.json"), "utf8")) as Report;
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf(readmeMarkers.begin), readme.indexOf(readmeMarkers.end));
    for (const g of baseline.results.flatMap((r) => r.goals)) expect(table).toContain(`| ${g.description} | ${g.op === "<=" ? "≤" : "≥"} ${g.target} |`);
  });
});
