import {
  Lexer,
  braceDepthAfter,
  isBlank,
  isDigit,
  isIdentifierPart,
  isIdentifierStart,
  isLineBreak,
  lexWith,
  lineBreakLength,
  wordEnd,
} from "./lex-builder.js";
import type { LexBuilder, LexedSource } from "./lex-builder.js";
import { RegexLiteralScanner } from "./regex-literal.js";
import { decodeEscapes } from "./string-escapes.js";

// After these keywords a value is expected, so `/`, `%(` and `<<ID` open literals.
const KEYWORDS_BEFORE_VALUE = new Set([
  "if",
  "unless",
  "while",
  "until",
  "return",
  "and",
  "or",
  "not",
  "when",
  "in",
  "case",
  "then",
  "else",
  "elsif",
  "do",
  "begin",
  "yield",
  "break",
  "next",
  "rescue",
  "ensure",
  "puts",
  "print",
  "p",
  "require",
  "require_relative",
  "load",
]);
const BRACKET_PAIRS: Readonly<Record<string, string>> = { "(": ")", "[": "]", "{": "}", "<": ">" };
// Special globals like $" (loaded features) and $' would otherwise open strings.
const SPECIAL_GLOBALS = new Set([..."!@;,/\\._~=*$?:\"<>&`'+0"]);

interface PendingHeredoc {
  readonly slot: number;
  readonly start: number;
  readonly id: string;
  readonly indented: boolean;
  readonly interpolating: boolean;
}

/**
 * Ruby: `#` comments and `=begin`/`=end` blocks; `'`, `"` and backquote strings; `%q`,
 * `%Q`, `%w`, `%i`, `%r`, `%x` and bare `%(...)` literals; regexp literals; heredocs
 * (`<<~ID`, `<<-ID`, `<<ID`, quoted ids); `?c` characters and `$"`-style globals. The
 * `#{...}` in interpolating literals is lexed as code.
 *
 * Ruby cannot be lexed exactly without knowing which names are local variables (`x /2/`
 * divides or matches depending on `x`); where it guesses, it guesses as Ruby does for
 * method calls. As a safeguard, `#{` outside any literal is never taken as a comment: it
 * almost surely is interpolation in a literal the lexer failed to see, and taking it as a
 * comment would hide that code.
 */
export function lexRuby(text: string): LexedSource {
  return lexWith(text, (builder) => new RubyLexer(builder));
}

class RubyLexer extends Lexer {
  private valueExpected = true;
  private pending: PendingHeredoc[] = [];
  private readonly regexScanner: RegexLiteralScanner;

  constructor(builder: LexBuilder) {
    super(builder);
    this.regexScanner = new RegexLiteralScanner(builder.text);
  }

  run(): void {
    this.code(false);
    // Heredocs whose body never came: close them as empty.
    for (const heredoc of this.pending) this.b.fill(heredoc.slot, "string", heredoc.start, heredoc.start, "");
  }

  private code(inInterpolation: boolean): void {
    const { b, text } = this;
    const n = b.length;
    let braceDepth = 0;
    while (this.i < n) {
      const i = this.i;
      const code = text.charCodeAt(i);
      const c = text[i] ?? "";
      const atLineStart = i === 0 || isLineBreak(text.charCodeAt(i - 1));
      if (atLineStart && text.startsWith("=begin", i) && this.endsWord(i + 6)) {
        this.commentTo(i, this.embeddedDocumentEnd(i));
        continue;
      }
      if (c === "#") {
        if (text[i + 1] === "{") {
          b.token("punct", i, i + 1); // see the safeguard in lexRuby's comment
          this.i = i + 1;
          continue;
        }
        this.lineComment(i);
        continue;
      }
      const breakLength = lineBreakLength(text, i);
      if (breakLength > 0) {
        this.i = i + breakLength;
        this.valueExpected = true;
        if (!inInterpolation && this.pending.length > 0) this.heredocBodies();
        continue;
      }
      if (isBlank(code)) {
        this.i++;
        continue;
      }
      const spaceBefore = i > 0 && (isBlank(text.charCodeAt(i - 1)) || isLineBreak(text.charCodeAt(i - 1)));
      const nextIsBlank = i + 1 >= n || isBlank(text.charCodeAt(i + 1)) || isLineBreak(text.charCodeAt(i + 1));
      if (c === '"' || c === "`") {
        this.interpolated(i, i + 1, c, c);
        continue;
      }
      if (c === "'") {
        this.uninterpolated(i, i + 1, "'", "'");
        continue;
      }
      if (c === "%" && this.percentLiteral(i, spaceBefore)) continue;
      if (c === "/" && (this.valueExpected || (spaceBefore && !nextIsBlank && text[i + 1] !== "=")) && this.regexp(i)) continue;
      if (c === "?" && this.characterLiteral(i)) continue;
      if (c === "<" && text[i + 1] === "<" && this.heredocStart(i, spaceBefore)) continue;
      if (c === "$" && SPECIAL_GLOBALS.has(text[i + 1] ?? "")) {
        b.token("word", i, i + 2);
        this.i = i + 2;
        this.valueExpected = false;
        continue;
      }
      if (isIdentifierStart(code) || isDigit(code)) {
        let end = wordEnd(text, i);
        // Method names may end in ? or ! (`empty?`, `save!`), but not `!=`.
        if ((text[end] === "?" || text[end] === "!") && text[end + 1] !== "=" && !isDigit(code)) end++;
        b.token("word", i, end);
        this.valueExpected = KEYWORDS_BEFORE_VALUE.has(text.slice(i, end));
        this.i = end;
        continue;
      }
      braceDepth = braceDepthAfter(c, braceDepth, inInterpolation);
      if (braceDepth < 0) return;
      this.valueExpected = this.punct(i);
    }
  }

