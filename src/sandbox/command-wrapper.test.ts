import { describe, expect, it } from "vitest";
import { defaultConfig } from "../config/config.js";
import { checkCommandWrapper, maxWrapperArgBytes, maxWrapperArgs, wrapArgv } from "./command-wrapper.js";
import { LanguageRegistry } from "./languages.js";
import { emptyRequest, resolveSandboxConfig, type SandboxConfig } from "./sandbox-config.js";

const languages = new LanguageRegistry();
const resolve = (commandWrapper: string[]) => resolveSandboxConfig({ ...emptyRequest("python"), commandWrapper }, defaultConfig, languages).config;

describe("wrapArgv", () => {
  it("puts the wrapper before the command's own argv, leaving both as they were", () => {
    const wrapper = ["micromamba", "run", "-n", "base"];
    const argv = ["python3", "-u", "/tmp/x.py", "a b"];
    expect(wrapArgv(wrapper, argv)).toEqual(["micromamba", "run", "-n", "base", "python3", "-u", "/tmp/x.py", "a b"]);
    expect(wrapper).toEqual(["micromamba", "run", "-n", "base"]);
    expect(argv).toEqual(["python3", "-u", "/tmp/x.py", "a b"]);
  });

  it("is the argv itself without a wrapper", () => {
    expect(wrapArgv(undefined, ["sh", "-c", "true"])).toEqual(["sh", "-c", "true"]);
    expect(wrapArgv([], ["sh", "-c", "true"])).toEqual(["sh", "-c", "true"]);
  });
});

describe("checkCommandWrapper", () => {
  const reason = { reason: "INVALID_COMMAND_WRAPPER" };
  it("accepts llm-sandbox's micromamba wrapper and spaces, quotes, unicode in arguments", () => {
    expect(checkCommandWrapper(["micromamba", "run", "-n", "my env"])).toEqual(["micromamba", "run", "-n", "my env"]);
    expect(checkCommandWrapper(["env", "A='x y'", "É=ü"])).toEqual(["env", "A='x y'", "É=ü"]);
  });

  it("refuses empty elements, NUL bytes, too many or too long elements with INVALID_ARGUMENT naming the element", () => {
    const error = (wrapper: string[]) => {
      try {
        checkCommandWrapper(wrapper);
      } catch (err) {
        return err as { code: string; reason: string; message: string };
      }
      throw new Error("accepted");
    };
    expect(error(["micromamba", ""])).toMatchObject({ code: "INVALID_ARGUMENT", message: "command_wrapper[1] is empty", ...reason });
    expect(error(["micro\0mamba"])).toMatchObject({ code: "INVALID_ARGUMENT", message: "command_wrapper[0] contains a NUL byte", ...reason });
    expect(() => checkCommandWrapper(Array.from({ length: maxWrapperArgs + 1 }, () => "x"))).toThrow(/command_wrapper has at most 16 elements, got 17/);
    expect(() => checkCommandWrapper(["env", "x".repeat(maxWrapperArgBytes + 1)])).toThrow(/command_wrapper\[1\] has 1025 bytes, at most 1024/);
    // Bytes, not characters: 513 two-byte characters are 1026 bytes.
    expect(() => checkCommandWrapper(["é".repeat(513)])).toThrow(/command_wrapper\[0\] has 1026 bytes/);
    expect(() => checkCommandWrapper(Array.from({ length: 5 }, () => "x".repeat(1000)))).toThrow(/command_wrapper has 5000 bytes in all, at most 4096/);
  });
});

describe("a sandbox's config", () => {
  it("keeps the wrapper, and survives the JSON of its container label (adoption after a restart)", () => {
    const config = resolve(["micromamba", "run", "-n", "alpha"]);
    expect(config.commandWrapper).toEqual(["micromamba", "run", "-n", "alpha"]);
    const adopted = JSON.parse(JSON.stringify(config)) as SandboxConfig;
    expect(wrapArgv(adopted.commandWrapper, ["python3", "-V"])).toEqual(["micromamba", "run", "-n", "alpha", "python3", "-V"]);
  });

  it("has none when none was asked for (labels of sandboxes from before the field parse as unwrapped)", () => {
    expect(resolve([]).commandWrapper).toBeUndefined();
    expect("commandWrapper" in resolve([])).toBe(false);
  });

  it("is checked when the sandbox is resolved, before anything is created", () => {
    expect(() => resolve(["micromamba", "run", "-n", ""])).toThrow(/command_wrapper\[3\] is empty/);
  });
});

describe("Python installs through a wrapper", () => {
  const python = languages.get("python");
  it("leave the target to pip (the environment, or its user site) instead of forcing --user", () => {
    const plain = python.install?.(["six"], { workdir: "/sandbox" })?.argv ?? [];
    const wrapped = python.install?.(["six"], { workdir: "/sandbox", wrapped: true })?.argv ?? [];
    expect(plain).toContain("--user");
    expect(wrapped).not.toContain("--user");
    expect(wrapped.slice(0, 4)).toEqual(["python3", "-m", "pip", "install"]);
    expect(wrapped.slice(-2)).toEqual(["--", "six"]);
  });
});
