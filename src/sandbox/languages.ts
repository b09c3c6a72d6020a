import { invalidArgument } from "../common/errors.js";

/** Where a run's program lives and runs. */
export interface RunLayout {
  /** The sandbox workdir (cwd of the program). */
  workdir: string;
  /** A directory private to this run for compile outputs. */
  runDir: string;
  runId: string;
}

export interface Command {
  argv: string[];
  env?: Record<string, string>;
}

/**
 * Everything the daemon knows about one language. Handlers live in a registry so a new
 * language is added by registering a handler, without touching the daemon's core.
 */
export interface LanguageHandler {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** The default image, built from deploy/images/<imageDir>. */
  readonly image: string;
  readonly imageDir: string;
  /** True when plots drawn by programs of this language can be captured. */
  readonly plots: boolean;
  /** Path of the source file for this code. */
  sourcePath(code: string, layout: RunLayout): string;
  /** The compile command, for compiled languages. */
  compile?(source: string, layout: RunLayout): Command;
  run(source: string, layout: RunLayout, args: readonly string[]): Command;
  /** The package manager command installing these (already validated) libraries. */
  install?(libraries: readonly string[], layout: Omit<RunLayout, "runDir" | "runId">): Command;
  /** Which library names the package manager accepts (checked before anything runs). */
  readonly libraryPattern?: RegExp;
  /** Environment every program of this language gets. */
  readonly env?: Record<string, string>;
}

const pep508 = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9,._-]+\])?(?:(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+(?:,(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+)*)?|\/[A-Za-z0-9._\/+-]+\.(?:whl|tar\.gz|zip))$/;
const npmName = /^(?:(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*(?:@[A-Za-z0-9.^~<>=*|+ -]+)?|\/[A-Za-z0-9._\/+-]+\.tgz)$/;
const goModule = /^[A-Za-z0-9][A-Za-z0-9._~\/-]*(?:@[A-Za-z0-9._+-]+)?$/;
const gemName = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9][A-Za-z0-9.]*)?|\/[A-Za-z0-9._\/+-]+\.gem)$/;
const rName = /^(?:[A-Za-z][A-Za-z0-9.]*|\/[A-Za-z0-9._\/+-]+\.tar\.gz)$/;
const debName = /^[a-z0-9][a-z0-9.+-]+$/;

function runFile(layout: RunLayout, ext: string): string {
  // In the workdir so the program imports files uploaded beside it, hidden and unique per run.
  return `${layout.workdir}/.sandboxd-${layout.runId}${ext}`;
}

const python: LanguageHandler = {
  name: "python",
  aliases: ["py", "python3"],
  image: "sandboxd/python:latest",
  imageDir: "python",
  plots: true,
  env: { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", PIP_DISABLE_PIP_VERSION_CHECK: "1" },
  sourcePath: (_code, layout) => runFile(layout, ".py"),
  run: (source, _layout, args) => ({ argv: ["python3", "-u", source, ...args] }),
  install: (libraries) => ({
    argv: ["python3", "-m", "pip", "install", "--user", "--break-system-packages", "--no-input", "--progress-bar", "off", "--", ...libraries],
  }),
  libraryPattern: pep508,
};

const javascript: LanguageHandler = {
  name: "javascript",
  aliases: ["js", "node", "nodejs"],
  image: "sandboxd/node:latest",
  imageDir: "node",
  plots: false,
  sourcePath: (_code, layout) => runFile(layout, ".js"),
  run: (source, layout, args) => ({ argv: ["node", source, ...args], env: { NODE_PATH: `${layout.workdir}/node_modules` } }),
  install: (libraries, layout) => ({
    argv: ["npm", "install", "--no-audit", "--no-fund", "--no-progress", "--prefix", layout.workdir, "--", ...libraries],
  }),
  libraryPattern: npmName,
};

const typescript: LanguageHandler = {
  name: "typescript",
  aliases: ["ts"],
  image: "sandboxd/node:latest",
  imageDir: "node",
  plots: false,
  sourcePath: (_code, layout) => `${layout.runDir}/main.ts`,
  compile: (source, layout) => ({
    argv: ["tsc", "--outDir", layout.runDir, "--target", "es2020", "--module", "commonjs", "--esModuleInterop", "--skipLibCheck", "--types", "node", "--typeRoots", "/usr/lib/node_modules/@types:/usr/share/nodejs/@types", source],
  }),
  run: (_source, layout, args) => ({
    argv: ["node", `${layout.runDir}/main.js`, ...args],
    env: { NODE_PATH: `${layout.workdir}/node_modules` },
  }),
  install: javascript.install!,
  libraryPattern: npmName,
};

/** Java needs the file named after its public class; code without one is compiled as Main. */
export function javaClassName(code: string): string {
  const m = /\bpublic\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][A-Za-z0-9_$]*)/.exec(code);
  return m?.[1] ?? "Main";
}

const java: LanguageHandler = {
  name: "java",
  image: "sandboxd/java:latest",
  imageDir: "java",
  plots: false,
  sourcePath: (code, layout) => `${layout.runDir}/${javaClassName(code)}.java`,
  compile: (source, layout) => ({ argv: ["javac", "-d", layout.runDir, "-cp", `${layout.workdir}:${layout.workdir}/lib/*`, source] }),
  run: (source, layout, args) => {
    const cls = source.slice(source.lastIndexOf("/") + 1).replace(/\.java$/, "");
    return { argv: ["java", "-cp", `${layout.runDir}:${layout.workdir}:${layout.workdir}/lib/*`, cls, ...args] };
  },
};

