import { Lexer, isBlank, isLineBreak, lexWith, lineBreakLength } from "./lex-builder.js";
import type { LexedSource } from "./lex-builder.js";

// A `#` starts a comment only at the start of a word: after one of these (or a line start).
const WORD_BREAKS = new Set([";", "&", "|", "(", ")", "<", ">"]);

interface PendingHeredoc {
  readonly delimiter: string;
  readonly stripTabs: boolean;
  readonly quoted: boolean;
}

/**
 * Bash: finds comments only (bash has no imports to detect). `#` is a comment only at the
 * start of a word and outside quotes, so `echo a#b`, `$#`, `${#var}`, `${v#prefix}`,
 * `$((16#ff))` and `"#"` are code; comments inside `$(...)` and backquotes are comments;
 * heredoc bodies are text, with their `$(...)` lexed as code unless the delimiter is quoted.
 */
export function lexBash(text: string): LexedSource {
  return lexWith(text, (builder) => new BashLexer(builder));
}

class BashLexer extends Lexer {
  private pending: PendingHeredoc[] = [];

  run(): void {
    this.code(null);
  }

  /** Lex commands until `stop` (`)` closing `$(`, or a backquote) at depth 0, or the end. */
  private code(stop: ")" | "`" | null): void {
    const { b, text } = this;
    const n = b.length;
    let parenDepth = 0;
    while (this.i < n) {
      const i = this.i;
      const c = text[i];
      if (c === "\\") {
        this.i = i + 1 + Math.max(1, lineBreakLength(text, i + 1));
        continue;
      }
      if (c === "#" && this.atWordStart(i)) {
        this.lineComment(i);
        continue;
      }
      const breakLength = lineBreakLength(text, i);
      if (breakLength > 0) {
        this.i = i + breakLength;
        if (this.pending.length > 0) this.heredocBodies();
        continue;
      }
      if (c === "'") {
        this.singleQuoted(i + 1);
        continue;
      }
      if (c === "$" && text[i + 1] === "'") {
        this.ansiQuoted(i + 2);
        continue;
      }
      if (c === '"' || (c === "$" && text[i + 1] === '"')) {
        this.nestedCode(c === "$" ? i + 2 : i + 1, () => this.doubleQuoted());
        continue;
      }
      if (c === "`") {
        if (stop === "`") return;
        this.backquoted(i);
        continue;
      }
      if (c === "$") {
        this.expansion(i);
        continue;
      }
      if (c === "(" && stop === ")") parenDepth++;
      if (c === ")" && stop === ")") {
        if (parenDepth === 0) return;
        parenDepth--;
      }
      if (c === "<" && text[i + 1] === "<" && text[i + 2] !== "<") {
        const heredoc = /^<<(-?)[ \t]*(?:'([^'\r\n]*)'|"([^"\r\n]*)"|\\?([\w.\-]+))/.exec(text.slice(i, i + 256));
        if (heredoc !== null) {
          const [whole, dash, singleQuoted, doubleQuoted, bare] = heredoc;
          this.pending.push({
            delimiter: singleQuoted ?? doubleQuoted ?? bare ?? "",
            stripTabs: dash === "-",
            quoted: singleQuoted !== undefined || doubleQuoted !== undefined || whole.includes("\\"),
          });
          this.i = i + whole.length;
          continue;
        }
      }
      this.i = i + 1;
    }
  }

  /** A backquoted command at `start`; returns where lexing goes on. */
  private backquoted(start: number): number {
    return this.nestedCode(start + 1, () => this.code("`"), "`");
  }

  private atWordStart(i: number): boolean {
    if (i === 0) return true;
    const previous = this.text.charCodeAt(i - 1);
    return isBlank(previous) || isLineBreak(previous) || WORD_BREAKS.has(this.text[i - 1] ?? "");
  }

  private singleQuoted(from: number): void {
    const close = this.text.indexOf("'", from);
    this.i = close === -1 ? this.b.length : close + 1;
  }

  private ansiQuoted(from: number): void {
    const { text } = this;
    let i = from;
    while (i < this.b.length && text[i] !== "'") i += text[i] === "\\" ? 2 : 1;
    this.i = Math.min(i + 1, this.b.length);
  }

  /** The body of a `"..."` after its opening quote. */
  private doubleQuoted(): void {
    const { text } = this;
    const n = this.b.length;
    while (this.i < n) {
      const i = this.i;
      const c = text[i];
      if (c === "\\") {
        this.i = i + 2;
      } else if (c === '"') {
        this.i = i + 1;
        return;
      } else if (c === "`") {
        this.backquoted(i);
      } else if (c === "$") {
        this.expansion(i);
      } else {
        this.i = i + 1;
      }
    }
  }

  /** `$(...)`, `$((...))`, `${...}` or `$name` / `$#` / `$?` at `start`. */
  private expansion(start: number): void {
    const { text } = this;
    const next = text[start + 1];
    if (next === "(" && text[start + 2] === "(") {
      this.i = this.balancedEnd(start + 1, "(", ")");
    } else if (next === "(") {
      this.nestedCode(start + 2, () => this.code(")"), ")");
    } else if (next === "{") {
      this.nestedCode(start + 2, () => this.parameter());
    } else {
      this.i = start + (next === undefined ? 1 : 2); // $x, $#, $$, $?, ...: never a comment
    }
  }

  /** The body of `${...}` after its `${`, where `#` means length or prefix removal. */
  private parameter(): void {
    const { text } = this;
    const n = this.b.length;
    let depth = 0;
    while (this.i < n) {
      const i = this.i;
      const c = text[i];
      if (c === "\\") {
        this.i = i + 2;
      } else if (c === "'") {
        this.singleQuoted(i + 1);
      } else if (c === '"') {
        this.nestedCode(i + 1, () => this.doubleQuoted());
      } else if (c === "$") {
        this.expansion(i);
      } else if (c === "{") {
        depth++;
        this.i = i + 1;
      } else if (c === "}") {
        this.i = i + 1;
        if (depth === 0) return;
        depth--;
      } else {
        this.i = i + 1;
      }
    }
  }

  /** The end of a balanced `open`...`close` run starting at `start` (arithmetic). */
  private balancedEnd(start: number, open: string, close: string): number {
    const { text } = this;
    let depth = 0;
    for (let i = start; i < this.b.length; i++) {
      if (text[i] === open) depth++;
      else if (text[i] === close && --depth === 0) return i + 1;
    }
    return this.b.length;
  }

  /** Skip the bodies of pending heredocs, which start at the current line. */
  private heredocBodies(): void {
    const { text } = this;
    const heredocs = this.pending;
    this.pending = [];
    for (const heredoc of heredocs) {
      const bodyStart = this.i;
      const { bodyEnd, after } = this.heredocBody(bodyStart, (line) => (heredoc.stripTabs ? line.replace(/^\t+/, "") : line) === heredoc.delimiter);
      if (!heredoc.quoted) {
        // Expansions in the body are code (comments inside $(...) are comments).
        let i = bodyStart;
        while (i < bodyEnd) {
          const c = text[i];
          if (c === "\\") {
            i += 2;
          } else if (c === "$") {
            this.expansion(i);
            i = this.i;
          } else if (c === "`") {
            i = this.backquoted(i);
          } else {
            i++;
          }
        }
      }
      this.i = after;
    }
  }
}
