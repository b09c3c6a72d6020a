import type { LexedSource } from "./lex-builder.js";
import { lexSource } from "./lexer.js";
import { resolveCodeLanguage } from "./language.js";

/**
 * `code` with every comment character replaced by a space, keeping line breaks, so the
 * result has the same length and every offset, line and column of the original.
 *
 * Policy patterns run on this text: commented-out code is not a finding, and a finding's
 * position is where the user wrote it. Strings (docstrings included) are kept, since a
 * pattern may well be about what a string holds; import rules, which must not fire on
 * text, use the lexer's tokens instead.
 *
 * @throws PolicyError for an unsupported language.
 */
export function stripComments(language: string, code: string): string {
  return blankComments(lexSource(resolveCodeLanguage(language), code));
}

/** The lexed text with its comments blanked (see stripComments). */
export function blankComments(source: LexedSource): string {
  const { text, comments } = source;
  if (comments.length === 0) return text;
  const parts: string[] = [];
  let copied = 0;
  for (let k = 0; k + 1 < comments.length; k += 2) {
    const start = comments[k] ?? 0;
    const end = comments[k + 1] ?? start;
    parts.push(text.slice(copied, start), text.slice(start, end).replace(/[^\r\n]/g, " "));
    copied = end;
  }
  parts.push(text.slice(copied));
  return parts.join("");
}
