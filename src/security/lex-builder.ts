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
