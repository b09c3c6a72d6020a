import { describe, expect, it } from "vitest";
import { checkLibraries } from "./check-libraries.js";
import { PolicyError } from "./policy-error.js";
import type { SecurityPolicy } from "./policy.js";
import { getPreset } from "./presets.js";

const policy: SecurityPolicy = {
  severityThreshold: "MEDIUM",
  patterns: [],
  restrictedModules: [
    { name: "ctypes", description: "Foreign functions", severity: "HIGH" },
    { name: "requests", description: "HTTP", severity: "LOW" },
    { name: "py_yaml", description: "YAML", severity: "MEDIUM" },
  ],
};

describe("checkLibraries", () => {
  it("refuses a library that is a blocking restricted module", () => {
    expect(checkLibraries("python", ["numpy", "ctypes"], policy)).toEqual({
      allowed: false,
      refused: [{ library: "ctypes", module: policy.restrictedModules[0] }],
    });
  });

  it("allows a restricted module whose import would not block (severity below threshold)", () => {
    expect(checkLibraries("python", ["requests"], policy)).toEqual({ allowed: true, refused: [] });
  });

  it("sees through version specifiers, extras and PEP 503 spellings", () => {
    const result = checkLibraries("python", ["ctypes==1.0", "CTypes[extra]>=2", "Py-YAML", "py.yaml~=6"], policy);
    expect(result.refused.map((r) => r.library)).toEqual(["ctypes==1.0", "CTypes[extra]>=2", "Py-YAML", "py.yaml~=6"]);
  });

  it("does not refuse a package that merely shares a prefix", () => {
    expect(checkLibraries("python", ["ctypesgen", "requests-oauthlib"], policy).allowed).toBe(true);
  });

  it("matches npm, Go and Ruby package names the way their imports match", () => {
    const strict: SecurityPolicy = {
      severityThreshold: "LOW",
      patterns: [],
      restrictedModules: [
        { name: "child_process", description: "x", severity: "HIGH" },
        { name: "@corp/secret", description: "x", severity: "HIGH" },
        { name: "golang.org/x/net", description: "x", severity: "HIGH" },
        { name: "socket", description: "x", severity: "HIGH" },
      ],
    };
    expect(checkLibraries("javascript", ["child_process@1.0.0", "@corp/secret@^2", "lodash"], strict).refused.map((r) => r.library)).toEqual([
      "child_process@1.0.0",
      "@corp/secret@^2",
    ]);
    expect(checkLibraries("go", ["golang.org/x/net/html@v0.20.0"], strict).allowed).toBe(false);
    expect(checkLibraries("ruby", ["socket:1.0", "sockets"], strict).refused.map((r) => r.library)).toEqual(["socket:1.0"]);
  });

  it("refuses nothing under a SAFE (report-only) threshold", () => {
    expect(checkLibraries("python", ["ctypes"], { ...policy, severityThreshold: "SAFE" }).allowed).toBe(true);
  });

  it("applies presets: production refuses installing subprocess-like modules", () => {
    expect(checkLibraries("python", ["pandas", "multiprocessing"], getPreset("production")).refused.map((r) => r.library)).toEqual(["multiprocessing"]);
  });

  it("refuses an unknown language", () => {
    expect(() => checkLibraries("cobol", ["x"], policy)).toThrow(PolicyError);
  });
});