const cpp: LanguageHandler = {
  name: "cpp",
  aliases: ["c++"],
  image: "sandboxd/cpp:latest",
  imageDir: "cpp",
  plots: false,
  sourcePath: (_code, layout) => `${layout.runDir}/main.cpp`,
  compile: (source, layout) => ({ argv: ["g++", "-std=c++17", "-O1", "-o", `${layout.runDir}/main`, source] }),
  // stdbuf makes C stdio line-buffered on a pipe so output streams live.
  run: (_source, layout, args) => ({ argv: ["stdbuf", "-oL", "-eL", `${layout.runDir}/main`, ...args] }),
  install: (libraries) => ({ argv: ["apt-get", "install", "-y", "--no-install-recommends", "--", ...libraries] }),
  libraryPattern: debName,
};

const go: LanguageHandler = {
  name: "go",
  aliases: ["golang"],
  image: "sandboxd/go:latest",
  imageDir: "go",
  plots: false,
  sourcePath: (_code, layout) => `${layout.runDir}/main.go`,
  compile: (source, layout) => ({ argv: ["go", "build", "-o", `${layout.runDir}/main`, source] }),
  run: (_source, layout, args) => ({ argv: [`${layout.runDir}/main`, ...args] }),
  install: (libraries, layout) => ({ argv: ["go", "install", ...libraries], env: { GOBIN: `${layout.workdir}/bin` } }),
  libraryPattern: goModule,
};

const ruby: LanguageHandler = {
  name: "ruby",
  aliases: ["rb"],
  image: "sandboxd/ruby:latest",
  imageDir: "ruby",
  plots: false,
  sourcePath: (_code, layout) => runFile(layout, ".rb"),
  // -e runs first: unbuffered stdout/stderr so output streams live.
  run: (source, _layout, args) => ({ argv: ["ruby", "-e", "$stdout.sync = true; $stderr.sync = true; load ARGV.shift", source, ...args] }),
  install: (libraries) => ({ argv: ["gem", "install", "--no-document", "--user-install", "--", ...libraries] }),
  libraryPattern: gemName,
};

const r: LanguageHandler = {
  name: "r",
  aliases: ["R"],
  image: "sandboxd/r:latest",
  imageDir: "r",
  plots: true,
  sourcePath: (_code, layout) => runFile(layout, ".R"),
  run: (source, _layout, args) => ({ argv: ["Rscript", source, ...args] }),
  install: (libraries, layout) => ({
    argv: [
      "Rscript",
      "-e",
      "lib <- Sys.getenv('R_LIBS_USER'); dir.create(lib, recursive = TRUE, showWarnings = FALSE); a <- commandArgs(TRUE); " +
        "local <- grepl('^/', a); if (any(local)) install.packages(a[local], lib = lib, repos = NULL, type = 'source'); " +
        "if (any(!local)) install.packages(a[!local], lib = lib, repos = Sys.getenv('R_REPOS', 'https://cloud.r-project.org')); " +
        "for (p in basename(sub('_.*$', '', a))) if (!requireNamespace(p, lib.loc = c(lib, .libPaths()), quietly = TRUE)) quit(status = 1)",
      ...libraries,
    ],
    env: { R_LIBS_USER: `${layout.workdir}/.R/library` },
  }),
  libraryPattern: rName,
  env: { R_LIBS_USER: "/sandbox/.R/library" },
};

const bash: LanguageHandler = {
  name: "bash",
  aliases: ["sh", "shell"],
  image: "sandboxd/base:latest",
  imageDir: "base",
  plots: false,
  sourcePath: (_code, layout) => runFile(layout, ".sh"),
  run: (source, _layout, args) => ({ argv: ["bash", source, ...args] }),
};

/** The registry of language handlers; `register` adds a custom one. */
export class LanguageRegistry {
  private readonly byName = new Map<string, LanguageHandler>();

  constructor(handlers: readonly LanguageHandler[] = builtinLanguages) {
    for (const h of handlers) this.register(h);
  }

  register(handler: LanguageHandler): void {
    for (const n of [handler.name, ...(handler.aliases ?? [])]) this.byName.set(n.toLowerCase(), handler);
  }

  /** The handler for a language name or alias; INVALID_ARGUMENT naming the known ones. */
  get(name: string): LanguageHandler {
    const h = this.byName.get(name.trim().toLowerCase());
    if (!h) {
      throw invalidArgument(
        name.trim() === "" ? "language is required" : `language ${JSON.stringify(name)} is not supported; supported: ${this.names().join(", ")}`,
        { reason: "LANGUAGE_NOT_SUPPORTED", metadata: { language: name } },
      );
    }
    return h;
  }

  names(): string[] {
    return [...new Set([...this.byName.values()].map((h) => h.name))].sort();
  }

  /** Validates library names for a language before anything is installed. */
  validateLibraries(handler: LanguageHandler, libraries: readonly string[]): void {
    if (libraries.length === 0) return;
    if (!handler.install || !handler.libraryPattern) {
      throw invalidArgument(`installing libraries is not supported for ${handler.name}`, { reason: "INSTALL_NOT_SUPPORTED" });
    }
    for (const lib of libraries) {
      if (lib.length > 200 || !handler.libraryPattern.test(lib)) {
        throw invalidArgument(`invalid library name for ${handler.name}: ${JSON.stringify(lib.slice(0, 200))}`, {
          reason: "INVALID_LIBRARY",
          metadata: { library: lib.slice(0, 200) },
        });
      }
    }
  }
}

export const builtinLanguages: readonly LanguageHandler[] = [python, javascript, typescript, java, cpp, go, ruby, r, bash];
