import { Lexer, isBlank, isDigit, isIdentifierStart, isLineBreak, lexWith, lineBreakLength, wordEnd } from "./lex-builder.js";
import type { LexBuilder, LexedSource } from "./lex-builder.js";

export type CFamilyLanguage = "java" | "cpp" | "go";

const CPP_RAW_STRING_PREFIXES = new Set(["R", "LR", "uR", "UR", "u8R"]);
const CPP_INCLUDE_DIRECTIVES = new Set(["include", "include_next", "import"]);

/**
 * Java, C++ and Go: `//` and `/* *\/` comments, `"..."` strings and `'x'` character
 * literals with escapes, plus each language's extra literal forms: Java text blocks
 * (`"""`), C++ raw strings (`R"delim(...)delim"`), digit separators (`1'000`) and
 * `#include` header names (as `header` tokens), and Go raw strings (backquotes).
 */
export function lexCFamily(text: string, language: CFamilyLanguage): LexedSource {
  return lexWith(text, (builder) => new CFamilyLexer(builder, language));
}

class CFamilyLexer extends Lexer {
  private readonly language: CFamilyLanguage;

  constructor(builder: LexBuilder, language: CFamilyLanguage) {
    super(builder);
    this.language = language;
  }

  run(): void {
    const { b, text, language } = this;
    const n = b.length;
    const cpp = language === "cpp";
    let atLineStart = true;
    let numberEnd = -1; // where the last numeric word ended, for C++ digit separators
    while (this.i < n) {
      const i = this.i;
      const code = text.charCodeAt(i);
      const c = text[i];
      if (c === "/" && text[i + 1] === "/") {
        this.commentTo(i, cpp ? this.cppLineCommentEnd(i) : b.lineEnd(i));
        continue;
      }
      if (c === "/" && text[i + 1] === "*") {
        this.blockComment(i);
        continue;
      }
      if (isLineBreak(code)) {
        atLineStart = true;
        this.i++;
        continue;
      }
      if (isBlank(code)) {
        this.i++;
        continue;
      }
      const lineStart = atLineStart;
      atLineStart = false;
      if (cpp && c === "#" && lineStart) {
        this.directive(i);
        continue;
      }
      if (c === '"') {
        if (language === "java" && text.startsWith('"""', i)) {
          this.escapedString(i, '"""', true);
        } else {
          this.escapedString(i, '"');
        }
        continue;
      }
      if (c === "'") {
        if (cpp && numberEnd === i) {
          this.i = i + 1; // digit separator, as in 1'000'000
          numberEnd = wordEnd(text, i + 1);
          continue;
        }
        this.escapedString(i, "'");
        continue;
      }
      if (c === "`" && language === "go") {
        const close = text.indexOf("`", i + 1);
        const end = close === -1 ? n : close + 1;
        b.token("string", i, end, text.slice(i + 1, close === -1 ? n : close));
        this.i = end;
        continue;
      }
      if (isIdentifierStart(code) || isDigit(code)) {
        const end = wordEnd(text, i);
        if (cpp && text[end] === '"' && CPP_RAW_STRING_PREFIXES.has(text.slice(i, end)) && this.cppRawString(i, end)) {
          continue;
        }
        numberEnd = isDigit(code) ? end : -1;
        b.token("word", i, end);
        this.i = end;
        continue;
      }
      b.token("punct", i, i + 1);
      this.i = i + 1;
    }
  }

  /** C++ `R"delim( ... )delim"` with its prefix at `start`; false if malformed. */
  private cppRawString(start: number, quoteAt: number): boolean {
    const { b, text } = this;
    // The delimiter is at most 16 characters, so look no further for its `(`.
    const within = text.slice(quoteAt + 1, quoteAt + 18).indexOf("(");
    const open = within === -1 ? -1 : quoteAt + 1 + within;
    const delimiter = open === -1 ? "" : text.slice(quoteAt + 1, open);
    if (open === -1 || /[\s()\\"]/.test(delimiter)) return false;
    const terminator = `)${delimiter}"`;
    const close = text.indexOf(terminator, open + 1);
    const end = close === -1 ? b.length : close + terminator.length;
    b.token("string", start, end, text.slice(open + 1, close === -1 ? b.length : close));
    this.i = end;
    return true;
  }

  /** A `//` comment, which in C++ continues onto the next line after a trailing backslash. */
  private cppLineCommentEnd(start: number): number {
    const { b, text } = this;
    let end = b.lineEnd(start);
    while (end < b.length) {
      let last = end - 1;
      while (last > start && isBlank(text.charCodeAt(last))) last--;
      if (text[last] !== "\\") break;
      end = b.lineEnd(end + lineBreakLength(text, end));
    }
    return end;
  }

  /** A preprocessor line at `start` (the `#`); `#include` names become header tokens. */
  private directive(start: number): void {
    const { b, text } = this;
    b.token("punct", start, start + 1);
    let i = start + 1;
    while (i < b.length && isBlank(text.charCodeAt(i))) i++;
    const nameEnd = wordEnd(text, i);
    const name = text.slice(i, nameEnd);
    if (!CPP_INCLUDE_DIRECTIVES.has(name)) {
      this.i = start + 1;
      return;
    }
    b.token("word", i, nameEnd);
    i = nameEnd;
    while (i < b.length && isBlank(text.charCodeAt(i))) i++;
    const open = text[i];
    const closer = open === "<" ? ">" : open === '"' ? '"' : null;
    if (closer !== null) {
      const lineEnd = b.lineEnd(i);
      const within = text.slice(i + 1, lineEnd).indexOf(closer);
      const close = within === -1 ? -1 : i + 1 + within;
      if (close !== -1) {
        b.token("header", i, close + 1, text.slice(i + 1, close).trim());
        this.i = close + 1;
        return;
      }
    }
    this.i = i;
  }
}
