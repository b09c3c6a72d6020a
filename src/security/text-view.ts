/**
 * Other readings of a source text, for checks that must see what the interpreter sees:
 * the NFKC form Python gives identifiers, or the UTF-8 bytes of the code read as Latin-1
 * when a coding cookie says so. Each view maps its offsets back to the original text, so
 * a finding is still reported where the user wrote it.
 */
export interface TextView {
  readonly text: string;
  /** The offset in the original text of the character at `offset` in this view. */
  original(offset: number): number;
}

/** `text` as it is. */
export function identityView(text: string): TextView {
  return { text, original: (offset) => offset };
}

/**
 * `text` with every character NFKC-normalised, or null when that changes nothing. Text is
 * normalised a starter at a time (a character and the combining marks after it), which is
 * where NFKC composes, so each normalised piece maps back to where its source began.
 */
export function nfkcView(text: string): TextView | null {
  if (isAscii(text) || text.normalize("NFKC") === text) return null;
  const parts: string[] = [];
  const starts: number[] = []; // view offset of each piece
  const origins: number[] = []; // original offset of each piece
  const verbatim: boolean[] = []; // a run of ASCII, mapped character for character
  let viewLength = 0;
  const push = (piece: string, origin: number, ascii: boolean) => {
    const normalized = ascii ? piece : piece.normalize("NFKC");
    parts.push(normalized);
    starts.push(viewLength);
    origins.push(origin);
    verbatim.push(ascii);
    viewLength += normalized.length;
  };
  let i = 0;
  while (i < text.length) {
    let asciiEnd = i;
    while (asciiEnd < text.length && text.charCodeAt(asciiEnd) < 0x80) asciiEnd++;
    // The last ASCII character joins a combining mark after it (e + U+0301 is é).
    if (asciiEnd < text.length && asciiEnd > i && isNonStarter(text.codePointAt(asciiEnd) ?? 0)) asciiEnd--;
    if (asciiEnd > i) {
      push(text.slice(i, asciiEnd), i, true);
      i = asciiEnd;
      continue;
    }
    let end = i + codePointLength(text, i);
    while (end < text.length && isNonStarter(text.codePointAt(end) ?? 0)) end += codePointLength(text, end);
    push(text.slice(i, end), i, false);
    i = end;
  }
  const original = (offset: number): number => {
    const p = pieceAt(starts, offset);
    const origin = origins[p] ?? text.length;
    return verbatim[p] === true ? origin + (offset - (starts[p] ?? 0)) : origin;
  };
  return { text: parts.join(""), original };
}

/**
 * The UTF-8 encoding of `text` decoded as Latin-1, byte for character: what Python reads
 * from a file of this text under `# coding: latin-1`. Null when `text` is ASCII (the same).
 */
export function latin1View(text: string): TextView | null {
  if (isAscii(text)) return null;
  const bytes = Buffer.from(text, "utf8");
  const origins = new Int32Array(bytes.length + 1);
  let b = 0;
  for (let i = 0; i < text.length;) {
    const length = codePointLength(text, i);
    const width = utf8Width(text.codePointAt(i) ?? 0, length);
    for (let k = 0; k < width; k++) origins[b + k] = i;
    b += width;
    i += length;
  }
  origins[bytes.length] = text.length;
  return { text: bytes.toString("latin1"), original: (offset) => origins[Math.min(offset, bytes.length)] ?? text.length };
}

export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

function codePointLength(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
}

function utf8Width(codePoint: number, length: number): number {
  if (length === 2) return 4;
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  return 3; // a lone surrogate is encoded as U+FFFD, also 3 bytes
}

/** Combining marks and Hangul vowel/final jamo, which NFKC joins to what precedes them. */
function isNonStarter(codePoint: number): boolean {
  if (codePoint < 0x300) return false;
  if (codePoint >= 0x1160 && codePoint <= 0x11ff) return true;
  return /\p{M}/u.test(String.fromCodePoint(codePoint));
}

/** The index of the last piece starting at or before `offset`. */
function pieceAt(starts: readonly number[], offset: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if ((starts[middle] ?? 0) <= offset) low = middle;
    else high = middle - 1;
  }
  return low;
}
