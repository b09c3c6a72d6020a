import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UNREADABLE_ENCODING_RULE, checkCode } from "./check-code.js";
import type { SecurityPolicy } from "./policy.js";

/**
 * Differential test of the Python reader against Python itself: generated programs import
 * modules in many syntactic shapes, `python3` says (per `ast`) which modules each really
 * imports, and CheckCode must find every one of them (no false negatives) and nothing that
 * is only text in a string or comment (no false positives).
 *
 * A second test does the same on token soup: random strings of quotes, prefixes, braces,
 * backslashes and line ends around imports, where a reader out of step with Python shows.
 *
 * SANDBOXD_DIFF_PYTHON names another interpreter as the truth (3.12 also compiles the
 * PEP 701 f-strings the generator makes, which 3.11 skips).
 *
 * Deterministic: a seeded PRNG (SANDBOXD_DIFF_SEED overrides the seed). Bounded: at most
 * SANDBOXD_DIFF_COUNT programs (default 3,000; eight times that of soup, most of which
 * does not compile) and about 20 s of checking each.
 *
 * Over-reporting is accepted, and the program exempt from the false-positive check, only
 * where it is the documented safe choice: a constant head with a computed tail
 * (`__import__('os' + x)` counts as `os`) and the code's second reading under a Latin-1
 * coding cookie. A program refused for its coding cookie counts as caught whatever it
 * imports: it cannot run.
 */

const SEED = Number(process.env.SANDBOXD_DIFF_SEED ?? 20261201);
const COUNT = Number(process.env.SANDBOXD_DIFF_COUNT ?? 3000);
const BUDGET_MS = 20_000;
/** The interpreter that is the truth (SANDBOXD_DIFF_PYTHON, e.g. a 3.12 to check PEP 701 f-strings). */
const PYTHON = process.env.SANDBOXD_DIFF_PYTHON ?? "python3";

const TRUTH_SCRIPT = fileURLToPath(new URL("./python-imports-truth.py", import.meta.url));

const MODULES = ["os", "subprocess", "socket", "ctypes", "sys", "posix", "importlib", "json", "osmosis", "pty"];

const policy: SecurityPolicy = {
  severityThreshold: "LOW",
  patterns: [],
  restrictedModules: MODULES.map((name) => ({ name, description: name, severity: "HIGH" as const })),
};

/** mulberry32: small, fast, good enough to pick shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Program {
  readonly code: string;
  /** Over-reporting is the documented safe choice somewhere in this program. */
  readonly overReportOk: boolean;
}

class Generator {
  private readonly random: () => number;
  private overReport = false;

