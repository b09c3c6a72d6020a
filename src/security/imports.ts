import type { LexedSource, Token } from "./lex-builder.js";
import type { CodeLanguage } from "./language.js";
import type { RestrictedModule } from "./policy.js";
import { isAscii } from "./text-view.js";

/**
 * Where code brings in a module. `import` sites are statements and calls that load one
 * (`import os`, `require('fs')`, `#include <x>`, `library(x)`); `reference` sites use one
 * by its qualified name without importing it (`pkg::fn` in R, `java.net.Socket` in Java).
 */
export interface ImportSite {
  /** The module as the code names it: `os.path`, `node:fs`, `sys/socket.h`, `net/http`. */
  readonly module: string;
  readonly kind: "import" | "reference";
  /** Offsets of the name in the source. */
  readonly start: number;
  readonly end: number;
  /** Sites of one statement share this number, so one statement is one finding. */
  readonly statement: number;
  /**
   * The name is a constant that could not be read (Python's `\N{...}` with an unknown
   * name): it may be any module, so it counts as every restricted one. Set only when true.
   */
  readonly unknown?: true;
}

/** A restricted module found at a site. */
export interface RestrictedImport {
  readonly module: RestrictedModule;
  readonly site: ImportSite;
}

/**
 * Every import site in lexed code. Only code tokens are looked at, so text in strings,
 * docstrings and comments never counts, while module names are read from string literals
 * by their value (escapes decoded, constant concatenations like `'f' + 's'` folded).
 * Computed names (`require(name)`, `__import__(x)`) cannot be resolved and are not sites;
 * a constant head with a computed tail counts as its head (`__import__('os.' + x)` loads
 * `os`), which may over-report (`'os' + x` could be `osmosis`) but never hides.
 */
export function findImports(language: CodeLanguage, source: LexedSource): ImportSite[] {
  const reader = new TokenReader(source);
  switch (language) {
    case "python":
      return findPythonImports(reader);
    case "javascript":
    case "typescript":
      return findJavaScriptImports(reader);
    case "java":
      return findJavaImports(reader);
    case "go":
      return findGoImports(reader);
    case "cpp":
      return findCppIncludes(reader);
    case "ruby":
      return findRubyRequires(reader);
    case "r":
      return findRLibraries(reader);
    case "bash":
      return []; // bash has no modules; restrict commands with patterns
  }
}

/**
 * Whether importing `imported` brings in the restricted module `restricted` in `language`:
 * the module itself or one of its submodules (`os.path` for `os`, `fs/promises` and
 * `node:fs` for `fs`, `net/http` for Go's `net`, `sys/socket.h` for `sys`), never a module
 * that merely shares a prefix (`osmosis` is not `os`). R packages have no submodules. In
 * Go a restricted name without a slash also matches the last path element
 * (`golang.org/x/net` for `net`), as llm-sandbox's Go rule does.
 */
