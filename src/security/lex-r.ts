import { LexBuilder, isBlank, isDigit, isIdentifierPart, isIdentifierStart, isLineBreak, lineBreakLength } from "./lex-builder.js";
import type { LexedSource } from "./lex-builder.js";
import { decodeEscapes } from "./string-escapes.js";

const RAW_STRING_CLOSERS: Readonly<Record<string, string>> = { "(": ")", "[": "]", "{": "}" };

/**
 * R: `#` comments; `'` and `"` strings (which may span lines) with escapes; raw strings
 * (`r"(...)"`, `R"---[...]---"`); backquoted names, which become words whose value is
 * the name. Identifiers include dots (`data.table`).
 */
export function lexR(text: string): LexedSource {
  const b = new LexBuilder(text);
  const n = b.length;
  let i = 0;
  while (i < n) {
    const code = text.charCodeAt(i);
    const c = text[i];
    if (c === "#") {
      const end = b.lineEnd(i);
      b.comment(i, end);
      i = end;
      continue;
    }
    if (isBlank(code) || isLineBreak(code)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      i = quoted(b, i, i);
      continue;
    }
    if (c === "`") {
      const close = text.indexOf("`", i + 1);
      const end = close === -1 ? n : close + 1;
      b.token("word", i, end, text.slice(i + 1, close === -1 ? n : close));
      i = end;
      continue;
    }
    if (isIdentifierStart(code) || c === "." || isDigit(code)) {
      let end = i;
      while (end < n && (isIdentifierPart(text.charCodeAt(end)) || text[end] === ".")) end++;
      const word = text.slice(i, end);
      if ((word === "r" || word === "R") && (text[end] === '"' || text[end] === "'")) {
        const rawEnd = rawString(b, i, end);
        if (rawEnd !== -1) {
          i = rawEnd;
          continue;
        }
      }
      b.token("word", i, end);
      i = end;
      continue;
    }
    b.token("punct", i, i + 1);
    i++;
  }
  return b.finish();
}

/** A quoted string at `start` whose quote is at `quoteAt`; returns its end. */
function quoted(b: LexBuilder, start: number, quoteAt: number): number {
  const text = b.text;
  const n = b.length;
  const quote = text[quoteAt];
  let i = quoteAt + 1;
  while (i < n) {
    if (text[i] === "\\") {
      i += 1 + Math.max(1, lineBreakLength(text, i + 1));
      continue;
    }
    if (text[i] === quote) break;
    i++;
  }
  const end = Math.min(i + 1, n);
  b.token("string", start, end, decodeEscapes(text.slice(quoteAt + 1, Math.min(i, n)), "other"));
  return end;
}

/** An R 4.0 raw string `r"---(...)---"` starting at `start`; -1 if malformed. */
function rawString(b: LexBuilder, start: number, quoteAt: number): number {
  const text = b.text;
  const quote = text[quoteAt] ?? '"';
  let i = quoteAt + 1;
  while (text[i] === "-") i++;
  const dashes = text.slice(quoteAt + 1, i);
  const closer = RAW_STRING_CLOSERS[text[i] ?? ""];
  if (closer === undefined) return -1;
  const terminator = `${closer}${dashes}${quote}`;
  const close = text.indexOf(terminator, i + 1);
  const end = close === -1 ? b.length : close + terminator.length;
  b.token("string", start, end, text.slice(i + 1, close === -1 ? b.length : close));
  return end;
}