  constructor(seed: number) {
    this.random = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  module(): string {
    return this.pick(MODULES);
  }

  /** `name` with some letters swapped for characters NFKC maps to them. */
  variant(name: string): string {
    if (!this.chance(0.3)) return name;
    let out = "";
    for (const c of name) {
      if (!/[a-z]/.test(c) || !this.chance(0.4)) {
        out += c;
        continue;
      }
      const i = c.charCodeAt(0) - 0x61;
      const special: Record<string, string[]> = { o: ["ℴ"], s: ["ſ"], i: ["ⅰ", "ｉ"], h: ["ℎ"] };
      const options = [
        String.fromCodePoint(0xff41 + i), // fullwidth
        String.fromCodePoint(0x1d41a + i), // mathematical bold
        String.fromCodePoint(0x1d5ba + i), // mathematical sans-serif
        ...(special[c] ?? []),
      ];
      out += this.pick(options);
    }
    return out;
  }

  /** A Python string literal whose value is `value`, spelt with escapes at times. */
  literal(value: string): string {
    const quote = this.pick(["'", '"']);
    let body = "";
    for (const c of value) {
      const code = c.charCodeAt(0);
      const r = this.int(10);
      if (r === 0) body += `\\x${code.toString(16).padStart(2, "0")}`;
      else if (r === 1) body += `\\u${code.toString(16).padStart(4, "0")}`;
      else if (r === 2) body += `\\${code.toString(8).padStart(3, "0")}`;
      else if (r === 3 && /[a-z]/.test(c)) body += `\\N{LATIN SMALL LETTER ${c.toUpperCase()}}`;
      else if (r === 4 && c === ".") body += "\\N{FULL STOP}";
      else body += c;
    }
    return `${this.chance(0.1) ? this.pick(["u", "U"]) : ""}${quote}${body}${quote}`;
  }

  /** A constant expression for `value`: a literal, or pieces joined in Python's ways. */
  constantFor(value: string): string {
    const shape = this.int(8);
    if (value.length < 2 || shape < 2) return this.literal(value);
    const cut = 1 + this.int(value.length - 1);
    const [a, b] = [value.slice(0, cut), value.slice(cut)];
    if (shape === 2) return `${this.literal(a)} + ${this.literal(b)}`;
    if (shape === 3) return `${this.literal(a)} ${this.literal(b)}`;
    if (shape === 4) return `(${this.literal(a)}) + (${this.literal(b)})`;
    if (shape === 5) return `f"{${this.literal(a).replaceAll('"', "'")}}${b}"`;
    if (shape === 6) return `f'${a}{${this.literal(b).replaceAll("'", '"')}}'`;
    return `(${this.literal(value)})`;
  }

  moduleName(): string {
    const m = this.module();
    return this.chance(0.2) ? `${m}.${this.pick(["path", "util", "x"])}` : m;
  }

  loaderCall(): string {
    const m = this.moduleName();
    const value = this.constantFor(m);
    const imp = this.variant("__import__");
    const importModule = this.variant("import_module");
    switch (this.int(14)) {
      case 0:
        return `${imp}(${value})`;
      case 1:
        return `(${imp})(${value})`;
      case 2:
        return `${imp}(name=${value})`;
      case 3:
        return `${imp}(${value}, globals(), None, ['x'], 0)`;
      case 4:
        return `importlib.${importModule}(${value})`;
      case 5:
        return `importlib.${importModule}(name=${value})`;
      case 6:
        return `from importlib import import_module as im\nim(${value})`;
      case 7:
        return `load = __import__\nload(${value})`;
      case 8:
        return `import importlib as il\nil.import_module(${value})`;
      case 9:
        return `builtins.__import__(${value})`;
      case 10:
        return `importlib.import_module('.path', ${this.literal(this.module())})`;
      case 11:
        this.overReport = true;
        return `__import__(${this.literal(m)} + suffix)`;
      case 12:
        return `__import__(${this.literal(this.variant(m))})`; // a string is not normalised
      default:
        return `x = [__import__(${value}) for _ in range(1)]`;
    }
  }

  importStatement(): string {
    const m = this.variant(this.module());
    const sub = this.chance(0.3) ? `.${this.pick(["path", "util"])}` : "";
    switch (this.int(12)) {
      case 0:
        return `import ${m}${sub}`;
      case 1:
        return `import ${m}${sub} as alias`;
      case 2:
        return `import json, ${m}${sub}`;
      case 3:
        return `import json, \\\n    ${m}${sub}`;
      case 4:
        return `from ${m}${sub} import name`;
      case 5:
        return `from ${m}${sub} import (\n    a,\n    b as c,\n)`;
      case 6:
        return `from ${m} import *`;
      case 7:
        return `x = 1; import ${m}`;
      case 8:
        return `import ${m}; y = 2`;
      case 9:
        return `from . import ${m}`;
      case 10:
        return `from .${m} import x`;
      default:
        return `from \\\n  ${m} \\\n  import a`;
    }
  }

  /** Text that mentions an import but is none (or is one only where Python says so). */
  text(): string {
    const m = this.module();
    const inner = this.pick([`import ${m}`, `from ${m} import x`, `__import__('${m}')`, `importlib.import_module('${m}')`]);
    const innerDq = inner.replaceAll("'", '"');
    switch (this.int(43)) {
      case 0:
        return `# ${inner}`;
      case 1:
        return `s = "${inner}"`;
      case 2:
        return `s = '${innerDq}'`;
      case 3:
        return `"""\n${inner}\n"""`;
      case 4:
        return `def f():\n    '''${innerDq}'''\n    return 1`;
      case 5:
        return `s = b'${innerDq}'`;
      case 6:
        return `s = 'it\\'s'; import ${m}`;
      case 7:
        return `s = r'\\''; import ${m}`;
      case 8:
        return `s = '''a''b'''; import ${m}`;
      case 9:
        return `s = 'x\u2028'; import ${m}`;
      case 10:
        return `s = '\u2028${innerDq}'`;
      case 11:
        return `# c\u2028${inner}`;
      case 12:
        return `s = '\u0085\u2029\f'; import ${m}`;
      case 13:
        return `s = f"{__import__('${m}')}"`;
      case 14:
        return `s = f"import {${m}}"`;
      case 15:
        return `s = f"{{__import__('${m}')}}"`;
      case 16:
        return `s = f"\\{__import__('${m}')}"`;
      case 17:
        return `s = f"\\N{LATIN SMALL LETTER A}{__import__('${m}')}"`;
      case 18:
        return `s = rf"\\N{__import__('${m}')}"`;
      case 19:
        return `s = f"{x!r:>{__import__('${m}')}}"`;
      case 20:
        return `s = f'''\n{__import__("${m}")}\n'''`;
      case 21:
        return `s = "\\\n${innerDq}"`;
      case 22:
        return `s = Rb"\\" # ${inner}"`;
      case 23:
        return `s = '\\N{LATIN SMALL LETTER O}s'; t = "\\\\"; # ${inner}`;
      case 24:
        return `s = f'{f"{__import__('${m}')}"}'`;
      case 25:
        return `s = ${this.pick(["Rb", "bR", "BR", "rB", "Fr", "fR", "RF", "F", "U", "B"])}"\\" # ${inner}"`;
      case 26:
        return `# it's a "comment \\\nimport ${m}`;
      case 27:
        return `s = "#"; import ${m}`;
      case 28:
        return `s = '''a\\''' # ${inner}'''`;
      case 29:
        return `if s: import ${m}`;
      case 30:
        return `f = lambda: __import__('${m}')`;
      case 31:
        return `(im := __import__)('${m}')`;
      case 32:
        return `def f(x: "${inner.replaceAll('"', "'")}") -> '${innerDq}': pass`;
      case 33:
        return `x = 1 + \\\n    2; import ${m}`;
      case 34:
        return `s = f"{'#'}"; import ${m}`;
      case 35:
        return `s = f"{x:{'{'}}}"; import ${m}`;
      case 36:
        return `s = "\\N{NUMBER SIGN}"; import ${m}`;
      // Python 3.12 (PEP 701) only; 3.11 does not compile them.
      case 37:
        return `s = f"{__import__("${m}")}"`;
      case 38:
        return `s = f"""{\n__import__('${m}')  # a comment } '''\n}"""`;
      case 39:
        return `s = f'{f'{f'{__import__("${m}")}'}'}'`;
      case 40:
        return `s = f"{"\\""}"; import ${m}`;
      case 41:
        return `s = f"{'\\N{LATIN SMALL LETTER A}'}"; x = __import__(f"{'${m}'}")`;
      default:
        return `s = '\\\\' '${innerDq}'`;
    }
  }

  fragment(): string {
    const r = this.int(10);
    const body = r < 4 ? this.importStatement() : r < 7 ? this.loaderCall() : this.text();
    if (!this.chance(0.25)) return body;
    const indented = body.replaceAll("\n", "\n    ");
    return this.pick([
      `if True:\n    ${indented}`,
      `def f():\n    ${indented}`,
      `try:\n    ${indented}\nexcept Exception:\n    pass`,
      `class C:\n    ${indented}`,
    ]);
  }

  cookie(): string {
    switch (this.int(14)) {
      case 0:
        return "# -*- coding: utf-8 -*-";
      case 1:
        return "# coding: latin-1";
      case 2:
        return "# vim: set fileencoding=ascii :";
      case 3:
        return `# coding: unicode_escape\n# \\u000aimport ${this.module()}`;
      case 4:
        return `# coding: raw_unicode_escape\n# \\u000a${this.loaderCall().split("\n")[0] ?? ""}`;
      case 5:
        return `# coding: utf-7\n# +AAo-import ${this.module()}`;
      case 6:
        return "#!/usr/bin/env python3\n# coding=utf8";
      default:
        return "";
    }
  }

  program(): Program {
    this.overReport = false;
    const parts: string[] = [];
    const cookie = this.cookie();
    if (cookie !== "") parts.push(cookie);
    const count = 1 + this.int(4);
    for (let k = 0; k < count; k++) parts.push(this.fragment());
    const newline = this.pick(["\n", "\n", "\n", "\r\n", "\r"]);
    // Blanks Python allows between tokens, in place of some spaces.
    const spaced = parts.join("\n").replace(/ /g, (space) => (this.chance(0.05) ? this.pick(["\t", "\f", "  "]) : space));
    const code = spaced.replaceAll("\n", newline);
    return { code, overReportOk: this.overReport || cookie.includes("latin-1") };
  }
}

function truthOf(programs: readonly Program[]): (string[] | null)[] | null {
  const run = spawnSync(PYTHON, [TRUTH_SCRIPT], {
    input: JSON.stringify(programs.map((p) => p.code)),
    encoding: "utf8",
    timeout: BUDGET_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error !== undefined || run.status !== 0) return null;
  return JSON.parse(run.stdout) as (string[] | null)[];
}

const hasPython = spawnSync(PYTHON, ["--version"]).status === 0;

describe("the Python reader against Python's own parser", () => {
  it.skipIf(!hasPython)(
    `finds every module Python imports, and none that are only text (seed ${SEED})`,
    () => {
      const generator = new Generator(SEED);
      const programs = Array.from({ length: COUNT }, () => generator.program());
      const started = Date.now();
      const truths = truthOf(programs);
      expect(truths, "python3 ground truth failed").not.toBeNull();
      const failures: string[] = [];
      let compiled = 0;
      let importing = 0;
      let checked = 0;
      for (const [index, program] of programs.entries()) {
        if (Date.now() - started > BUDGET_MS) break;
        checked++;
        const truth = truths?.[index];
        if (truth === null || truth === undefined) continue; // Python does not compile it
        compiled++;
        const expected = new Set(truth.filter((m) => MODULES.includes(m)));
        if (expected.size > 0) importing++;
        const result = checkCode("python", program.code, policy);
        if (result.violations.some((v) => v.rule === UNREADABLE_ENCODING_RULE)) continue; // refused outright
        const found = new Set(result.violations.map((v) => v.rule.replace(/^import:/, "")));
        const missed = [...expected].filter((m) => !found.has(m));
        const extra = program.overReportOk ? [] : [...found].filter((m) => !expected.has(m));
        if (missed.length > 0 || extra.length > 0) {
          failures.push(
            `program #${index} (seed ${SEED}): missed ${JSON.stringify(missed)}, over-reported ${JSON.stringify(extra)}\n` +
              `  code: ${JSON.stringify(program.code)}\n  python imports: ${JSON.stringify(truth)}`,
          );
        }
      }
      expect(failures.slice(0, 10).join("\n"), `${failures.length} of ${compiled} compiling programs disagree`).toBe("");
      // Not vacuous: most programs compile, and many import something.
      const stats = `checked ${checked}, compiled ${compiled}, importing something ${importing}`;
      expect(checked, stats).toBeGreaterThan(Math.min(COUNT - 1, 500));
      expect(compiled, stats).toBeGreaterThan(checked * 0.4);
      expect(importing, stats).toBeGreaterThan(compiled * 0.3);
    },
    60_000,
  );

  // Random strings of quotes, prefixes, braces, backslashes and line ends with imports in
  // between: most do not compile, and the few that do are where a reader falls out of step.
  const SOUP = [
    ...["'", '"', "'''", '"""', "f'", 'f"', "rf'", "f'''", "b", "r", "\\", "\\{", "\\N{LATIN SMALL LETTER O}"],
    ...["{", "}", "{{", "}}", "!r}", ":{", "{x", "#", "\n", "\r", "\u2028", "\u0085", " ", "\t", "\\\n"],
    ...["x", "s", "=", "(", ")", ";", ":", "+", ",", "import os", "__import__('os')", '{__import__("os")}'],
  ];
  it.skipIf(!hasPython)(
    `agrees with Python on token soup (seed ${SEED})`,
    () => {
      const random = prng(SEED ^ 0x5eed);
      const programs = Array.from({ length: COUNT * 8 }, () => {
        let code = "";
        const length = 3 + Math.floor(random() * 12);
        for (let k = 0; k < length; k++) code += SOUP[Math.floor(random() * SOUP.length)] ?? "";
        return { code, overReportOk: false };
      });
      const started = Date.now();
      const truths = truthOf(programs);
      expect(truths, "python3 ground truth failed").not.toBeNull();
      const failures: string[] = [];
      let compiled = 0;
      for (const [index, program] of programs.entries()) {
        if (Date.now() - started > BUDGET_MS) break;
        const truth = truths?.[index];
        if (truth === null || truth === undefined) continue;
        compiled++;
        const imported = truth.includes("os");
        const found = checkCode("python", program.code, policy).violations.some((v) => v.rule === "import:os");
        if (imported !== found) {
          failures.push(`program #${index} (seed ${SEED}): python imports os: ${imported}, found: ${found}\n  code: ${JSON.stringify(program.code)}`);
        }
      }
      expect(failures.slice(0, 10).join("\n"), `${failures.length} of ${compiled} compiling programs disagree`).toBe("");
      expect(compiled).toBeGreaterThan(100);
    },
    60_000,
  );
});
