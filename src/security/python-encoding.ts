/**
 * Python's source encoding declaration (PEP 263): a comment on line 1 or 2 matching
 * `^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`. Python decodes the file with it before reading
 * a single token, so under `# coding: unicode_escape` a "comment" holding `\u000a` ends
 * there and what follows it runs. The checker reads only what it can decode the same way.
 */
export type SourceEncoding = "utf-8" | "latin-1" | "unreadable";

export interface EncodingDeclaration {
  /** The name as written. */
  readonly name: string;
  readonly encoding: SourceEncoding;
  /** Offset of the name in the text. */
  readonly offset: number;
}

const COOKIE = /^[ \t\f]*#[^\r\n]*?coding[:=][ \t]*([-\w.]+)/;

// Python's aliases of the codecs read here (encodings.aliases), after its normalisation
// (lower case, runs of other characters than letters, digits and `.` as `_`).
const UTF8 = new Set(["utf_8", "utf8", "u8", "utf", "cp65001", "utf8_ucs2", "utf8_ucs4"]);
// ASCII is read as UTF-8: a file with a non-ASCII byte would not compile at all.
const ASCII = new Set([
  "ascii",
  "646",
  "ansi_x3.4_1968",
  "ansi_x3.4_1986",
  "ansi_x3_4_1968",
  "cp367",
  "csascii",
  "ibm367",
  "iso646_us",
  "iso_646.irv_1991",
  "iso_ir_6",
  "us",
  "us_ascii",
]);
const LATIN1 = new Set([
  "latin_1",
  "latin1",
  "latin",
  "l1",
  "iso8859_1",
  "iso_8859_1",
  "iso8859",
  "8859",
  "cp819",
  "csisolatin1",
  "ibm819",
  "iso_8859_1_1987",
  "iso_ir_100",
]);

/**
 * The encoding declaration Python would honour in `text`, or null if none. Lines are
 * split both at `\n` alone and at every line break, and the declaration that the checker
 * can read least wins: a file Python might read another way than the checker is refused.
 */
export function findEncodingDeclaration(text: string): EncodingDeclaration | null {
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 signature
  let found: EncodingDeclaration | null = null;
  for (const breaks of [/\n/g, /\r\n|\r|\n/g]) {
    let lineStart = start;
    for (let line = 0; line < 2 && lineStart <= text.length; line++) {
      breaks.lastIndex = lineStart;
      const lineBreak = breaks.exec(text);
      const lineEnd = lineBreak?.index ?? text.length;
      const match = COOKIE.exec(text.slice(lineStart, lineEnd));
      const name = match?.[1];
      if (match !== null && name !== undefined) {
        const declaration = { name, encoding: classify(name), offset: lineStart + match[0].length - name.length };
        if (found === null || rank(declaration.encoding) > rank(found.encoding)) found = declaration;
        break; // Python takes the first declaration
      }
      if (lineBreak === null) break;
      lineStart = lineEnd + lineBreak[0].length;
    }
  }
  return found;
}

function rank(encoding: SourceEncoding): number {
  return encoding === "unreadable" ? 2 : encoding === "latin-1" ? 1 : 0;
}

function classify(name: string): SourceEncoding {
  const lower = name.toLowerCase().replaceAll("_", "-");
  // CPython's tokenizer maps these, and any `-suffix` of them (utf-8-unix), itself.
  if (lower === "utf-8" || lower.startsWith("utf-8-")) return "utf-8";
  for (const prefix of ["latin-1", "iso-8859-1", "iso-latin-1"]) {
    if (lower === prefix || lower.startsWith(`${prefix}-`)) return "latin-1";
  }
  const normalized = name.toLowerCase().replace(/[^a-z0-9.]+/g, "_");
  if (UTF8.has(normalized) || ASCII.has(normalized)) return "utf-8";
  if (LATIN1.has(normalized)) return "latin-1";
  return "unreadable";
}
