import { describe, expect, it } from "vitest";
import { PolicyError } from "./policy-error.js";
import { compilePolicy, isBlocking, isCompiledPolicy } from "./policy.js";
import type { SecurityPolicy, Severity } from "./policy.js";

const base: SecurityPolicy = {
  severityThreshold: "MEDIUM",
  patterns: [
    { pattern: String.raw`\bos\.system\s*\(`, description: "System command", severity: "HIGH" },
    { pattern: String.raw`\beval\s*\(`, description: "Eval", severity: "MEDIUM" },
  ],
  restrictedModules: [{ name: "os", description: "OS", severity: "HIGH" }],
};

function policyError(policy: SecurityPolicy): PolicyError {
  try {
    compilePolicy(policy);
  } catch (err: unknown) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error("compilePolicy accepted the policy");
}

describe("compilePolicy", () => {
  it("compiles a valid policy once for reuse", () => {
    const compiled = compilePolicy(base);
    expect(isCompiledPolicy(compiled)).toBe(true);
    expect(isCompiledPolicy(base)).toBe(false);
    expect(compiled.patterns.map((p) => p.rule)).toEqual([String.raw`\bos\.system\s*\(`, String.raw`\beval\s*\(`]);
    expect(Object.isFrozen(compiled)).toBe(true);
  });

  it("names the invalid pattern, by index and by text", () => {
    const err = policyError({
      ...base,
      patterns: [...base.patterns, { pattern: String.raw`\bos\.system(`, description: "broken", severity: "HIGH" }],
    });
    expect(err.field).toBe("patterns[2].pattern");
    expect(err.message).toContain(String.raw`"\\bos\\.system("`);
    expect(err.message).toMatch(/Unterminated group/);
  });

  it("rejects Python-only syntax it cannot translate, saying why", () => {
    const err = policyError({ ...base, patterns: [{ pattern: "(?i:eval)", description: "x", severity: "LOW" }] });
    expect(err.field).toBe("patterns[0].pattern");
    expect(err.message).toMatch(/scoped inline flags/);
  });

  it("accepts Python inline flags and named groups", () => {
    const compiled = compilePolicy({
      ...base,
      patterns: [{ pattern: String.raw`(?i)(?P<call>EVAL)\s*\(`, description: "eval", severity: "LOW" }],
    });
    expect(compiled.patterns[0]?.regex.test("eval(1)")).toBe(true);
  });

  it("rejects an empty pattern, which would match everywhere", () => {
    expect(policyError({ ...base, patterns: [{ pattern: "", description: "x", severity: "LOW" }] }).field).toBe("patterns[0].pattern");
  });

  it.each([
    ["", /needs a name/],
    ["os path", /not a module/],
    ["os..path", /not a module/],
    ["'os'", /not a module/],
    [".os", /not a module/],
  ])("rejects the module name %j", (name, reason) => {
    const err = policyError({ ...base, restrictedModules: [{ name, description: "x", severity: "LOW" }] });
    expect(err.field).toBe("restrictedModules[0].name");
    expect(err.message).toMatch(reason);
  });

  it("accepts module names of every language", () => {
    const names = ["os.path", "@scope/pkg", "node:fs", "github.com/x/y", "sys/socket.h", "data.table", "child_process", "c++/v1/cstdlib"];
    const compiled = compilePolicy({
      ...base,
      restrictedModules: names.map((name) => ({ name, description: name, severity: "LOW" as const })),
    });
    expect(compiled.restrictedModules.map((m) => m.name)).toEqual(names);
  });

  it("rejects a module restricted twice", () => {
    const err = policyError({
      ...base,
      restrictedModules: [
        { name: "os", description: "a", severity: "LOW" },
        { name: "os", description: "b", severity: "HIGH" },
      ],
    });
    expect(err.field).toBe("restrictedModules[1].name");
    expect(err.message).toMatch(/already restricted by restrictedModules\[0\]/);
  });

  it("rejects unknown severities where they are", () => {
    expect(policyError({ ...base, severityThreshold: "CRITICAL" as Severity }).field).toBe("severityThreshold");
    expect(policyError({ ...base, patterns: [{ pattern: "x", description: "x", severity: "high" as Severity }] }).field).toBe("patterns[0].severity");
  });
});

describe("isBlocking", () => {
  it("blocks at and above the threshold, as llm-sandbox does", () => {
    expect(isBlocking("MEDIUM", "MEDIUM")).toBe(true);
    expect(isBlocking("HIGH", "MEDIUM")).toBe(true);
    expect(isBlocking("LOW", "MEDIUM")).toBe(false);
    expect(isBlocking("LOW", "LOW")).toBe(true);
    expect(isBlocking("SAFE", "LOW")).toBe(false);
  });

  it("blocks nothing under a SAFE threshold (report-only)", () => {
    for (const severity of ["SAFE", "LOW", "MEDIUM", "HIGH"] as const) expect(isBlocking(severity, "SAFE")).toBe(false);
  });
});
