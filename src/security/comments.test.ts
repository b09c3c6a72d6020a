import { describe, expect, it } from "vitest";
import { stripComments } from "./comments.js";
import { PolicyError } from "./policy-error.js";

/**
 * `code` with the given comment texts (in order of appearance) blanked the way
 * stripComments must: every character a space, line breaks kept.
 */
function blanked(code: string, ...comments: string[]): string {
  let out = code;
  let from = 0;
  for (const comment of comments) {
    const at = out.indexOf(comment, from);
    if (at === -1) throw new Error(`test bug: ${JSON.stringify(comment)} not in code`);
    out = out.slice(0, at) + comment.replace(/[^\r\n]/g, " ") + out.slice(at + comment.length);
    from = at + comment.length;
  }
  return out;
}

function expectStripped(language: string, code: string, ...comments: string[]): void {
  const stripped = stripComments(language, code);
  expect(stripped).toBe(blanked(code, ...comments));
  expect(stripped.length).toBe(code.length);
}

describe("stripComments", () => {
  describe("python", () => {
    it("blanks # comments but not # inside strings", () => {
      expectStripped("python", "s = \"#\"; import os  # real comment\nx = '#' # c2", "# real comment", "# c2");
    });

    it("keeps docstrings and triple-quoted strings (they are strings, not comments)", () => {
      const code = "def f():\n    '''doc # not a comment\n    import subprocess'''\n    \"\"\"x # y\"\"\" # z\n";
      expectStripped("python", code, "# z");
    });

    it("knows string prefixes, escapes and raw strings", () => {
      expectStripped("python", String.raw`a = r"\"#" # c` + "\n" + String.raw`b = b'\'#' # d`, "# c", "# d");
      expectStripped("python", 'x = rb"#" + Rb"#" + f"#" # e', "# e");
    });

    it("lexes f-string fields as code: a # in a format spec is not a comment", () => {
      expectStripped("python", 'x = f"{y:#x} {z!r:>{w}} {{#}}" # c', "# c");
      expectStripped("python", 'x = f"{ {"a": "#"}["a"] }" # c', "# c");
    });

    it("ends comments and strings only at Python's line ends, not at U+2028, U+2029 or U+0085", () => {
      expectStripped("python", "# a\u2028import os\u2029'''\u0085\nx = 1 # b", "# a\u2028import os\u2029'''\u0085", "# b");
      expectStripped("python", "s = 'a\u2028'  # c\nt = '''\u2028'''  # d", "# c", "# d");
    });

    it('reads f"\\{" as a backslash before a field, and \\N{...} as a character', () => {
      expectStripped("python", 'x = f"\\{y # not a comment\n}" # c', "# not a comment", "# c");
      expectStripped("python", 'x = f"\\N{NUMBER SIGN} #" # c', "# c");
    });

    it("ends an unterminated single-quoted string at the line end", () => {
      expectStripped("python", 'x = "abc\ny = 1 # c', "# c");
    });
  });

  describe("javascript / typescript", () => {
    it("blanks // and /* */ comments, keeping line breaks inside block comments", () => {
      expectStripped("javascript", "let a = 1; // one\n/* two\nlines */ let b = 2;", "// one", "/* two\nlines */");
    });

    it("keeps comment markers inside strings, templates and regex literals", () => {
      const code = "const s = '//' + \"/*\"; const t = `// ${'/*'} */`; const r = /\\/\\/[/*]/g; // c";
      expectStripped("javascript", code, "// c");
    });

    it("tells division from a regex literal", () => {
      expectStripped("javascript", "x = a / b; y = c / d // c", "// c");
      expectStripped("javascript", "if (x) return /\\/*not comment*/.test(s) // c", "// c");
    });

    it("lexes template substitutions as code, to any depth", () => {
      expectStripped("typescript", "const t = `a${ `b${ f(/* c */ 1) }` }d` // e", "/* c */", "// e");
    });

    it("blanks a hashbang line", () => {
      expectStripped("javascript", "#!/usr/bin/env node\nrun();", "#!/usr/bin/env node");
    });

    it("ends a // comment at U+2028, which JavaScript treats as a line break", () => {
      expectStripped("javascript", "// c\u2028require('fs')", "// c");
    });
  });

  describe("java / cpp / go", () => {
    it("handles Java strings, chars and text blocks", () => {
      const code = 'String s = "//"; char c = \'"\'; String b = """\n  /* not */ "quoted" // no\n  """; // c';
      expectStripped("java", code, "// c");
    });

    it("handles C++ raw strings, digit separators and header names", () => {
      const code = 'auto s = R"x(// )" /* )x"; int n = 1\'000\'000; // c\n#include "a//b.h" /* d */';
      expectStripped("cpp", code, "// c", "/* d */");
    });

    it("continues a C++ // comment onto the next line after a backslash", () => {
      expectStripped("cpp", "// note \\\n#include <cstdlib>\nint x;", "// note \\\n#include <cstdlib>");
    });

    it("handles Go raw strings and runes", () => {
      expectStripped("go", "s := `// raw\n/* raw */`; r := '\"' // c", "// c");
    });
  });

  describe("ruby", () => {
    it("blanks # comments and =begin/=end blocks", () => {
      expectStripped("ruby", "x = 1 # c\n=begin\nrequire 'socket'\n=end\ny = 2", "# c", "=begin\nrequire 'socket'\n=end");
    });

    it('keeps # inside strings, %-literals, regexps, character literals and $" globals', () => {
      const code = 'a = "#{b} #" + \'#\' + %q(#) + %w[#a] # c1\nm = s =~ /#x/ # c2\nc = ?# # c3\nputs $" # c4';
      expectStripped("ruby", code, "# c1", "# c2", "# c3", "# c4");
    });

    it("keeps heredoc bodies, whose #{...} is code", () => {
      const code = "x = <<~EOS # c1\n  #{system('ls')} # text\nEOS\ny = <<-'RAW'\n  # text\n  RAW\nz = 1 # c2";
      expectStripped("ruby", code, "# c1", "# c2");
    });

    it("never takes #{ outside a literal for a comment (it would hide code)", () => {
      expectStripped("ruby", "#{system('ls')}\n# c", "# c");
    });
  });

  describe("r", () => {
    it("blanks # comments, not # in strings, raw strings or backquoted names", () => {
      const code = 'x <- "#" # c1\ny <- r"(#)" + R\'---[#]---\' # c2\n`a#b` <- 1 # c3';
      expectStripped("r", code, "# c1", "# c2", "# c3");
    });
  });

  describe("bash", () => {
    it("blanks # only at the start of a word", () => {
      expectStripped("bash", "echo a#b $# ${#arr[@]} ${v#pre} $((16#ff)) # c\n#full line", "# c", "#full line");
    });

    it("keeps # inside quotes and blanks comments inside $(...) and backquotes", () => {
      const code = "echo \"#\" '#' $'\\'#' \"$(date # c1\n)\" `ls # c2\n` # c3";
      expectStripped("bash", code, "# c1", "# c2", "# c3");
    });

    it("keeps heredoc bodies", () => {
      expectStripped("bash", "cat <<EOF # c1\n# body text\nEOF\ncat <<-'X'\n\t# body\n\tX\n# c2", "# c1", "# c2");
    });
  });

  it("preserves CRLF line breaks and Unicode", () => {
    expectStripped("python", "x = '→#' # ü comment 😀\r\ny = 1 # c\r\n", "# ü comment 😀", "# c");
  });

  it("refuses an unknown language", () => {
    expect(() => stripComments("cobol", "x")).toThrow(PolicyError);
  });
});
