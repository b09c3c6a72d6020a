/**
 * Module names are read from string literals by value, so `require('f\x73')` is `fs` and
 * `__import__('o\u0073')` is `os`: escapes must not hide a restricted module.
 * Best-effort across languages: the common escapes are decoded, and an unknown escape
 * keeps its backslash (Python) or drops it (the C family, JavaScript, Ruby, R).
 */
export type EscapeStyle = "python" | "other";

const SIMPLE: Readonly<Record<string, string>> = {
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  v: "\v",
  a: "\x07",
  e: "\x1b",
  "\\": "\\",
  "'": "'",
  '"': '"',
  "`": "`",
};

const HEX = /^[0-9a-fA-F]+$/;

function takeHex(raw: string, from: number, max: number): string {
  let end = from;
  while (end < raw.length && end - from < max && HEX.test(raw[end] ?? "")) end++;
  return raw.slice(from, end);
}

function fromCodePoint(hex: string): string | null {
  const codePoint = Number.parseInt(hex, 16);
  return Number.isFinite(codePoint) && codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : null;
}

/** The value of a literal's body `raw` (without its quotes). */
export function decodeEscapes(raw: string, style: EscapeStyle): string {
  return decode(raw, style) ?? raw;
}

/**
 * The value of a Python (non-raw) str literal's body, `\N{NAME}` included; null when a
 * `\N{...}` name is not one this table knows, so the value is unknown (and a module name
 * spelt that way must be treated as suspicious, not as harmless).
 */
export function decodePythonEscapes(raw: string): string | null {
  return decode(raw, "python");
}

function decode(raw: string, style: EscapeStyle): string | null {
  if (!raw.includes("\\")) return raw;
  let out = "";
  let i = 0;
  while (i < raw.length) {
    const c = raw[i] ?? "";
    if (c !== "\\" || i + 1 >= raw.length) {
      out += c;
      i++;
      continue;
    }
    const e = raw[i + 1] ?? "";
    // Line continuation: backslash + line break disappears.
    if (e === "\n" || e === "\r") {
      i += e === "\r" && raw[i + 2] === "\n" ? 3 : 2;
      continue;
    }
    if (style === "python" && e === "N" && raw[i + 2] === "{") {
      // \N{LATIN SMALL LETTER O}: a character by its Unicode name (case-insensitive).
      const close = raw.indexOf("}", i + 3);
      if (close === -1) return null;
      const named = characterNamed(raw.slice(i + 3, close));
      if (named === null) return null;
      out += named;
      i = close + 1;
      continue;
    }
    const simple = style === "python" && (e === "e" || e === "`") ? undefined : SIMPLE[e];
    if (simple !== undefined) {
      out += simple;
      i += 2;
      continue;
    }
    if (e === "x") {
      const hex = takeHex(raw, i + 2, 2);
      if (hex !== "") {
        out += String.fromCharCode(Number.parseInt(hex, 16));
        i += 2 + hex.length;
        continue;
      }
    }
    if (e === "u" && raw[i + 2] === "{") {
      const close = raw.indexOf("}", i + 3);
      const hex = close === -1 ? "" : raw.slice(i + 3, close);
      const decoded = HEX.test(hex) ? fromCodePoint(hex) : null;
      if (decoded !== null) {
        out += decoded;
        i = close + 1;
        continue;
      }
    }
    if (e === "u" || e === "U") {
      const width = e === "u" ? 4 : 8;
      const hex = takeHex(raw, i + 2, width);
      const decoded = hex.length === width ? fromCodePoint(hex) : null;
      if (decoded !== null) {
        out += decoded;
        i += 2 + width;
        continue;
      }
    }
    if (e >= "0" && e <= "7") {
      let end = i + 1;
      while (end < raw.length && end - (i + 1) < 3 && (raw[end] ?? "") >= "0" && (raw[end] ?? "") <= "7") end++;
      out += String.fromCharCode(Number.parseInt(raw.slice(i + 1, end), 8));
      i = end;
      continue;
    }
    out += style === "python" ? `\\${e}` : e;
    i += 2;
  }
  return out;
}

// Names of the printable ASCII characters other than letters and digits, from U+0020 on,
// in code point order; letters and digits follow a pattern. Module names are ASCII, so a
// name outside this set never spells a restricted module on its own (it makes the
// literal unknown instead).
const PUNCTUATION_NAMES = [
  "SPACE",
  "EXCLAMATION MARK",
  "QUOTATION MARK",
  "NUMBER SIGN",
  "DOLLAR SIGN",
  "PERCENT SIGN",
  "AMPERSAND",
  "APOSTROPHE",
  "LEFT PARENTHESIS",
  "RIGHT PARENTHESIS",
  "ASTERISK",
  "PLUS SIGN",
  "COMMA",
  "HYPHEN-MINUS",
  "FULL STOP",
  "SOLIDUS",
  "COLON",
  "SEMICOLON",
  "LESS-THAN SIGN",
  "EQUALS SIGN",
  "GREATER-THAN SIGN",
  "QUESTION MARK",
  "COMMERCIAL AT",
  "LEFT SQUARE BRACKET",
  "REVERSE SOLIDUS",
  "RIGHT SQUARE BRACKET",
  "CIRCUMFLEX ACCENT",
  "LOW LINE",
  "GRAVE ACCENT",
  "LEFT CURLY BRACKET",
  "VERTICAL LINE",
  "RIGHT CURLY BRACKET",
  "TILDE",
];
const DIGIT_NAMES = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"];

let namedCharacters: Map<string, string> | undefined;

function characterNamed(name: string): string | null {
  if (namedCharacters === undefined) {
    const table = new Map<string, string>([["SP", " "]]); // SP: a formal alias Python accepts
    for (let code = 0x20; code < 0x7f; code++) {
      const c = String.fromCharCode(code);
      if (c >= "a" && c <= "z") table.set(`LATIN SMALL LETTER ${c.toUpperCase()}`, c);
      else if (c >= "A" && c <= "Z") table.set(`LATIN CAPITAL LETTER ${c}`, c);
      else if (c >= "0" && c <= "9") table.set(`DIGIT ${DIGIT_NAMES[code - 0x30] ?? ""}`, c);
    }
    let k = 0;
    for (let code = 0x20; code < 0x7f; code++) {
      const c = String.fromCharCode(code);
      if (!/[A-Za-z0-9]/.test(c)) table.set(PUNCTUATION_NAMES[k++] ?? "", c);
    }
    namedCharacters = table;
  }
  return namedCharacters.get(name.trim().toUpperCase()) ?? null;
}
