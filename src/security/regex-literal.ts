import { isLineBreak } from "./lex-builder.js";

/**
 * Finds where a `/regexp/` literal would close, for lexers that must decide whether a `/`
 * opens one (JavaScript, Ruby). Scanning forward from every candidate `/` would cost the
 * rest of the line each time, which is quadratic on a long line full of slashes; instead
 * the answer for every position of a line is computed once, right to left, for both scan
 * states (inside or outside a `[...]` class), and looked up.
 */
export class RegexLiteralScanner {
  private readonly text: string;
  private lineStart = -1;
  private lineEnd = -1;
  /** Per position of the current line: the closing slash a scan from there finds, or -1. */
  private outside = new Int32Array(0);

  constructor(text: string) {
    this.text = text;
  }

  /** The index of the `/` closing a literal opened at `open` on the same line, or -1. */
  closingSlash(open: number): number {
    if (open < this.lineStart || open >= this.lineEnd) this.computeLine(open);
    return this.outside[open + 1 - this.lineStart] ?? -1;
  }

  private computeLine(at: number): void {
    const { text } = this;
    let start = at;
    while (start > 0 && !isLineBreak(text.charCodeAt(start - 1))) start--;
    let end = at;
    while (end < text.length && !isLineBreak(text.charCodeAt(end))) end++;
    const length = end - start;
    const outside = new Int32Array(length + 2).fill(-1);
    const inside = new Int32Array(length + 2).fill(-1);
    for (let p = length - 1; p >= 0; p--) {
      const c = text[start + p];
      if (c === "\\") {
        // An escape skips the next character; at the end of the line nothing closes.
        outside[p] = outside[p + 2] ?? -1;
        inside[p] = inside[p + 2] ?? -1;
      } else {
        outside[p] = c === "/" ? start + p : c === "[" ? (inside[p + 1] ?? -1) : (outside[p + 1] ?? -1);
        inside[p] = c === "]" ? (outside[p + 1] ?? -1) : (inside[p + 1] ?? -1);
      }
    }
    this.lineStart = start;
    this.lineEnd = end;
    this.outside = outside;
  }
}
