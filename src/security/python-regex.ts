/**
 * Policies are written for llm-sandbox, whose patterns are Python `re` expressions. Most
 * of them mean the same in JavaScript, but not all: `(?i)` and `(?P<name>...)` are syntax
 * errors in JavaScript, `\Z` and `\a` silently mean the letters Z and a, `.` and `$` treat
 * `\r` differently, and `{,3}` is a quantifier in Python but literal text in JavaScript.
 * This translates what differs so a pattern matches what its author tested in Python,
 * and refuses (with a reason) what has no faithful translation instead of guessing.
 *
 * Known, accepted differences: `\b`, `\w` and `\d` are ASCII-only in JavaScript (Python's
 * are Unicode-aware) and lookbehinds may be variable-width here (Python refuses those).
 */
export interface TranslatedRegex {
  /** JavaScript source, for `new RegExp(source, flags)`. */
  readonly source: string;
  /** JavaScript flags implied by the pattern's inline flags (`i`, `s`); never `g`. */
  readonly flags: string;
}

/** Why a pattern could not be translated; the caller adds which pattern it was. */
export class RegexTranslationError extends Error {
  override readonly name = "RegexTranslationError";
}

const START_OF_INPUT = String.raw`(?<![\s\S])`;
const END_OF_INPUT = String.raw`(?![\s\S])`;
// Escapes of ASCII letters that Python accepts in a pattern and JavaScript reads alike.
const SAME_LETTER_ESCAPES = new Set(["b", "B", "d", "D", "s", "S", "w", "W", "f", "n", "r", "t", "v"]);

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "7";
}

function isAsciiLetter(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
}

function hexDigits(pattern: string, from: number, count: number): string | null {
  const digits = pattern.slice(from, from + count);
  return digits.length === count && /^[0-9a-fA-F]+$/.test(digits) ? digits : null;
}

function escapeCodeUnit(unit: number): string {
  return `\\u${unit.toString(16).padStart(4, "0")}`;
}

/** A code point as JavaScript (non-`u`) escapes; astral ones become a surrogate pair. */
function escapeCodePoint(codePoint: number, inClass: boolean): string {
  if (codePoint > 0x10ffff) throw new RegexTranslationError(`code point ${codePoint.toString(16)} is out of range`);
  if (codePoint <= 0xffff) return escapeCodeUnit(codePoint);
  if (inClass) {
    throw new RegexTranslationError("characters above U+FFFF are not supported inside a character set");
  }
  const offset = codePoint - 0x10000;
  return `(?:${escapeCodeUnit(0xd800 + (offset >> 10))}${escapeCodeUnit(0xdc00 + (offset & 0x3ff))})`;
}

/**
 * Translate a Python `re` pattern into an equivalent JavaScript RegExp source and flags.
 * Throws RegexTranslationError if the pattern is invalid or uses a feature JavaScript
 * cannot express (verbose mode, scoped flags, atomic groups, possessive quantifiers,
 * conditionals, `\N{...}`).
 */
