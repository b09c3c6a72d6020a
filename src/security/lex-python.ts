import { Lexer, isBlank, isIdentifierStart, lexWith, wordEnd } from "./lex-builder.js";
import type { LexedSource } from "./lex-builder.js";
import { decodePythonEscapes } from "./string-escapes.js";

const STRING_PREFIXES = new Set(["r", "u", "b", "f", "t", "br", "rb", "fr", "rf", "tr", "rt"]);

/**
 * Python: `#` comments; strings with prefixes, triple quotes and escapes (a docstring is
 * a string, not a comment); f-/t-string replacement fields lexed as the code they are.
 * Newline tokens mark logical line ends (not inside brackets or after a backslash).
 *
 * Lines end only where Python ends them (`\n`, `\r\n`, `\r`): U+2028, U+2029, U+0085 and
 * form feeds are ordinary characters inside a comment or a string, so ending either there
 * would fall out of step with Python and read the rest of the line wrongly.
 */
export function lexPython(text: string): LexedSource {
  return lexWith(text, (builder) => new PythonLexer(builder));
}

class PythonLexer extends Lexer {
  /** Bracket depth, to know which line breaks end a logical line. */
  private depth = 0;

  run(): void {
    this.code(false);
  }

  /**
   * Lex code. In a replacement field (`inField`), stop before the `}`, `:` or `!` that
   * ends the expression at its own bracket depth.
   */
  private code(inField: boolean): void {
    const { b, text } = this;
    const n = b.length;
    let fieldDepth = 0;
    while (this.i < n) {
      const i = this.i;
      const code = text.charCodeAt(i);
      if (code === 0x23 /* # */) {
        this.commentTo(i, lineEnd(text, i)); // to a Python line end, not the builder's wider one
        continue;
      }
      const breakLength = lineBreakLength(text, i);
      if (breakLength > 0) {
        if (this.depth === 0 && !inField) b.token("newline", i, i + breakLength);
        this.i += breakLength;
        continue;
      }
      if (isBlank(code)) {
        this.i++;
        continue;
      }
      if (code === 0x5c /* \ */ && lineBreakLength(text, i + 1) > 0) {
        this.i = i + 1 + lineBreakLength(text, i + 1);
        continue;
      }
      if (code === 0x22 || code === 0x27) {
        this.string(i, 0);
        continue;
      }
      if (isIdentifierStart(code) || (code >= 0x30 && code <= 0x39)) {
        const end = wordEnd(text, i);
        const next = text.charCodeAt(end);
        if ((next === 0x22 || next === 0x27) && end - i <= 2 && STRING_PREFIXES.has(text.slice(i, end).toLowerCase())) {
          this.string(i, end - i);
          continue;
        }
        b.token("word", i, end);
        this.i = end;
        continue;
      }
      const c = text[i];
      if (inField && fieldDepth === 0 && (c === "}" || c === ":" || (c === "!" && text[i + 1] !== "="))) return;
      if (c === "(" || c === "[" || c === "{") {
        fieldDepth++;
        this.depth++;
      } else if (c === ")" || c === "]" || c === "}") {
        fieldDepth = Math.max(0, fieldDepth - 1);
        this.depth = Math.max(0, this.depth - 1);
      }
      b.token("punct", i, i + 1);
      this.i = i + 1;
    }
  }

