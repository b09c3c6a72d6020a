import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { frameKindTable } from "./frame-kinds.js";

/** `K_NAME = 12` lines of a Python source. */
function pythonKinds(url: URL): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(url, "utf8").matchAll(/^(K_[A-Z_]+) = (\d+)\b/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

describe("frame kinds", () => {
  it("the agent's constants are the table's", () => {
    expect(pythonKinds(new URL("../agent/sandboxd_agent.py", import.meta.url))).toEqual(frameKindTable.agent);
  });

  it("the session runners' constants are the table's", () => {
    expect(pythonKinds(new URL("../interactive/runner/sandboxd_session.py", import.meta.url))).toEqual(frameKindTable.runner);
  });

  it("no number names two kinds, across both protocols", () => {
    const all = [...Object.values(frameKindTable.agent), ...Object.values(frameKindTable.runner)];
    expect(new Set(all).size).toBe(all.length);
    for (const k of all) expect(k >= 1 && k <= 255).toBe(true);
  });
});
