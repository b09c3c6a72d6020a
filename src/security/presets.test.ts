import { describe, expect, it } from "vitest";
import { checkCode } from "./check-code.js";
import { PolicyError } from "./policy-error.js";
import { compilePolicy } from "./policy.js";
import { PRESET_NAMES, getPreset } from "./presets.js";
import type { PresetName } from "./presets.js";

function check(preset: PresetName, code: string) {
  return checkCode("python", code, getPreset(preset));
}

function rules(preset: PresetName, code: string): string[] {
  return check(preset, code).violations.map((v) => v.rule);
}

describe("presets", () => {
  it("has llm-sandbox's seven presets, all valid", () => {
    expect(PRESET_NAMES).toEqual(["development", "production", "educational", "data_science", "web_scraping", "minimal", "strict"]);
    for (const name of PRESET_NAMES) expect(() => compilePolicy(getPreset(name))).not.toThrow();
  });

  it("has llm-sandbox's thresholds", () => {
    const thresholds = Object.fromEntries(PRESET_NAMES.map((name) => [name, getPreset(name).severityThreshold]));
    expect(thresholds).toEqual({
      development: "HIGH",
      production: "LOW",
      educational: "MEDIUM",
      data_science: "MEDIUM",
      web_scraping: "MEDIUM",
      minimal: "HIGH",
      strict: "LOW",
    });
  });

  // The demo in llm-sandbox's examples/security_policy_presets.py runs these four snippets
  // through every preset; these are the verdicts its rules give.
  const demo = {
    hello: "print('Hello, World!')",
    http: "import requests\nrequests.get('http://example.com')",
    system: "import os\nos.system('ls')",
    eval: "eval('2 + 2')",
  };
  it.each([
    ["development", { hello: true, http: true, system: false, eval: true }],
    ["production", { hello: true, http: true, system: false, eval: false }],
    ["educational", { hello: true, http: true, system: false, eval: true }],
    ["data_science", { hello: true, http: true, system: false, eval: true }],
    ["web_scraping", { hello: true, http: true, system: false, eval: true }],
    ["minimal", { hello: true, http: true, system: true, eval: true }],
    ["strict", { hello: true, http: false, system: false, eval: false }],
  ] as const)("%s judges llm-sandbox's demo snippets as llm-sandbox does", (preset, expected) => {
    const verdicts = Object.fromEntries(Object.entries(demo).map(([name, code]) => [name, check(preset, code).safe]));
    expect(verdicts).toEqual(expected);
  });

  it("development blocks only machine-damaging code", () => {
    expect(check("development", "import os\nimport subprocess\neval(x)").safe).toBe(true);
    expect(check("development", "import ctypes").safe).toBe(false);
    expect(rules("development", "os.system('rm -rf /')")).toEqual([String.raw`\bos\.system\s*\(`, String.raw`\brm\s+-rf\s+/`]);
    expect(check("development", 'cmd = "format C:\\\\"').safe).toBe(false);
  });

  it("production blocks even LOW findings such as os.environ", () => {
    expect(check("production", "import json\nprint(json.dumps({}))").safe).toBe(true);
    expect(check("production", "from os import environ").safe).toBe(false);
    expect(rules("production", "import os\nx = os.environ['HOME']")).toEqual(["import:os", String.raw`\bos\.environ`]);
    expect(check("production", "f = open('out.txt', 'w')").safe).toBe(false);
    expect(check("production", "f = open('in.txt')").safe).toBe(true);
    expect(check("production", "import multiprocessing").safe).toBe(false);
    expect(check("production", "subprocess.check_output(['ls'])").safe).toBe(false);
  });

  it("educational warns about eval and sockets but allows them", () => {
    const result = check("educational", "import socket\nprint(eval('1+1'))");
    expect(result.safe).toBe(true);
    expect(result.violations.map((v) => [v.rule, v.severity])).toEqual([
      ["import:socket", "LOW"],
      [String.raw`\beval\s*\(`, "LOW"],
    ]);
    expect(check("educational", "import ctypes").safe).toBe(false); // MEDIUM here
    expect(check("educational", "import shutil\nshutil.rmtree('/data')").safe).toBe(false);
    expect(check("educational", "s = socket.socket(AF_INET, SOCK_RAW)").safe).toBe(false);
    expect(check("educational", "s = socket.socket(AF_INET, SOCK_STREAM)").safe).toBe(true);
  });

  it("data_science allows HTTP and pickle with a note, not sockets", () => {
    const result = check("data_science", "import requests, pickle\nobj = pickle.loads(requests.get(u).content)");
    expect(result.safe).toBe(true);
    expect(result.violations.map((v) => v.rule)).toEqual(["import:requests", String.raw`\bpickle\.loads?\s*\(`]);
    expect(check("data_science", "import pandas as pd\ndf = pd.read_csv('x.csv')").violations).toEqual([]);
    expect(check("data_science", "socket.socket()").safe).toBe(false);
    expect(check("data_science", "import ctypes").safe).toBe(false);
  });

  it("web_scraping allows requests and sleeping, not raw sockets", () => {
    const result = check("web_scraping", "import requests, time\nrequests.get(u)\ntime.sleep(0.5)");
    expect(result.safe).toBe(true);
    expect(result.violations.map((v) => v.description)).toEqual(["HTTP requests library", "Sleep operations (potential rate limiting bypass)"]);
    expect(check("web_scraping", "import socket").safe).toBe(false);
    expect(check("web_scraping", "import urllib.request").safe).toBe(true);
  });

  it("minimal blocks only destructive commands and ctypes", () => {
    expect(check("minimal", "import os, subprocess\nos.system('ls')\nsubprocess.run(['ls'])").safe).toBe(true);
    expect(check("minimal", "os.system('rm -rf /tmp/x')").safe).toBe(false);
    expect(check("minimal", "subprocess.call('del x', shell=True)").safe).toBe(false);
    expect(check("minimal", "import ctypes").safe).toBe(false);
  });

  it("strict refuses almost everything beyond computation", () => {
    expect(check("strict", "print(sum(range(10)))").safe).toBe(true);
    expect(check("strict", "getattr(obj, 'x')").safe).toBe(false); // LOW blocks under LOW
    expect(check("strict", "import threading").safe).toBe(false);
    expect(check("strict", "data = open('x').read()").safe).toBe(false);
    expect(check("strict", "import sys\nprint(sys.argv)").safe).toBe(false);
    expect(check("strict", "import marshal, shelve").violations.map((v) => v.rule)).toEqual(["import:marshal", "import:shelve"]);
  });

  it("restricts the modules that reach the same power under other names", () => {
    for (const code of ["import posix", "from nt import system", "import runpy", "import _posixsubprocess", "import pty", "import _socket", "import _ctypes"]) {
      expect(check("production", code).safe, code).toBe(false);
      expect(check("strict", code).safe, code).toBe(false);
    }
    expect(rules("strict", "import _pickle, _multiprocessing")).toEqual(["import:_pickle", "import:_multiprocessing"]);
    // At the severity of the module they stand for.
    expect(check("educational", "import _socket").violations).toMatchObject([{ rule: "import:_socket", severity: "LOW" }]);
    expect(check("development", "import _ctypes").safe).toBe(false);
    expect(check("development", "import posix").safe).toBe(true); // development does not restrict os
    const modules = getPreset("production").restrictedModules.map((m) => m.name);
    expect(modules.filter((m) => m === "runpy")).toHaveLength(1);
  });

  it("finds presets case-insensitively, with - for _", () => {
    expect(getPreset("Production")).toBe(getPreset("production"));
    expect(getPreset("data-science")).toBe(getPreset("data_science"));
  });

  it("refuses an unknown preset, listing the known ones", () => {
    expect(() => getPreset("paranoid")).toThrow(PolicyError);
    try {
      getPreset("paranoid");
    } catch (err: unknown) {
      expect(err).toMatchObject({ field: "preset" });
      expect((err as Error).message).toContain('"paranoid"');
      for (const name of PRESET_NAMES) expect((err as Error).message).toContain(name);
    }
  });

  it("cannot be modified by a caller", () => {
    const production = getPreset("production");
    expect(Object.isFrozen(production)).toBe(true);
    expect(Object.isFrozen(production.patterns)).toBe(true);
    expect(Object.isFrozen(production.patterns[0])).toBe(true);
  });
});