  /** A string literal at `start` with a prefix of `prefixLength` letters. */
  private string(start: number, prefixLength: number): void {
    const { b, text } = this;
    const n = b.length;
    const prefix = text.slice(start, start + prefixLength).toLowerCase();
    const raw = prefix.includes("r");
    const formatted = prefix.includes("f") || prefix.includes("t");
    const quote = text[start + prefixLength] ?? '"';
    const triple = text.startsWith(quote.repeat(3), start + prefixLength);
    const delimiter = triple ? quote.repeat(3) : quote;
    const bodyStart = start + prefixLength + delimiter.length;
    const slot = formatted ? b.reserve() : -1;
    let dynamic = false;
    // An f-string whose fields are each one constant string (`f"{'o'}s"`) is constant too.
    const literals: string[] = [];
    const fieldValues: string[] = [];
    let foldable = true;
    let literalStart = bodyStart;
    let bodyEnd = n;
    let end = n;
    let i = bodyStart;
    while (i < n) {
      const c = text[i];
      if (c === "\\") {
        const next = text[i + 1];
        // In an f-string `\{` is a backslash and then a field: the brace is not escaped.
        if (formatted && (next === "{" || next === "}")) {
          i++;
          continue;
        }
        if (formatted && !raw && next === "N" && text[i + 2] === "{") {
          const close = namedEscapeEnd(text, i + 3);
          if (close !== -1) {
            i = close + 1; // \N{NAME} is a character, not a field
            continue;
          }
        }
        i += 1 + Math.max(1, lineBreakLength(text, i + 1));
        continue;
      }
      if (triple ? text.startsWith(delimiter, i) : c === quote) {
        bodyEnd = i;
        end = i + delimiter.length;
        break;
      }
      if (!triple && isLineBreak(text.charCodeAt(i))) {
        bodyEnd = end = i; // unterminated: Python stops here too
        break;
      }
      if (formatted && (c === "{" || c === "}")) {
        if (text[i + 1] === c) {
          i += 2;
          continue;
        }
        if (c === "{") {
          dynamic = true;
          literals.push(text.slice(literalStart, i));
          const before = b.tokens.length;
          let plain = false;
          this.nestedCode(i + 1, () => (plain = this.field(quote)));
          const only = b.tokens.length === before + 1 ? b.tokens[before] : undefined;
          if (plain && only?.kind === "string" && only.value !== null) {
            fieldValues.push(only.value);
            b.tokens.pop(); // folded into this literal; left alone it would read as adjacent
          } else {
            foldable = false;
          }
          i = literalStart = this.i;
          continue;
        }
      }
      i++;
    }
    bodyEnd = Math.min(bodyEnd, n);
    literals.push(text.slice(literalStart, bodyEnd));
    const decode = (part: string): string | null => {
      const literal = formatted ? part.replaceAll("{{", "{").replaceAll("}}", "}") : part;
      return raw ? literal : decodePythonEscapes(literal);
    };
    let value: string | null = null;
    let unknown = false;
    if (!dynamic || foldable) {
      const parts = literals.map(decode);
      // A literal whose value cannot be decoded (an unknown \N{...} name) is unknown, which
      // is not the same as computed: a module name spelt so must not pass as harmless.
      unknown = parts.includes(null);
      if (!unknown) value = parts.map((part, k) => `${part ?? ""}${fieldValues[k] ?? ""}`).join("");
    }
    if (slot >= 0) {
      b.fill(slot, "string", start, end, value, unknown);
    } else {
      b.token("string", start, end, value, unknown);
    }
    this.i = end;
  }

  /**
   * An f-string replacement field after its `{`: expression, `!conversion`, `:spec`, `}`.
   * True if it was a plain `{expression}`, whose value is the expression's.
   */
  private field(quote: string): boolean {
    const { text } = this;
    const n = this.b.length;
    this.b.nested(() => this.code(true));
    let plain = true;
    while (this.i < n) {
      const c = text[this.i];
      if (c === "}") {
        this.i++;
        return plain;
      }
      plain = false;
      if (c === "!") {
        this.i = wordEnd(text, this.i + 1);
        continue;
      }
      if (c === ":") {
        // A format spec is text, except for nested fields like {width}.
        let i = this.i + 1;
        while (i < n && text[i] !== "}" && text[i] !== quote) {
          if (text[i] === "{") {
            i = this.nestedCode(i + 1, () => this.field(quote));
            continue;
          }
          i++;
        }
        this.i = i;
        if (text[i] === "}") this.i++;
        return false;
      }
      return false; // malformed; let the string scanner carry on
    }
    return false;
  }
}

/** Python's line terminators: `\n`, `\r` (and so `\r\n`), nothing else. */
function isLineBreak(code: number): boolean {
  return code === 0x0a || code === 0x0d;
}

/** The length of the Python line break at `i` (2 for `\r\n`), or 0 if there is none. */
function lineBreakLength(text: string, i: number): number {
  const code = text.charCodeAt(i);
  if (code === 0x0d && text.charCodeAt(i + 1) === 0x0a) return 2;
  return isLineBreak(code) ? 1 : 0;
}

function lineEnd(text: string, i: number): number {
  for (let j = i; j < text.length; j++) {
    if (isLineBreak(text.charCodeAt(j))) return j;
  }
  return text.length;
}

/** The `}` closing a `\N{NAME}` whose name starts at `from`, or -1 if it is not one. */
function namedEscapeEnd(text: string, from: number): number {
  for (let j = from; j < text.length && j - from < 100; j++) {
    const c = text[j] ?? "";
    if (c === "}") return j > from ? j : -1;
    if (!/[A-Za-z0-9 -]/.test(c)) return -1;
  }
  return -1;
}
