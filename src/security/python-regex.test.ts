import { describe, expect, it } from "vitest";
import { RegexTranslationError, translatePythonRegex } from "./python-regex.js";

/** All match spans of a Python pattern in `text`, as JavaScript finds them. */
function spans(pattern: string, text: string): Array<[number, number]> {
  const { source, flags } = translatePythonRegex(pattern);
  const regex = new RegExp(source, `${flags}g`);
  const found: Array<[number, number]> = [];
  for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
    found.push([m.index, m.index + m[0].length]);
    if (m[0] === "") regex.lastIndex++;
  }
  return found;
}

// Expected spans below are Python 3.11's re.finditer results on the same input (offsets
// in UTF-16 code units where they differ from Python's code points: the emoji).
describe("translatePythonRegex", () => {
  it("keeps ordinary patterns meaning the same", () => {
    expect(spans(String.raw`\bos\.system\s*\(`, "import os\nos.system('x')\n")).toEqual([[10, 20]]);
    expect(spans(String.raw`\bopen\s*\([^)]*['\"][wa]['\"][^)]*\)`, `open('f','w') open(x, "a")`)).toEqual([
      [0, 13],
      [14, 26],
    ]);
  });

  it("turns leading inline flags into JavaScript flags", () => {
    expect(translatePythonRegex("(?i)EVAL").flags).toBe("i");
    expect(spans(String.raw`(?i)EVAL\s*\(`, "EVAL (1) eval(2)")).toEqual([
      [0, 6],
      [9, 14],
    ]);
    expect(translatePythonRegex("(?is)a.b").flags).toBe("is");
    expect(spans("(?s)a.b", "a\nb")).toEqual([[0, 3]]);
  });

  it("gives ^, $ and . Python's line semantics, not JavaScript's", () => {
    // Without (?m): ^ is the start of input, $ the end or before a final newline.
    expect(spans("^import os$", "import os\n")).toEqual([[0, 9]]);
    expect(spans("^import os$", "x\nimport os")).toEqual([]);
    expect(spans("(?m)^import os$", "x\nimport os\nimport os\n")).toEqual([
      [2, 11],
      [12, 21],
    ]);
    // Python's . and $ only know \n: a \r is an ordinary character.
    expect(spans("a.b", "a\rb a\nb")).toEqual([[0, 3]]);
    expect(spans("(?m)^OS$", "OS\r\nOS")).toEqual([[4, 6]]);
  });

  it("translates named groups, backreferences, \\A, \\Z, \\a, \\U and comments", () => {
    expect(spans("(?P<n>ab)(?P=n)", "abab ab")).toEqual([[0, 4]]);
    expect(spans(String.raw`\Aimport`, "import import")).toEqual([[0, 6]]);
    expect(spans(String.raw`os\Z`, "os os")).toEqual([[3, 5]]);
    expect(spans(String.raw`\a`, "\x07a")).toEqual([[0, 1]]);
    expect(spans(String.raw`\U0001F600`, "ok 😀")).toEqual([[3, 5]]);
    expect(spans("(?#a comment)abc", "abc")).toEqual([[0, 3]]);
    expect(spans(String.raw`\101\0`, "A\0")).toEqual([[0, 2]]);
  });

  it("reads Python's quantifier and character set forms", () => {
    expect(spans("a{,2}b", "aaab")).toEqual([[1, 4]]); // {,n} is {0,n} in Python
    expect(spans("x{,}", "xxx")).toEqual([
      [0, 3],
      [3, 3],
    ]);
    expect(spans("{}", "{}")).toEqual([[0, 2]]); // not a quantifier: literal
    expect(spans("[]a]+", "]a]x")).toEqual([[0, 3]]); // a leading ] is literal
  });

  it.each([
    ["(?x)a b", /verbose/],
    ["(?i:a)", /scoped inline flags/],
    ["a(?i)", /must be at the start/],
    ["a*+", /possessive/],
    ["(?>a)", /atomic/],
    ["(?(1)a|b)", /conditional/],
    [String.raw`\N{DIGIT ONE}`, /named characters/],
    [String.raw`\q`, /bad escape \\q/],
    ["[a", /unterminated character set/],
    ["(abc", /Unterminated group/],
    ["*a", /Nothing to repeat/],
    [String.raw`(a)\2`, /invalid group reference 2/],
    ["(?P=x)", /unknown group name 'x'/],
    ["(?L)a", /locale/],
    ["a\\", /lone backslash/],
  ])("refuses %s with a reason", (pattern, reason) => {
    expect(() => translatePythonRegex(pattern)).toThrow(RegexTranslationError);
    expect(() => translatePythonRegex(pattern)).toThrow(reason);
  });
});
