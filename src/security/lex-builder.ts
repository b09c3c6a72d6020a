/**
 * What the per-language lexers produce: where the comments are (so they can be blanked
 * without moving anything) and the code's tokens (so import rules look only at code, and
 * read module names out of string literals by their value).
 *
 * The lexers are deliberately forgiving: they never throw, and where a language is
 * ambiguous without a full parser they prefer the reading that hides less code, since a
 * comment wrongly recognised would hide code from the policy while a comment missed only
 * risks a false positive.
 */
import { decodeEscapes } from "./string-escapes.js";

export type TokenKind = "word" | "punct" | "string" | "header" | "newline";

export interface Token {
  readonly kind: TokenKind;
  /** Offsets into the source, `[start, end)`. */
  readonly start: number;
  readonly end: number;
  /**
   * `string`: the literal's decoded value, or null when part of it is computed
   * (interpolation, f-strings, template substitutions). `header`: the C/C++ header name.
   * `word`: the name inside R backticks. Otherwise null.
   */
  readonly value: string | null;
  /**
   * `string` only: the literal is constant but its value could not be decoded (Python's
   * `\N{NAME}` with a name not known here). Set only when true.
   */
  readonly unknown?: true;
}

export interface LexedSource {
  readonly text: string;
  /**
   * Literals were nested deeper than MAX_NESTING (no real code does that); nothing was
   * recognised, so comments and imports are unknown and the caller should fail closed.
   */
  readonly tooDeeplyNested: boolean;
  /** Flat `[start, end)` pairs of comment text, in source order. */
  readonly comments: readonly number[];
  /** Code tokens in source order; comments and whitespace are not tokens. */
  readonly tokens: readonly Token[];
}

/** How deep interpolations may nest (`${`${...}`}`, f-strings in f-strings, `$($(...))`). */
export const MAX_NESTING = 200;

/** Thrown inside a lexer when nesting passes MAX_NESTING; caught by lexSource. */
export class NestingTooDeepError extends Error {
  override readonly name = "NestingTooDeepError";
}

const PLACEHOLDER: Token = Object.freeze({ kind: "string", start: 0, end: 0, value: null });

/** Accumulates comments and tokens for one source text. */
export class LexBuilder {
  readonly text: string;
  readonly length: number;
  readonly comments: number[] = [];
  readonly tokens: Token[] = [];

  private nesting = 0;

  constructor(text: string) {
    this.text = text;
    this.length = text.length;
  }

  /** Run `lex` one interpolation level deeper; lexers recurse, so depth is bounded. */
  nested(lex: () => void): void {
    if (++this.nesting > MAX_NESTING) throw new NestingTooDeepError(`literals nested more than ${MAX_NESTING} deep`);
    try {
      lex();
    } finally {
      this.nesting--;
    }
  }

  comment(start: number, end: number): void {
    if (end <= start) return;
    const last = this.comments.length - 1;
    if (last > 0 && this.comments[last] === start) {
      this.comments[last] = end; // merge adjacent comments
    } else {
      this.comments.push(start, end);
    }
  }

  token(kind: TokenKind, start: number, end: number, value: string | null = null, unknown = false): void {
    this.tokens.push(unknown ? { kind, start, end, value, unknown } : { kind, start, end, value });
  }

  /**
   * Reserve the slot of a literal whose inner code is lexed before its end is known, so
   * tokens stay in source order; fill it with `fill`.
   */
  reserve(): number {
    this.tokens.push(PLACEHOLDER);
    return this.tokens.length - 1;
  }

  fill(slot: number, kind: TokenKind, start: number, end: number, value: string | null, unknown = false): void {
    this.tokens[slot] = unknown ? { kind, start, end, value, unknown } : { kind, start, end, value };
  }

  /** The index of the line terminator at or after `i` (or the end of the text). */
  lineEnd(i: number): number {
    const text = this.text;
    for (let j = i; j < this.length; j++) {
      if (isLineBreak(text.charCodeAt(j))) return j;
    }
    return this.length;
  }

  finish(): LexedSource {
    return { text: this.text, tooDeeplyNested: false, comments: this.comments, tokens: this.tokens };
  }
}

/**
 * Line terminators for ending comments and single-line strings: `\n`, `\r`, and the
 * JavaScript ones U+2028/U+2029. Ending a comment too early is harmless (more is checked),
 * ending it too late would hide code, so all languages use the widest set.
 */
export function isLineBreak(code: number): boolean {
  return code === 0x0a || code === 0x0d || code === 0x2028 || code === 0x2029;
}

