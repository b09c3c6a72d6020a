import { describe, expect, it } from "vitest";
import { NUL_CHARACTER_RULE, UNANALYZABLE_RULE, UNREADABLE_ENCODING_RULE, checkCode } from "./check-code.js";
import { PolicyError } from "./policy-error.js";
import { compilePolicy } from "./policy.js";
import type { SecurityPolicy, Severity } from "./policy.js";
import { PRESET_NAMES, getPreset } from "./presets.js";

const r = String.raw;

function policy(threshold: Severity, patterns: Array<[string, Severity]>, modules: Array<[string, Severity]> = []): SecurityPolicy {
  return {
    severityThreshold: threshold,
    patterns: patterns.map(([pattern, severity]) => ({ pattern, description: `pattern ${pattern}`, severity })),
    restrictedModules: modules.map(([name, severity]) => ({ name, description: `module ${name}`, severity })),
  };
}

const systemCalls = policy(
  "MEDIUM",
  [[r`\bos\.system\s*\(`, "HIGH"]],
  [
    ["os", "HIGH"],
    ["subprocess", "HIGH"],
  ],
);

describe("checkCode", () => {
  it("reports each finding with rule, description, severity, exact line, column and snippet", () => {
    const code = "import json\n\ndef run():\n    os.system('ls')\n";
    expect(checkCode("python", code, systemCalls)).toEqual({
      safe: false,
      truncated: false,
      violations: [
        {
          rule: r`\bos\.system\s*\(`,
          description: r`pattern \bos\.system\s*\(`,
          severity: "HIGH",
          line: 4,
          column: 5,
          snippet: "    os.system('ls')",
        },
      ],
    });
  });

  it("reports every match of a pattern, not just the first, sorted by position", () => {
    const code = "os.system('a'); import subprocess\nx = 1\nos.system('b'); os.system('c')";
    const result = checkCode("python", code, systemCalls);
    expect(result.violations.map((v) => `${v.rule}@${v.line}:${v.column}`)).toEqual([
      r`\bos\.system\s*\(@1:1`,
      "import:subprocess@1:24",
      r`\bos\.system\s*\(@3:1`,
      r`\bos\.system\s*\(@3:17`,
    ]);
  });

  it('catches the import after a string containing # (s = "#"; import os)', () => {
    const result = checkCode("python", 's = "#"; import os', systemCalls);
    expect(result.safe).toBe(false);
    expect(result.violations).toMatchObject([{ rule: "import:os", line: 1, column: 17 }]);
  });

  it("ignores commented-out code", () => {
    expect(checkCode("python", "# import os\n# os.system('x')\nprint(1)", systemCalls)).toEqual({
      safe: true,
      violations: [],
      truncated: false,
    });
  });

  it("does not treat a docstring mentioning an import as an import", () => {
    const code = "def f():\n    '''Unlike the old version, this does not\n    import subprocess.'''\n    return 1\n";
    expect(checkCode("python", code, systemCalls).violations).toEqual([]);
  });

  it("lets patterns see strings (a string is data the program may use) but not imports", () => {
    const code = `cmd = "os.system('rm')"\nmsg = "import os"`;
    expect(checkCode("python", code, systemCalls).violations.map((v) => v.rule)).toEqual([r`\bos\.system\s*\(`]);
  });

  it("treats code inside a JavaScript template substitution as code", () => {
    const jsPolicy = policy("LOW", [], [["fs", "HIGH"]]);
    const result = checkCode("javascript", "const t = `files: ${require('fs').readdirSync('/')}`;", jsPolicy);
    expect(result.safe).toBe(false);
    expect(result.violations).toMatchObject([{ rule: "import:fs", line: 1, column: 29 }]);
    // ...while the text part of a template is not code.
    expect(checkCode("javascript", "const t = `require('fs')`;", jsPolicy).violations).toEqual([]);
  });

  it("reports columns in code points and keeps positions through Unicode and comments", () => {
    const code = "s = '😀 é' # ünïcode 😀 comment\nt = 'ü'; os.system('x')";
    expect(checkCode("python", code, systemCalls).violations).toMatchObject([{ line: 2, column: 10 }]);
    expect(checkCode("python", "x = '😀😀'; os.system('x')", systemCalls).violations).toMatchObject([{ line: 1, column: 11 }]);
  });

  it("counts lines the same with CRLF, LF and CR line breaks", () => {
    for (const eol of ["\n", "\r\n", "\r"]) {
      const code = ["import json", "# os.system('no')", "  os.system('yes')", ""].join(eol);
      const result = checkCode("python", code, systemCalls);
      expect(result.violations).toMatchObject([{ line: 3, column: 3, snippet: "  os.system('yes')" }]);
    }
  });

  it("makes code unsafe only at or above the threshold, reporting the rest", () => {
    const mixed = policy("MEDIUM", [
      [r`\beval\s*\(`, "LOW"],
      [r`\bexec\s*\(`, "MEDIUM"],
    ]);
    expect(checkCode("python", "eval('1')", mixed)).toMatchObject({ safe: true, violations: [{ severity: "LOW" }] });
    expect(checkCode("python", "exec('1')", mixed)).toMatchObject({ safe: false, violations: [{ severity: "MEDIUM" }] });
  });

  it("with a SAFE threshold reports everything and blocks nothing, as llm-sandbox does", () => {
    const advisory = policy("SAFE", [[r`\bos\.system\s*\(`, "HIGH"]], [["os", "HIGH"]]);
    const result = checkCode("python", "import os\nos.system('rm -rf /')", advisory);
    expect(result.safe).toBe(true);
    expect(result.violations.map((v) => v.rule)).toEqual(["import:os", r`\bos\.system\s*\(`]);
  });

  it("reports a case-insensitive Python pattern", () => {
    const result = checkCode("python", "x = EVAL(1)", policy("LOW", [[r`(?i)\beval\(`, "LOW"]]));
    expect(result.violations).toMatchObject([{ line: 1, column: 5 }]);
  });

  it("accepts a compiled policy, so a sandbox's policy is validated once", () => {
    const compiled = compilePolicy(systemCalls);
    expect(checkCode("python", "import os", compiled)).toEqual(checkCode("python", "import os", systemCalls));
    expect(checkCode("python", "import os", compiled).safe).toBe(false);
  });

  it("caps the number of violations, keeping blocking ones first, but judges all", () => {
    const noisy = policy("MEDIUM", [
      [r`\bprint\(`, "LOW"],
      [r`\bexec\(`, "HIGH"],
    ]);
    const code = `${"print(1)\n".repeat(50)}exec('x')\n`;
    const result = checkCode("python", code, noisy, { maxViolations: 5 });
    expect(result.truncated).toBe(true);
    expect(result.safe).toBe(false);
    expect(result.violations.map((v) => `${v.severity}@${v.line}`)).toEqual(["LOW@1", "LOW@2", "LOW@3", "LOW@4", "HIGH@51"]);
    expect(checkCode("python", code, noisy, { maxViolations: 0 })).toEqual({ safe: false, violations: [], truncated: true });
  });

  it("does not loop on a pattern that can match the empty string", () => {
    const result = checkCode("python", "ab\n😀", policy("LOW", [["x*", "LOW"]]), { maxViolations: 100 });
    expect(result.violations.map((v) => `${v.line}:${v.column}`)).toEqual(["1:1", "1:2", "1:3", "2:1", "2:2"]);
  });

  it("shortens the snippet of a very long line around the finding", () => {
    const code = `x = [${"1, ".repeat(2000)}os.system('y')]`;
    const [violation] = checkCode("python", code, systemCalls).violations;
    expect(violation?.snippet.length).toBeLessThanOrEqual(202);
    expect(violation?.snippet).toContain("os.system('y')");
    expect(violation?.column).toBe(6006);
  });

  it("fails closed on literals nested too deeply to analyse", () => {
    const code = `${"`${".repeat(1000)}require('fs')`;
    const result = checkCode("javascript", code, policy("MEDIUM", [], [["fs", "HIGH"]]));
    expect(result.safe).toBe(false);
    expect(result.violations).toMatchObject([{ rule: UNANALYZABLE_RULE, severity: "HIGH", line: 1, column: 1 }]);
  });

  describe("python source encodings", () => {
    it.each([
      ["# coding: unicode_escape\nimport json  # \\u000aimport os", "unicode_escape", 1, 11],
      ["#!/usr/bin/env python3\n# -*- coding: raw_unicode_escape -*-\n# \\u000aimport os", "raw_unicode_escape", 2, 15],
      ["# vim: set fileencoding=utf-7 :\n+AAo-import os", "utf-7", 1, 25],
      ["\t# coding=UTF-16\nx = 1", "UTF-16", 1, 11],
      ["x = 1\r# coding: cp1252\rimport os", "cp1252", 2, 11],
    ])("refuses %j: the checker cannot read what Python would (%s)", (code, name, line, column) => {
      for (const preset of PRESET_NAMES) {
        const result = checkCode("python", code, getPreset(preset));
        expect(result.safe).toBe(false);
        expect(result.violations).toContainEqual(
          expect.objectContaining({ rule: UNREADABLE_ENCODING_RULE, severity: "HIGH", line, column, description: expect.stringContaining(name) }),
        );
      }
    });

    it.each([
      "# -*- coding: utf-8 -*-\nx = 1",
      "# coding: utf8\nx = 1",
      "# coding=utf-8-unix\nx = 1",
      "#!/usr/bin/python\n# coding: latin-1\nx = 1",
      "# coding: iso-8859-1\nx = 1",
      "# coding: ISO_8859_1\nx = 1",
      "# coding: ascii\nx = 1",
      "# coding: us-ascii\nx = 1",
      "x = 1\n\n# coding: utf-7",
      "x = 'coding: utf-7'",
    ])("reads %j (a declaration it can decode, or none)", (code) => {
      expect(checkCode("python", code, getPreset("strict")).violations).toEqual([]);
    });

    it("under a Latin-1 declaration reads the code both as sent and as Python reads the file, reporting each finding once", () => {
      const code = "# coding: latin-1\ns = 'é'; import os";
      const result = checkCode("python", code, policy("LOW", [[r`\bos\b`, "LOW"]], [["os", "HIGH"]]));
      expect(result.violations.map((v) => `${v.rule}@${v.line}:${v.column}`)).toEqual([r`\bos\b@2:17`, "import:os@2:17"]);
    });
  });

  it("refuses Python source with a NUL character (older Pythons stop reading its line there)", () => {
    const code = "x = 1 \u0000 '''\nimport os\n'''\n'''";
    for (const preset of PRESET_NAMES) {
      const result = checkCode("python", code, getPreset(preset));
      expect(result.safe).toBe(false);
      expect(result.violations).toContainEqual(expect.objectContaining({ rule: NUL_CHARACTER_RULE, severity: "HIGH", line: 1, column: 7 }));
    }
    expect(checkCode("javascript", "const s = '\u0000'", getPreset("strict")).violations).toEqual([]);
  });

  it("matches patterns against the NFKC form Python reads names in, reporting the original position", () => {
    const result = checkCode("python", "x = '𝐚'; ｏｓ.system('ls')", getPreset("development"));
    expect(result.safe).toBe(false);
    expect(result.violations).toMatchObject([{ rule: r`\bos\.system\s*\(`, line: 1, column: 10 }]);
    expect(checkCode("python", "ｅｖａｌ('1')", getPreset("production")).safe).toBe(false);
  });

  it("refuses an unknown language or an invalid policy with a PolicyError", () => {
    expect(() => checkCode("cobol", "x", systemCalls)).toThrow(PolicyError);
    expect(() => checkCode("python", "x", policy("LOW", [["(", "LOW"]]))).toThrow(/patterns\[0\]\.pattern/);
  });

  it("accepts language aliases", () => {
    expect(checkCode("node", "require('fs')", policy("LOW", [], [["fs", "LOW"]])).safe).toBe(false);
  });

  describe("on 1 MB inputs", () => {
    // Realistic code in each language, repeated; and inputs built to make a naive lexer
    // rescan (unclosed regex literals, quotes, raw strings, nesting). Each check must stay
    // linear: the timeout, not a timed assertion, catches a regression to quadratic.
    const oneMegabyte = (unit: string) => unit.repeat(Math.ceil(1_000_000 / unit.length));
    // [language, code, a restricted module it imports on every repetition]
    const realistic: Array<[string, string, string]> = [
      ["python", 'import json\n# comment os.system("x")\ndef f(x):\n    """doc"""\n    return f"{x!r:>10}" + open("a", "w").read()\n', "json"],
      ["javascript", "const fs = require('fs'); // c\nconst t = `a${b / 2}`; const r = /a[/]b/g; x = a / b;\n", "fs"],
      ["typescript", "import { a } from 'x'; let y: number = 1 / 2; /* c */\n", "x"],
      ["java", 'import java.io.File; // c\nclass A { String s = "/* no */"; char c = \'"\'; }\n', "java.io"],
      ["cpp", '#include <cstdlib>\nint x = 1\'000; // c\nauto s = R"(x)"; /* y */\n', "cstdlib"],
      ["go", 'import (\n "os"\n f "fmt"\n)\nvar s = `raw // no`\n// c\n', "os"],
      ["ruby", "require 'json' # c\nx = \"#{y}\" + %w[a b].join\nz = 5 % 3\n", "json"],
      ["r", 'library(stats) # c\nx <- r"(raw # no)"\ny <- utils::head(1)\n', "stats"],
    ];
    it.each(realistic)(
      "checks realistic %s against the strict preset",
      (language, unit, module) => {
        const strictPlusModule = { ...getPreset("strict"), restrictedModules: [{ name: module, description: "x", severity: "HIGH" as const }] };
        const result = checkCode(language, oneMegabyte(unit), strictPlusModule);
        expect(result).toMatchObject({ safe: false, truncated: true });
        expect(result.violations).toHaveLength(1000);
      },
      10_000,
    );

    it("checks realistic bash", () => {
      const result = checkCode("bash", oneMegabyte('echo $# ${#x} a#b "$(ls # in\n)" # c\n'), policy("LOW", [[r`\bls\b`, "LOW"]]));
      expect(result).toMatchObject({ safe: false, truncated: true });
    }, 10_000);

    const adversarial: Array<[string, string]> = [
      ["javascript", "=/["],
      ["javascript", "(/\\"],
      ["ruby", "x /["],
      ["ruby", "?#"],
      ["cpp", 'R"'],
      ["cpp", "#include <x\n"],
      ["python", "'"],
      ["python", "from "],
      ["javascript", "export "],
      ["r", "library("],
      ["java", "a."],
      ["bash", "<<A\n"],
    ];
    it.each(adversarial)(
      "lexes %s input made of %j in linear time",
      (language, unit) => {
        const result = checkCode(language, oneMegabyte(unit), policy("LOW", [], [["os", "HIGH"]]));
        expect(result.truncated).toBe(false);
      },
      10_000,
    );
  });
});