export function importMatches(language: CodeLanguage, imported: string, restricted: string): boolean {
  switch (language) {
    case "python":
    case "java":
      return isSameOrBelow(imported, restricted, ".");
    case "javascript":
    case "typescript":
      return isSameOrBelow(withoutNodePrefix(imported), withoutNodePrefix(restricted), "/");
    case "go":
      return isSameOrBelow(imported, restricted, "/") || imported.endsWith(`/${restricted}`);
    case "cpp":
      return isSameOrBelow(imported, restricted, "/");
    case "ruby":
      return isSameOrBelow(imported.replace(/^\.\//, "").replace(/\.(rb|so|bundle)$/, ""), restricted, "/");
    case "r":
      return imported === restricted;
    case "bash":
      return false;
  }
}

/**
 * The restricted modules imported by lexed code, one per module and statement, in source
 * order. A `reference` site counts only for qualified restricted names (`java.net`, not
 * a one-word name that any variable could spell) except R's explicit `pkg::`.
 */
export function findRestrictedImports(language: CodeLanguage, source: LexedSource, modules: readonly RestrictedModule[]): RestrictedImport[] {
  if (modules.length === 0) return [];
  const found: RestrictedImport[] = [];
  const reported = new Set<string>();
  for (const site of findImports(language, source)) {
    for (const module of modules) {
      if (site.kind === "reference" && language !== "r" && !module.name.includes(".")) continue;
      if (site.unknown !== true && !importMatches(language, site.module, module.name)) continue;
      const key = `${site.statement}\u0000${module.name}`;
      if (reported.has(key)) continue;
      reported.add(key);
      found.push({ module, site });
    }
  }
  return found;
}

function isSameOrBelow(imported: string, restricted: string, separator: string): boolean {
  return imported === restricted || imported.startsWith(restricted + separator);
}

function withoutNodePrefix(name: string): string {
  return name.startsWith("node:") ? name.slice(5) : name;
}

/** Token access with the source text at hand. */
class TokenReader {
  readonly tokens: readonly Token[];
  readonly text: string;
  readonly sites: ImportSite[] = [];
  private statement = 0;

  constructor(source: LexedSource) {
    this.tokens = source.tokens;
    this.text = source.text;
  }

  get length(): number {
    return this.tokens.length;
  }

  /**
   * The word at `k`, or null if that token is not a word. NFKC-normalised, as Python
   * normalises identifiers (`ℴs` and `𝐨𝐬` are `os`); for the other languages a name that
   * only normalises to a restricted one over-reports, which is the safe side.
   */
  word(k: number): string | null {
    const token = this.tokens[k];
    if (token === undefined || token.kind !== "word") return null;
    const word = token.value ?? this.text.slice(token.start, token.end);
    return isAscii(word) ? word : word.normalize("NFKC");
  }

  isPunct(k: number, char: string): boolean {
    const token = this.tokens[k];
    return token !== undefined && token.kind === "punct" && this.text[token.start] === char;
  }

  isKind(k: number, kind: Token["kind"]): boolean {
    return this.tokens[k]?.kind === kind;
  }

  /**
   * A constant string at `k`: one literal, or several joined by `+` (`plus`) or by mere
   * adjacency (`adjacent`, as Python and Ruby allow). Null if `k` is not one.
   */
  constantString(k: number, options: { plus: boolean; adjacent: boolean }): { value: string; next: number } | null {
    const first = this.tokens[k];
    if (first === undefined || first.kind !== "string" || first.value === null) return null;
    let value = first.value;
    let j = k + 1;
    for (;;) {
      const adjacent = this.tokens[j];
      if (options.adjacent && adjacent?.kind === "string" && adjacent.value !== null) {
        value += adjacent.value;
        j++;
        continue;
      }
      const afterPlus = this.tokens[j + 1];
      if (options.plus && this.isPunct(j, "+") && afterPlus?.kind === "string" && afterPlus.value !== null) {
        value += afterPlus.value;
        j += 2;
        continue;
      }
      return { value, next: j };
    }
  }

  /** A dotted name (`a.b.c`) starting at `k`: its text, span and the index after it. */
  dottedName(k: number): { name: string; start: number; end: number; next: number } | null {
    const first = this.tokens[k];
    const head = this.word(k);
    if (first === undefined || head === null || /^\d/.test(head)) return null;
    let name = head;
    let end = first.end;
    let j = k + 1;
    while (this.isPunct(j, ".")) {
      const part = this.word(j + 1);
      if (part === null) break;
      name += `.${part}`;
      end = this.tokens[j + 1]?.end ?? end;
      j += 2;
    }
    return { name, start: first.start, end, next: j };
  }

  newStatement(): void {
    this.statement++;
  }

  site(module: string, start: number, end: number, kind: ImportSite["kind"] = "import", unknown = false): void {
    if (module === "" && !unknown) return;
    const site: ImportSite = { module, kind, start, end, statement: this.statement };
    this.sites.push(unknown ? { ...site, unknown } : site);
  }

  /** A site for the constant string at `k`, if there is one. */
  stringSite(k: number, options: { plus: boolean; adjacent: boolean }): number {
    const constant = this.constantString(k, options);
    if (constant === null) return k;
    const token = this.tokens[k];
    if (token !== undefined) this.site(constant.value, token.start, this.tokens[constant.next - 1]?.end ?? token.end);
    return constant.next;
  }
}

/** Python's loader functions: `__import__` and `importlib.import_module`. */
const PYTHON_LOADERS = ["__import__", "import_module"];

function findPythonImports(r: TokenReader): ImportSite[] {
  const loaders = pythonLoaderNames(r);
  const closers = matchingBrackets(r);
  for (let k = 0; k < r.length; k++) {
    const word = r.word(k);
    if (word === "from") {
      // from a.b import c, d  ->  a.b, a.b.c, a.b.d
      // from . import c / from .a import c: relative, the package's own code, not sites.
      let at = k + 1;
      while (r.isPunct(at, ".")) at++;
      const relative = at > k + 1;
      const source = r.word(at) === "import" ? null : r.dottedName(at);
      const importAt = source?.next ?? at;
      if ((source === null && !relative) || r.word(importAt) !== "import") continue;
      r.newStatement();
      if (source !== null && !relative) r.site(source.name, source.start, source.end);
      let j = importAt + 1;
      if (r.isPunct(j, "(")) j++;
      for (;;) {
        const name = r.word(j);
        if (name === null) break;
        const token = r.tokens[j];
        if (token !== undefined && source !== null && !relative) r.site(`${source.name}.${name}`, token.start, token.end);
        j++;
        if (r.word(j) === "as") j += 2;
        if (!r.isPunct(j, ",")) break;
        j++;
      }
      k = j - 1;
    } else if (word === "import") {
      // import a, b.c as d
      r.newStatement();
      let j = k + 1;
      for (;;) {
        const name = r.dottedName(j);
        if (name === null) break;
        r.site(name.name, name.start, name.end);
        j = name.next;
        if (r.word(j) === "as") j += 2;
        if (!r.isPunct(j, ",")) break;
        j++;
      }
      k = j - 1;
    } else if (word !== null && loaders.has(word)) {
      // __import__('x'), importlib.import_module('x'), an alias of either, a parenthesised
      // callee `(__import__)('x')`.
      let open = k + 1;
      while (r.isPunct(open, ")")) open++;
      if (!r.isPunct(open, "(")) continue;
      r.newStatement();
      pythonLoaderCall(r, open, closers[open] ?? r.length, word === "import_module");
    }
  }
  return r.sites;
}

/**
 * The module a loader call at `open` (its `(`; `close` its `)`) brings in: the first
 * argument or `name=`, a constant string, parenthesised or concatenated as it may be. A
 * relative name (`.x`) is the caller's package, except in `import_module('.x', 'pkg')`,
 * which loads `pkg` first.
 */
function pythonLoaderCall(r: TokenReader, open: number, close: number, importModule: boolean): void {
  const args = callArguments(r, open, close);
  const named = (keyword: string) => args.find((a) => a.keyword === keyword);
  const positional = args.filter((a) => a.keyword === null);
  const name = positional[0] ?? named("name");
  if (name === undefined) return;
  const value = constantExpression(r, name.start, name.end);
  if (value === null) return;
  if (value.unknown) {
    r.site(value.value, value.start, value.end, "import", true);
    return;
  }
  if (!value.value.startsWith(".")) {
    r.site(value.value, value.start, value.end);
    return;
  }
  const pkg = importModule ? (positional[1] ?? named("package")) : undefined;
  const pkgValue = pkg === undefined ? null : constantExpression(r, pkg.start, pkg.end);
  if (pkgValue !== null) r.site(pkgValue.value, pkgValue.start, pkgValue.end, "import", pkgValue.unknown);
}

interface CallArgument {
  /** `name` for `name=...`, null for a positional argument. */
  readonly keyword: string | null;
  /** Token range of the value, `[start, end)`. */
  readonly start: number;
  readonly end: number;
}

/** The arguments of the call whose `(` is at `open`, split at its own commas. */
function callArguments(r: TokenReader, open: number, close: number): CallArgument[] {
  const args: CallArgument[] = [];
  const closers = matchingBrackets(r);
  const last = Math.min(close, r.length);
  let start = open + 1;
  for (let j = open + 1; ; j++) {
    const atEnd = j >= last;
    if (!atEnd && !r.isPunct(j, ",")) {
      if (r.isPunct(j, "(") || r.isPunct(j, "[") || r.isPunct(j, "{")) j = closers[j] ?? last;
      continue;
    }
    const end = Math.min(j, last);
    if (end > start) {
      const keyword = r.isPunct(start + 1, "=") && !r.isPunct(start + 2, "=") ? r.word(start) : null;
      args.push(keyword === null ? { keyword, start, end } : { keyword, start: start + 2, end });
    }
    if (atEnd) break;
    start = j + 1;
  }
  return args;
}

/**
 * The value of a constant string expression over tokens `[from, to)`: literals, adjacent
 * or joined by `+`, in any parentheses. A constant head with a computed tail counts as
 * its head. Null if the expression does not start with a constant.
 */
function constantExpression(r: TokenReader, from: number, to: number): { value: string; unknown: boolean; start: number; end: number } | null {
  let value = "";
  let unknown = false;
  let start = -1;
  let end = -1;
  let j = from;
  let opened = 0;
  let expectOperand = true;
  while (j < to) {
    const token = r.tokens[j];
    if (token === undefined) break;
    if (expectOperand && r.isPunct(j, "(")) {
      opened++;
      j++;
      continue;
    }
    if (expectOperand && token.kind === "string") {
      if (token.value === null && token.unknown !== true) break; // f-string with fields: computed
      if (start === -1) start = token.start;
      end = token.end;
      value += token.value ?? "";
      unknown ||= token.unknown === true;
      j++;
      if (r.isKind(j, "string")) continue; // adjacent literals concatenate
      expectOperand = false;
      continue;
    }
    if (!expectOperand && opened > 0 && r.isPunct(j, ")")) {
      opened--;
      j++;
      continue;
    }
    if (!expectOperand && r.isPunct(j, "+")) {
      expectOperand = true;
      j++;
      continue;
    }
    break;
  }
  return start === -1 ? null : { value, unknown, start, end };
}

/**
 * `__import__`, `import_module` and the names code binds to them: `from importlib import
 * import_module as im`, `im = importlib.import_module`, `imp = (__import__)`, and aliases
 * of those (a few rounds). Scope is ignored: an alias seen anywhere counts everywhere,
 * which can only over-report.
 */
function pythonLoaderNames(r: TokenReader): Set<string> {
  const loaders = new Set(PYTHON_LOADERS);
  for (let round = 0; round < 3; round++) {
    const before = loaders.size;
    for (let k = 0; k < r.length; k++) {
      const word = r.word(k);
      if (word === null || !loaders.has(word)) continue;
      if (r.word(k + 1) === "as") {
        const alias = r.word(k + 2);
        if (alias !== null) loaders.add(alias);
        continue;
      }
      // `alias = [(]*[a.b.]loader[)]*` not followed by a call or attribute.
      let after = k + 1;
      while (r.isPunct(after, ")")) after++;
      if (r.isPunct(after, "(") || r.isPunct(after, ".")) continue;
      let before = k - 1;
      while (r.isPunct(before, ".") && r.word(before - 1) !== null) before -= 2;
      while (r.isPunct(before, "(")) before--;
      if (!r.isPunct(before, "=") || r.isPunct(before - 1, "=") || r.isPunct(before - 1, "!")) continue;
      const walrus = r.isPunct(before - 1, ":");
      const alias = r.word(walrus ? before - 2 : before - 1);
      if (alias !== null) loaders.add(alias);
    }
    if (loaders.size === before) break;
  }
  return loaders;
}

const bracketCache = new WeakMap<TokenReader, Int32Array>();

/** For each opening bracket token, the index of its closing one (r.length if none). */
function matchingBrackets(r: TokenReader): Int32Array {
  const cached = bracketCache.get(r);
  if (cached !== undefined) return cached;
  const closers = new Int32Array(r.length).fill(r.length);
  const stack: number[] = [];
  for (let k = 0; k < r.length; k++) {
    if (r.isPunct(k, "(") || r.isPunct(k, "[") || r.isPunct(k, "{")) {
      stack.push(k);
    } else if (r.isPunct(k, ")") || r.isPunct(k, "]") || r.isPunct(k, "}")) {
      const opener = stack.pop();
      if (opener !== undefined) closers[opener] = k;
    }
  }
  bracketCache.set(r, closers);
  return closers;
}

function findJavaScriptImports(r: TokenReader): ImportSite[] {
  const constant = { plus: true, adjacent: false };
  // `import x, {y} from 'm'` and `export * from 'm'`: find the `from 'm'` of the clause.
  const fromClause = (j: number): void => {
    for (; j < r.length; j++) {
      const word = r.word(j);
      if (word === "from" && r.isKind(j + 1, "string")) {
        r.stringSite(j + 1, constant);
        return;
      }
      if (word === "import" || word === "export" || r.isPunct(j, ";") || r.isKind(j, "string")) return;
    }
  };
  for (let k = 0; k < r.length; k++) {
    const word = r.word(k);
    if (word === null || (r.isPunct(k - 1, ".") && word !== "require")) continue;
    if (word === "require" && r.isPunct(k + 1, "(")) {
      r.newStatement();
      r.stringSite(k + 2, constant);
    } else if (word === "import") {
      r.newStatement();
      if (r.isPunct(k + 1, "(")) {
        r.stringSite(k + 2, constant); // import('m')
      } else if (r.isKind(k + 1, "string")) {
        r.stringSite(k + 1, constant); // import 'm'
      } else if (!r.isPunct(k + 1, ".")) {
        fromClause(k + 1); // not import.meta
      }
    } else if (word === "export") {
      r.newStatement();
      fromClause(k + 1);
    }
  }
  return r.sites;
}

function findJavaImports(r: TokenReader): ImportSite[] {
  for (let k = 0; k < r.length; k++) {
    const word = r.word(k);
    if (word === null || r.isPunct(k - 1, ".")) continue;
    if (word === "import") {
      // import java.io.File;  import java.io.*;  import static java.lang.Math.max;
      r.newStatement();
      const nameAt = r.word(k + 1) === "static" ? k + 2 : k + 1;
      const name = r.dottedName(nameAt);
      if (name !== null) {
        r.site(name.name, name.start, name.end);
        k = name.next - 1;
      }
    } else if (word === "package") {
      k = (r.dottedName(k + 1)?.next ?? k + 1) - 1;
    } else if (r.isPunct(k + 1, ".")) {
      // A qualified name used in code, e.g. new java.net.Socket(...).
      const name = r.dottedName(k);
      if (name !== null && name.name.includes(".")) {
        r.newStatement();
        r.site(name.name, name.start, name.end, "reference");
        k = name.next - 1;
      }
    }
  }
  return r.sites;
}

function findGoImports(r: TokenReader): ImportSite[] {
  const constant = { plus: false, adjacent: false };
  for (let k = 0; k < r.length; k++) {
    if (r.word(k) !== "import" || r.isPunct(k - 1, ".")) continue;
    r.newStatement();
    if (r.isPunct(k + 1, "(")) {
      // import ( "fmt"; alias "net/http"; . "math"; _ "embed" )
      let j = k + 2;
      while (j < r.length && !r.isPunct(j, ")")) {
        if (r.isKind(j, "string")) {
          r.newStatement(); // each spec of the group is an import of its own
          j = r.stringSite(j, constant);
        } else {
          j++;
        }
      }
      k = j;
    } else {
      // import "os"  /  import alias "os"  /  import . "os"
      const at = r.isKind(k + 1, "string") ? k + 1 : k + 2;
      k = r.stringSite(at, constant) - 1;
    }
  }
  return r.sites;
}

function findCppIncludes(r: TokenReader): ImportSite[] {
  for (const token of r.tokens) {
    if (token.kind !== "header" || token.value === null) continue;
    r.newStatement();
    r.site(token.value, token.start, token.end);
  }
  return r.sites;
}

function findRubyRequires(r: TokenReader): ImportSite[] {
  const constant = { plus: true, adjacent: true };
  for (let k = 0; k < r.length; k++) {
    const word = r.word(k);
    if (word === "require" || word === "require_relative" || word === "load") {
      // require 'x'  /  require('x')  /  Kernel.require "x"
      r.newStatement();
      r.stringSite(r.isPunct(k + 1, "(") ? k + 2 : k + 1, constant);
    } else if (word === "autoload") {
      // autoload :Name, 'path'
      r.newStatement();
      for (let j = k + 1; j < Math.min(k + 6, r.length); j++) {
        if (r.isPunct(j, ",")) {
          r.stringSite(j + 1, constant);
          break;
        }
      }
    }
  }
  return r.sites;
}

const R_LOADERS = new Set(["library", "require", "requireNamespace", "loadNamespace", "attachNamespace"]);

function findRLibraries(r: TokenReader): ImportSite[] {
  const constant = { plus: false, adjacent: false };
  for (let k = 0; k < r.length; k++) {
    const word = r.word(k);
    if (word === null) continue;
    if (r.isPunct(k + 1, ":") && r.isPunct(k + 2, ":")) {
      // pkg::fn and pkg:::fn use a package without library().
      const token = r.tokens[k];
      if (token !== undefined && !/^\d/.test(word)) {
        r.newStatement();
        r.site(word, token.start, token.end, "reference");
      }
      continue;
    }
    if (!R_LOADERS.has(word) || !r.isPunct(k + 1, "(")) continue;
    // library(pkg), library("pkg"), library(package = "pkg"); with character.only = TRUE
    // a bare word is a variable holding the name, which cannot be known here.
    r.newStatement();
    let argument = k + 2;
    if (r.word(argument) === "package" && r.isPunct(argument + 1, "=")) argument += 2;
    let characterOnly = false;
    for (let j = argument, depth = 0; j < Math.min(r.length, argument + 64); j++) {
      if (r.isPunct(j, "(")) depth++;
      if (r.isPunct(j, ")") && depth-- === 0) break;
      if (r.word(j) === "character.only") characterOnly = true;
    }
    const token = r.tokens[argument];
    const name = r.word(argument);
    if (token?.kind === "string") {
      r.stringSite(argument, constant);
    } else if (token !== undefined && name !== null && (!characterOnly || token.value !== null)) {
      r.site(name, token.start, token.end);
    }
  }
  return r.sites;
}