/** Whitespace other than line terminators. */
export function isBlank(code: number): boolean {
  if (code === 0x20 || code === 0x09 || code === 0x0b || code === 0x0c) return true;
  if (code < 0x80) return false;
  return (
    code === 0xa0 ||
    code === 0x85 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** Letters, `_`, `$` and any non-ASCII character that is not whitespace. */
export function isIdentifierStart(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f || code === 0x24 || (code >= 0x80 && !isBlank(code) && !isLineBreak(code))
  );
}

export function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

export function isIdentifierPart(code: number): boolean {
  return isIdentifierStart(code) || isDigit(code);
}

/** The end of the run of identifier characters (letters, digits, `_`, `$`) from `i`. */
export function wordEnd(text: string, i: number): number {
  let j = i;
  while (j < text.length && isIdentifierPart(text.charCodeAt(j))) j++;
  return j;
}

/** The length of the line break at `i` (2 for `\r\n`), or 0 if there is none. */
export function lineBreakLength(text: string, i: number): number {
  const code = text.charCodeAt(i);
  if (code === 0x0d && text.charCodeAt(i + 1) === 0x0a) return 2;
  return isLineBreak(code) ? 1 : 0;
}

/**
 * The part every language's lexer shares: the cursor over one text and the scanning that
 * does not depend on the language (comments to a line end or a closing mark, code nested
 * in a literal, heredoc bodies, backslash-escaped strings). A lexer states only its rules.
 */
export abstract class Lexer {
  protected readonly b: LexBuilder;
  protected readonly text: string;
  /** Where lexing goes on. */
  protected i = 0;

  constructor(builder: LexBuilder) {
    this.b = builder;
    this.text = builder.text;
  }

  abstract run(): void;

  /** Record `[start, end)` as a comment and go on after it. */
  protected commentTo(start: number, end: number): void {
    this.b.comment(start, end);
    this.i = end;
  }

  /** A comment from `start` to the end of its line. */
  protected lineComment(start: number): void {
    this.commentTo(start, this.b.lineEnd(start));
  }

  /** A `/* ... *\/` comment at `start`, to the end of the text if it never closes. */
  protected blockComment(start: number): void {
    const close = this.text.indexOf("*/", start + 2);
    this.commentTo(start, close === -1 ? this.b.length : close + 2);
  }

  /**
   * Lex from `from` with `lex` one nesting level deeper (code inside `${...}`, `#{...}`,
   * `$(...)`), then step over `close` if lexing stopped at it. Returns where lexing goes on.
   */
  protected nestedCode(from: number, lex: () => void, close?: string): number {
    this.i = from;
    this.b.nested(lex);
    if (close !== undefined && this.text[this.i] === close) this.i++;
    return this.i;
  }

  /**
   * A punctuation token at `i`; lexing goes on after it. True when a value may follow it
   * (anything but a closing bracket), which tells a literal from an operator after it.
   */
  protected punct(i: number): boolean {
    this.b.token("punct", i, i + 1);
    this.i = i + 1;
    const c = this.text[i];
    return !(c === ")" || c === "]" || c === "}");
  }

  /**
   * A string `delimiter`...`delimiter` at `start` with backslash escapes (a backslash and a
   * line break count as one escape), as a token with its decoded value; unless `multiline`
   * a line break leaves it unterminated there. Lexing goes on after it.
   */
  protected escapedString(start: number, delimiter: string, multiline = false): void {
    const { b, text } = this;
    const n = b.length;
    let i = start + delimiter.length;
    let bodyEnd = n;
    let end = n;
    while (i < n) {
      if (text[i] === "\\") {
        i += 1 + Math.max(1, lineBreakLength(text, i + 1));
        continue;
      }
      if (text.startsWith(delimiter, i)) {
        bodyEnd = i;
        end = i + delimiter.length;
        break;
      }
      if (!multiline && isLineBreak(text.charCodeAt(i))) {
        bodyEnd = end = i; // unterminated
        break;
      }
      i++;
    }
    b.token("string", start, end, decodeEscapes(text.slice(start + delimiter.length, Math.min(bodyEnd, n)), "other"));
    this.i = end;
  }

  /**
   * A heredoc body starting at `bodyStart`, up to the first line `isTerminator` accepts
   * (or the end of the text): where the body ends and where lexing goes on after its
   * terminating line.
   */
  protected heredocBody(bodyStart: number, isTerminator: (line: string) => boolean): { bodyEnd: number; after: number } {
    const { b, text } = this;
    let line = bodyStart;
    while (line < b.length) {
      const lineEnd = b.lineEnd(line);
      if (isTerminator(text.slice(line, lineEnd))) return { bodyEnd: line, after: lineEnd + lineBreakLength(text, lineEnd) };
      const breakLength = lineBreakLength(text, lineEnd);
      if (breakLength === 0) break;
      line = lineEnd + breakLength;
    }
    return { bodyEnd: b.length, after: b.length };
  }
}

/** Lex `text` with the lexer `create` makes over its builder. */
export function lexWith(text: string, create: (builder: LexBuilder) => Lexer): LexedSource {
  const builder = new LexBuilder(text);
  create(builder).run();
  return builder.finish();
}

/**
 * The brace depth after the character `c` in code, counting `{` and `}`; -1 when `c` is
 * the `}` that closes the interpolation (`${...}`, `#{...}`) the code is in, if `nested`.
 */
export function braceDepthAfter(c: string | undefined, depth: number, nested: boolean): number {
  if (c === "{") return depth + 1;
  if (c === "}") return depth > 0 ? depth - 1 : nested ? -1 : 0;
  return depth;
}
