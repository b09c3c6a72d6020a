import { lexBash } from "./lex-bash.js";
import { NestingTooDeepError } from "./lex-builder.js";
import type { LexedSource } from "./lex-builder.js";
import { lexCFamily } from "./lex-c-family.js";
import { lexJavaScript } from "./lex-javascript.js";
import { lexPython } from "./lex-python.js";
import { lexR } from "./lex-r.js";
import { lexRuby } from "./lex-ruby.js";
import type { CodeLanguage } from "./language.js";

/**
 * Lex `code` as `language`: its comments and code tokens, positioned in `code`. One pass,
 * linear in the input, never throws: malformed code is lexed as far as it makes sense,
 * and absurdly nested literals give an empty result marked `tooDeeplyNested`.
 */
export function lexSource(language: CodeLanguage, code: string): LexedSource {
  try {
    return lexOnce(language, code);
  } catch (err: unknown) {
    if (!(err instanceof NestingTooDeepError)) throw err;
    return { text: code, tooDeeplyNested: true, comments: [], tokens: [] };
  }
}

function lexOnce(language: CodeLanguage, code: string): LexedSource {
  switch (language) {
    case "python":
      return lexPython(code);
    case "javascript":
    case "typescript":
      return lexJavaScript(code);
    case "java":
    case "cpp":
    case "go":
      return lexCFamily(code, language);
    case "ruby":
      return lexRuby(code);
    case "r":
      return lexR(code);
    case "bash":
      return lexBash(code);
  }
}
