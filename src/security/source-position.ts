/**
 * Turns offsets into what a user looks for in an editor: 1-based line and column, and the
 * line itself. Lines end at `\n`, `\r\n` or a lone `\r`; columns count Unicode code points
 * (an emoji is one column), as Python and most editors do.
 *
 * Offsets must be asked for in ascending order: columns are counted incrementally, so a
 * thousand findings on one megabyte-long line cost one pass over it, not a thousand.
 */
export class SourcePositions {
  private readonly text: string;
  private readonly lineStarts: number[] = [0];
  private cursorOffset = 0;
  private cursorColumn = 1;
  private cursorLine = 0;

  constructor(text: string) {
    this.text = text;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === 0x0a) {
        this.lineStarts.push(i + 1);
      } else if (code === 0x0d) {
        if (text.charCodeAt(i + 1) === 0x0a) i++;
        this.lineStarts.push(i + 1);
      }
    }
  }

  /** The 0-based line index containing `offset`. */
  private lineIndexOf(offset: number): number {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.lineStarts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** 1-based line and code point column of `offset` (not less than the previous one asked). */
  position(offset: number): { line: number; column: number } {
    const lineIndex = this.lineIndexOf(offset);
    const lineStart = this.lineStarts[lineIndex] ?? 0;
    if (lineIndex !== this.cursorLine || offset < this.cursorOffset) {
      this.cursorLine = lineIndex;
      this.cursorOffset = lineStart;
      this.cursorColumn = 1;
    }
    this.cursorColumn += countCodePoints(this.text, this.cursorOffset, offset);
    this.cursorOffset = offset;
    return { line: lineIndex + 1, column: this.cursorColumn };
  }

  /** The text of the line containing `offset`, shortened to about `width` around it. */
  snippet(offset: number, width = 200): string {
    const lineIndex = this.lineIndexOf(offset);
    const start = this.lineStarts[lineIndex] ?? 0;
    let end = this.lineStarts[lineIndex + 1] ?? this.text.length;
    while (end > start && (this.text[end - 1] === "\n" || this.text[end - 1] === "\r")) end--;
    if (end - start <= width) return this.text.slice(start, end).trimEnd();
    let from = Math.max(start, offset - Math.floor(width / 4));
    let to = Math.min(end, from + width);
    from = Math.max(start, to - width);
    if (isLowSurrogate(this.text.charCodeAt(from))) from++;
    if (isLowSurrogate(this.text.charCodeAt(to))) to--;
    return `${from > start ? "…" : ""}${this.text.slice(from, to).trim()}${to < end ? "…" : ""}`;
  }
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function countCodePoints(text: string, from: number, to: number): number {
  let count = to - from;
  for (let i = from + 1; i < to; i++) {
    if (isLowSurrogate(text.charCodeAt(i)) && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff) count--;
  }
  return count;
}
