import { Lexer, braceDepthAfter, isBlank, isDigit, isIdentifierStart, isLineBreak, lexWith, wordEnd } from "./lex-builder.js";
import type { LexBuilder, LexedSource } from "./lex-builder.js";
import { RegexLiteralScanner } from "./regex-literal.js";
import { decodeEscapes } from "./string-escapes.js";

// After these words an expression starts, so `/` opens a regular expression literal.
const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * JavaScript and TypeScript: `//` and `/* *\/` comments (and a leading `#!`), quoted
 * strings, template literals whose `${...}` substitutions are lexed as the code they are
 * (nested to any depth), and regular expression literals, told apart from division by
 * the token before them (best-effort, as without a parser).
 */
export function lexJavaScript(text: string): LexedSource {
  return lexWith(text, (builder) => new JavaScriptLexer(builder));
}

class JavaScriptLexer extends Lexer {
  /** Whether a `/` here would start a regular expression rather than divide. */
  private regexAllowed = true;
  private readonly regexScanner: RegexLiteralScanner;

  constructor(builder: LexBuilder) {
    super(builder);
    this.regexScanner = new RegexLiteralScanner(builder.text);
  }

  run(): void {
    if (this.text.startsWith("#!")) this.lineComment(0);
    this.code(false);
  }

  /** Lex code; inside a substitution, stop before the `}` that closes it. */
  private code(inSubstitution: boolean): void {
    const { b, text } = this;
    const n = b.length;
    let braceDepth = 0;
    while (this.i < n) {
      const i = this.i;
      const code = text.charCodeAt(i);
      const c = text[i];
      if (c === "/" && text[i + 1] === "/") {
        this.lineComment(i);
        continue;
      }
      if (c === "/" && text[i + 1] === "*") {
        this.blockComment(i);
        continue;
      }
      if (isBlank(code) || isLineBreak(code)) {
        this.i++;
        continue;
      }
      if (c === '"' || c === "'") {
        this.escapedString(i, c);
        this.regexAllowed = false;
        continue;
      }
      if (c === "`") {
        this.template();
        this.regexAllowed = false;
        continue;
      }
      if (isIdentifierStart(code) || isDigit(code)) {
        const end = wordEnd(text, i);
        b.token("word", i, end);
        this.regexAllowed = !isDigit(code) && KEYWORDS_BEFORE_EXPRESSION.has(text.slice(i, end));
        this.i = end;
        continue;
      }
      if (c === "/" && this.regexAllowed) {
        const end = this.regexEnd(i);
        if (end !== -1) {
          b.token("string", i, end, null);
          this.regexAllowed = false;
          this.i = end;
          continue;
        }
      }
      braceDepth = braceDepthAfter(c, braceDepth, inSubstitution);
      if (braceDepth < 0) return;
      this.regexAllowed = this.punct(i);
    }
  }

  private template(): void {
    const { b, text } = this;
    const n = b.length;
    const start = this.i;
    const slot = b.reserve();
    let dynamic = false;
    let i = start + 1;
    let bodyEnd = n;
    let end = n;
    while (i < n) {
      const c = text[i];
      if (c === "\\") {
        i += 2;
        continue;
      }
      if (c === "`") {
        bodyEnd = i;
        end = i + 1;
        break;
      }
      if (c === "$" && text[i + 1] === "{") {
        dynamic = true;
        this.regexAllowed = true;
        i = this.nestedCode(i + 2, () => this.code(true), "}");
        continue;
      }
      i++;
    }
    const value = dynamic ? null : decodeEscapes(text.slice(start + 1, Math.min(bodyEnd, n)), "other");
    b.fill(slot, "string", start, end, value);
    this.i = end;
  }

  /** The end of the regular expression literal starting at `start`, or -1 if it is not one. */
  private regexEnd(start: number): number {
    const close = this.regexScanner.closingSlash(start);
    return close === -1 ? -1 : wordEnd(this.text, close + 1);
  }
}