  private endsWord(i: number): boolean {
    return i >= this.b.length || isBlank(this.text.charCodeAt(i)) || isLineBreak(this.text.charCodeAt(i));
  }

  /** The end of the `=begin` ... `=end` block at `start` (the end of its `=end` line). */
  private embeddedDocumentEnd(start: number): number {
    const { b, text } = this;
    let line = b.lineEnd(start);
    while (line < b.length) {
      line += lineBreakLength(text, line);
      if (text.startsWith("=end", line) && this.endsWord(line + 4)) return b.lineEnd(line);
      line = b.lineEnd(line);
    }
    return b.length;
  }

  /** A literal with `#{}` interpolation whose body starts at `bodyStart`. */
  private interpolated(start: number, bodyStart: number, open: string, close: string, flags = false): void {
    const { b, text } = this;
    const slot = b.reserve();
    const body = this.delimitedBody(bodyStart, open, close, true);
    const end = flags ? wordEnd(text, body.end) : body.end;
    b.fill(slot, "string", start, end, body.dynamic ? null : decodeEscapes(text.slice(bodyStart, body.bodyEnd), "other"));
    this.i = end;
    this.valueExpected = false;
  }

  /** A literal without interpolation (`'...'`, `%q(...)`, `%w[...]`). */
  private uninterpolated(start: number, bodyStart: number, open: string, close: string): void {
    const { bodyEnd, end } = this.delimitedBody(bodyStart, open, close, false);
    const value = this.text.slice(bodyStart, bodyEnd).replace(/\\([\\'])/g, "$1");
    this.b.token("string", start, end, value);
    this.i = end;
    this.valueExpected = false;
  }

  /**
   * Scan a literal's body from `bodyStart` to its `close` (counting nested `open`s when
   * they differ), lexing `#{...}` as code if `interpolating`. Where the body ends, where
   * the literal ends, and whether it interpolated anything.
   */
  private delimitedBody(bodyStart: number, open: string, close: string, interpolating: boolean): { bodyEnd: number; end: number; dynamic: boolean } {
    const { text } = this;
    const n = this.b.length;
    const nests = open !== close;
    let depth = 0;
    let dynamic = false;
    let i = bodyStart;
    while (i < n) {
      const c = text[i];
      if (c === "\\") {
        i += interpolating ? 1 + Math.max(1, lineBreakLength(text, i + 1)) : 2;
        continue;
      }
      if (interpolating && c === "#" && text[i + 1] === "{") {
        dynamic = true;
        i = this.interpolation(i + 2);
        continue;
      }
      if (nests && c === open) {
        depth++;
      } else if (c === close) {
        if (depth === 0) return { bodyEnd: i, end: i + 1, dynamic };
        depth--;
      }
      i++;
    }
    return { bodyEnd: n, end: n, dynamic };
  }

  /** The code of a `#{...}` whose body starts at `from`; returns where the literal goes on. */
  private interpolation(from: number): number {
    this.valueExpected = true;
    return this.nestedCode(from, () => this.code(true), "}");
  }

  /** `%q(...)`, `%w[...]`, `%(...)` and friends at `start`; false if `%` is an operator. */
  private percentLiteral(start: number, spaceBefore: boolean): boolean {
    const { text } = this;
    let type = text[start + 1] ?? "";
    let delimiterAt = start + 2;
    if (!/^[qQwWiIrsx]$/.test(type) || !isDelimiter(text[delimiterAt])) {
      type = "Q";
      delimiterAt = start + 1;
      const afterDelimiter = text.charCodeAt(start + 2);
      const operandLike = this.valueExpected || (spaceBefore && !isBlank(afterDelimiter) && !isLineBreak(afterDelimiter));
      if (!isDelimiter(text[delimiterAt]) || text[delimiterAt] === "=" || !operandLike) return false;
    } else if (!this.valueExpected && !spaceBefore) {
      return false;
    }
    const open = text[delimiterAt] ?? "";
    const close = BRACKET_PAIRS[open] ?? open;
    if ("QWIrx".includes(type)) {
      this.interpolated(start, delimiterAt + 1, open, close, type === "r");
    } else {
      this.uninterpolated(start, delimiterAt + 1, open, close);
    }
    return true;
  }

  /** A `/regexp/` at `start`, taken only if it closes on the same line. */
  private regexp(start: number): boolean {
    if (this.regexScanner.closingSlash(start) === -1) return false;
    this.interpolated(start, start + 1, "/", "/", true);
    return true;
  }

  /** `?a`, `?#`, `?\n`: one-character strings, so `?#` is not a comment. */
  private characterLiteral(start: number): boolean {
    const { text } = this;
    const next = text.charCodeAt(start + 1);
    if (Number.isNaN(next) || isBlank(next) || isLineBreak(next)) return false;
    const length = Math.min(text[start + 1] === "\\" ? 3 : 2, this.b.length - start);
    if (isIdentifierPart(text.charCodeAt(start + length)) && isIdentifierPart(next)) return false;
    this.b.token("string", start, start + length, decodeEscapes(text.slice(start + 1, start + length), "other"));
    this.i = start + length;
    this.valueExpected = false;
    return true;
  }

  /** `<<~ID`, `<<-ID`, `<<'ID'`, `<<ID` at `start`; the body follows the current line. */
  private heredocStart(start: number, spaceBefore: boolean): boolean {
    const { b, text } = this;
    const match = /^<<([~-]?)(?:(['"`])([^'"`\r\n]+)\2|([A-Za-z_]\w*))/.exec(text.slice(start, start + 128));
    if (match === null) return false;
    const [whole, flag = "", quote, quotedId, bareId] = match;
    if (quote === undefined && flag === "") {
      const plausible = this.valueExpected || (spaceBefore && /^[A-Z_][A-Z0-9_]*$/.test(bareId ?? ""));
      if (!plausible) return false;
    }
    const slot = b.reserve();
    this.pending.push({
      slot,
      start,
      id: quotedId ?? bareId ?? "",
      indented: flag !== "",
      interpolating: quote !== "'",
    });
    this.i = start + whole.length;
    this.valueExpected = false;
    return true;
  }

  /** Read the bodies of the pending heredocs, which start at the current line. */
  private heredocBodies(): void {
    const { b, text } = this;
    const heredocs = this.pending;
    this.pending = [];
    for (const heredoc of heredocs) {
      const bodyStart = this.i;
      const { bodyEnd, after } = this.heredocBody(bodyStart, (line) => (heredoc.indented ? line.trim() : line) === heredoc.id);
      let dynamic = false;
      if (heredoc.interpolating) {
        let i = bodyStart;
        while (i < bodyEnd) {
          if (text[i] === "\\") {
            i += 2;
            continue;
          }
          if (text[i] === "#" && text[i + 1] === "{") {
            dynamic = true;
            i = this.interpolation(i + 2);
            continue;
          }
          i++;
        }
      }
      const body = text.slice(bodyStart, bodyEnd);
      const value = dynamic ? null : heredoc.interpolating ? decodeEscapes(body, "other") : body;
      b.fill(heredoc.slot, "string", heredoc.start, heredoc.start + 2, value);
      this.i = after;
    }
    this.valueExpected = true;
  }
}

function isDelimiter(c: string | undefined): boolean {
  return c !== undefined && /^[!-\/:-@\[-`{-~]$/.test(c);
}