export function translatePythonRegex(pattern: string): TranslatedRegex {
  let dotAll = false;
  let ignoreCase = false;
  let multiline = false;
  let i = 0;

  // Global inline flags are only legal at the very start in Python 3.11+.
  for (;;) {
    const flagGroup = /^\(\?([a-zA-Z]+)\)/.exec(pattern.slice(i, i + 16));
    if (flagGroup === null) break;
    for (const flag of flagGroup[1] ?? "") {
      switch (flag) {
        case "i":
          ignoreCase = true;
          break;
        case "m":
          multiline = true;
          break;
        case "s":
          dotAll = true;
          break;
        case "a":
        case "u":
          break; // ASCII / Unicode classes: JavaScript's are ASCII already
        case "x":
          throw new RegexTranslationError("verbose mode (?x) is not supported; remove the whitespace and comments");
        case "L":
          throw new RegexTranslationError("locale mode (?L) is not supported");
        default:
          throw new RegexTranslationError(`unknown inline flag '${flag}'`);
      }
    }
    i += flagGroup[0].length;
  }

  let out = "";
  const groups = { count: 0, names: new Set<string>() };
  let inClass = false;
  let classBodyStart = -1;
  // True right after a complete quantifier, to recognise possessive `*+` and friends.
  let afterQuantifier = false;
  const n = pattern.length;

  while (i < n) {
    const c = pattern[i] ?? "";
    const wasAfterQuantifier: boolean = afterQuantifier;
    afterQuantifier = false;

    if (c === "\\") {
      const e = pattern[i + 1];
      if (e === undefined) throw new RegexTranslationError("the pattern ends with a lone backslash");
      if (e === "A" || e === "Z" || e === "z") {
        if (inClass) throw new RegexTranslationError(`bad escape \\${e} inside a character set`);
        out += e === "A" ? START_OF_INPUT : END_OF_INPUT;
        i += 2;
      } else if (e === "a") {
        out += "\\x07";
        i += 2;
      } else if (e === "x") {
        const hex = hexDigits(pattern, i + 2, 2);
        if (hex === null) throw new RegexTranslationError("incomplete escape \\x (two hex digits needed)");
        out += `\\x${hex}`;
        i += 4;
      } else if (e === "u") {
        const hex = hexDigits(pattern, i + 2, 4);
        if (hex === null) throw new RegexTranslationError("incomplete escape \\u (four hex digits needed)");
        out += `\\u${hex}`;
        i += 6;
      } else if (e === "U") {
        const hex = hexDigits(pattern, i + 2, 8);
        if (hex === null) throw new RegexTranslationError("incomplete escape \\U (eight hex digits needed)");
        out += escapeCodePoint(Number.parseInt(hex, 16), inClass);
        i += 10;
      } else if (e === "N") {
        throw new RegexTranslationError("named characters \\N{...} are not supported; use \\uXXXX");
      } else if (e === "0" || (isOctal(e) && isOctal(pattern[i + 2]) && isOctal(pattern[i + 3])) || (inClass && isOctal(e))) {
        // An octal character escape (Python's rule: \0, three octal digits, or inside a set).
        let j = i + 1;
        let digits = "";
        while (digits.length < 3 && isOctal(pattern[j])) digits += pattern[j++];
        out += escapeCodePoint(Number.parseInt(digits, 8), inClass);
        i = j;
      } else if (e >= "1" && e <= "9") {
        // A backreference: one or two digits, same numbering in both engines.
        let j = i + 2;
        if (pattern[j] !== undefined && pattern[j]! >= "0" && pattern[j]! <= "9") j++;
        // JavaScript would silently read a reference to a missing group as a character.
        if (Number(pattern.slice(i + 1, j)) > groups.count) {
          throw new RegexTranslationError(`invalid group reference ${pattern.slice(i + 1, j)}`);
        }
        out += pattern.slice(i, j);
        i = j;
      } else if (SAME_LETTER_ESCAPES.has(e)) {
        out += `\\${e}`;
        i += 2;
      } else if (isAsciiLetter(e)) {
        throw new RegexTranslationError(`bad escape \\${e}`);
      } else {
        out += `\\${e}`; // an escaped punctuation or other character stands for itself
        i += 2;
      }
      continue;
    }

    if (inClass) {
      if (c === "]" && i === classBodyStart) {
        out += "\\]"; // a leading ] is literal in Python, ends an empty set in JavaScript
      } else if (c === "]") {
        inClass = false;
        out += "]";
      } else if (c === "[") {
        out += "\\[";
      } else {
        out += c;
      }
      i++;
      continue;
    }

    switch (c) {
      case "[":
        inClass = true;
        out += "[";
        i++;
        if (pattern[i] === "^") {
          out += "^";
          i++;
        }
        classBodyStart = i;
        continue;
      case "(":
        i = translateGroupOpening(pattern, i, groups, (text) => {
          out += text;
        });
        continue;
      case ".":
        out += dotAll ? "[\\s\\S]" : "[^\\n]";
        i++;
        continue;
      case "^":
        out += multiline ? "(?<![^\\n])" : START_OF_INPUT;
        i++;
        continue;
      case "$":
        // Python: end of input or before a final newline; with (?m), before any newline.
        out += multiline ? `(?=\\n|${END_OF_INPUT})` : `(?=\\n?${END_OF_INPUT})`;
        i++;
        continue;
      case "{": {
        const quantifier = /^\{(\d*)(,?)(\d*)\}/.exec(pattern.slice(i, i + 24));
        // `{,n}` and `{,}` are quantifiers in Python ({0,n}, {0,}); `{}` is literal text.
        if (quantifier !== null && (quantifier[1] !== "" || quantifier[2] === ",")) {
          const [whole, min, comma, max] = quantifier;
          out += `{${min === "" ? "0" : min}${comma}${max}}`;
          i += whole.length;
          afterQuantifier = true;
        } else {
          out += "\\{"; // not a quantifier: literal in Python
          i++;
        }
        continue;
      }
      case "}":
        out += "\\}";
        i++;
        continue;
      case "*":
      case "+":
      case "?":
        if (c === "+" && wasAfterQuantifier) {
          throw new RegexTranslationError("possessive quantifiers (*+, ++, ?+, {m,n}+) are not supported");
        }
        out += c;
        i++;
        // A `?` after a quantifier makes it lazy; nothing may follow that.
        afterQuantifier = !(c === "?" && wasAfterQuantifier);
        continue;
      default:
        out += c;
        i++;
    }
  }

  if (inClass) throw new RegexTranslationError("unterminated character set");

  const flags = `${ignoreCase ? "i" : ""}${dotAll ? "s" : ""}`;
  try {
    new RegExp(out, flags);
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, "") : String(err);
    throw new RegexTranslationError(reason, { cause: err });
  }
  return { source: out, flags };
}

