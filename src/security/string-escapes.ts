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
    const simple = SIMPLE[e];
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