/** Translate the group opening at `i` (a `(`), emit it, and return the index after it. */
function translateGroupOpening(pattern: string, i: number, groups: { count: number; readonly names: Set<string> }, emit: (text: string) => void): number {
  if (pattern[i + 1] !== "?") {
    groups.count++;
    emit("(");
    return i + 1;
  }
  const rest = pattern.slice(i + 2, i + 2 + 64);
  const simple = ["=", "!", "<=", "<!", ":"].find((prefix) => rest.startsWith(prefix));
  if (simple !== undefined) {
    emit(`(?${simple}`);
    return i + 2 + simple.length;
  }
  const named = /^P?<([^\W\d]\w*)>/u.exec(rest);
  if (named !== null) {
    groups.count++;
    groups.names.add(named[1] ?? "");
    emit(`(?<${named[1] ?? ""}>`);
    return i + 2 + named[0].length;
  }
  const backref = /^P=([^\W\d]\w*)\)/u.exec(rest);
  if (backref !== null) {
    if (!groups.names.has(backref[1] ?? "")) throw new RegexTranslationError(`unknown group name '${backref[1] ?? ""}'`);
    emit(`\\k<${backref[1] ?? ""}>`);
    return i + 2 + backref[0].length;
  }
  if (rest.startsWith("#")) {
    const end = pattern.indexOf(")", i);
    if (end === -1) throw new RegexTranslationError("unterminated comment (?#...)");
    return end + 1;
  }
  if (rest.startsWith(">")) throw new RegexTranslationError("atomic groups (?>...) are not supported");
  if (rest.startsWith("(")) throw new RegexTranslationError("conditional groups (?(...)...) are not supported");
  if (rest.startsWith("P")) throw new RegexTranslationError("malformed named group (?P...)");
  if (/^[a-zA-Z]*-?[a-zA-Z]*:/.test(rest)) {
    throw new RegexTranslationError("scoped inline flags like (?i:...) are not supported; put (?i) at the start");
  }
  if (/^[a-zA-Z]+\)/.test(rest)) {
    throw new RegexTranslationError("inline flags like (?i) must be at the start of the pattern");
  }
  throw new RegexTranslationError(`unknown group extension '(?${rest.slice(0, 1)}'`);
}
