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

/** Where and how an install runs. */
export interface InstallLayout {
  workdir: string;
  /**
   * The sandbox has no network (NETWORK_MODE_NONE): the package manager must not try to
   * reach an index, only use what is installed and local package files, so that a library
   * it would have to download fails at once rather than after its retries and timeouts.
   */
  offline?: boolean;
  /** The sandbox's own env: an index it names (a file:// one, say) is used even offline. */
  env?: Record<string, string>;
  /**
   * The install runs through the sandbox's command wrapper (an environment manager's
   * `micromamba run -n NAME`): it should land in the environment the wrapper activates.
   */
  wrapped?: boolean;
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
  install?(libraries: readonly string[], layout: InstallLayout): Command;
  /** Which library names the package manager accepts (checked before anything runs). */
  readonly libraryPattern?: RegExp;
  /** What a library is for this language; ends the message of a rejected library name. */
  readonly libraryHint?: string;
  /** Environment every program of this language gets. */
  readonly env?: Record<string, string>;
  /**
   * Run in each sandbox of this language (not in attached containers) once its process
   * runner started, before anything else runs: cheap, idempotent preparation of the
   * writable directories (the root is read-only), e.g. Python's /tmp/venv paths.
   */
  readonly setup?: Command;
}

/** An absolute path inside the sandbox ending in one of these extensions (a local package). */
const localPath = (ext: string) => String.raw`\/[A-Za-z0-9._\/+-]+\.(?:${ext})`;
const pep508 = new RegExp(
  String.raw`^(?:[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9,._-]+\])?(?:(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+(?:,(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+)*)?|${localPath(String.raw`whl|tar\.gz|zip`)})$`,
);
const npmName = new RegExp(String.raw`^(?:(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*(?:@[A-Za-z0-9.^~<>=*|+ -]+)?|${localPath("tgz")})$`);
const goModule = /^[A-Za-z0-9][A-Za-z0-9._~\/-]*(?:@[A-Za-z0-9._+-]+)?$/;
const gemName = new RegExp(String.raw`^(?:[A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9][A-Za-z0-9.]*)?|${localPath("gem")})$`);
const rName = new RegExp(String.raw`^(?:[A-Za-z][A-Za-z0-9.]*|${localPath(String.raw`tar\.gz`)})$`);
const jarPath = new RegExp(String.raw`^${localPath("jar")}$`);
const headerArchive = new RegExp(String.raw`^${localPath(String.raw`tar|tar\.gz|tgz`)}$`);

function runFile(layout: RunLayout, ext: string): string {
  // In the workdir so the program imports files uploaded beside it, hidden and unique per run.
  return `${layout.workdir}/.sandboxd-${layout.runId}${ext}`;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * llm-sandbox's virtualenv paths, which its users call in commands: /tmp/venv/bin/python
 * and /tmp/venv/bin/pip (and its pip cache /tmp/pip_cache). Not a real venv: python is a
 * link to the sandbox's python3 (so sys.prefix, the system packages and the user site are
 * python3's), pip runs `python -m pip` with it, so what it installs lands where Install
 * puts libraries (the user site in the workdir) and every run sees it. An existing file of
 * the same name is left alone. Takes a few milliseconds; /tmp is a tmpfs, so a sandbox
 * from the warm pool, or one whose agent restarted, gets it too.
 */
const pythonVenvScript = [
  "py=$(command -v python3) || exit 0",
  "v=/tmp/venv/bin",
  'mkdir -p "$v" /tmp/pip_cache || exit 1',
  'for n in python python3; do [ -e "$v/$n" ] || [ -L "$v/$n" ] || ln -s "$py" "$v/$n" || exit 1; done',
  'for n in pip pip3; do [ -e "$v/$n" ] || { printf %s "$1" >"$v/$n" && chmod 755 "$v/$n"; } || exit 1; done',
  '[ -e /tmp/venv/bin/activate ] || printf %s "$2" >/tmp/venv/bin/activate',
].join("\n");
const venvPip = [
  "#!/bin/sh",
  "# llm-sandbox's /tmp/venv/bin/pip, made by sandboxd: pip of the sandbox's python3, installing where",
  "# the sandbox's libraries go (the user site when the system one is not writable).",
  '[ -n "$PIP_BREAK_SYSTEM_PACKAGES" ] || PIP_BREAK_SYSTEM_PACKAGES=1',
  "export PIP_BREAK_SYSTEM_PACKAGES",
  'exec /tmp/venv/bin/python -m pip "$@"',
  "",
].join("\n");
const venvActivate = [
  "# made by sandboxd: puts /tmp/venv/bin first on PATH",
  "VIRTUAL_ENV=/tmp/venv",
  'PATH="/tmp/venv/bin:$PATH"',
  "export VIRTUAL_ENV PATH",
  "",
].join("\n");

const python: LanguageHandler = {
  name: "python",
  aliases: ["py", "python3"],
  image: "sandboxd/python:latest",
  imageDir: "python",
  plots: true,
  env: { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", PIP_DISABLE_PIP_VERSION_CHECK: "1" },
  sourcePath: (_code, layout) => runFile(layout, ".py"),
  run: (source, _layout, args) => ({ argv: ["python3", "-u", source, ...args] }),
  // --user: into ~/.local (HOME is the workdir), which Python puts on sys.path. Offline
  // (unless the sandbox names an index), --no-index: what is installed satisfies a
  // requirement, local files (and PIP_FIND_LINKS) install, anything else fails at once
  // (pip would retry the index 5 times, each up to its timeout). Through a command wrapper,
  // no --user: pip installs into the environment it activates when that is writable, and
  // otherwise into the user site itself when the environment sees one (a conda env does; a
  // venv without system site packages does not, and --user would fail there).
  install: (libraries, layout) => ({
    argv: [
      "python3",
      "-m",
      "pip",
      "install",
      ...(layout.wrapped ? [] : ["--user"]),
      "--break-system-packages",
      "--no-input",
      "--progress-bar",
      "off",
      ...(layout.offline && !layout.env?.["PIP_INDEX_URL"] && !layout.env?.["PIP_EXTRA_INDEX_URL"] ? ["--no-index"] : []),
      "--",
      ...libraries,
    ],
  }),
  libraryPattern: pep508,
  libraryHint: "a library is a PEP 508 requirement (name, name==1.2, name[extra]>=1) or the absolute path of a .whl, .tar.gz or .zip in the sandbox",
  setup: { argv: ["sh", "-c", pythonVenvScript, "sandboxd-setup", venvPip, venvActivate] },
};

const npmHint = "a library is an npm package spec (name, @scope/name, name@range) or the absolute path of a .tgz in the sandbox";

const javascript: LanguageHandler = {
  name: "javascript",
  aliases: ["js", "node", "nodejs"],
  image: "sandboxd/node:latest",
  imageDir: "node",
  plots: false,
  sourcePath: (_code, layout) => runFile(layout, ".js"),
  run: (source, layout, args) => ({ argv: ["node", source, ...args], env: { NODE_PATH: `${layout.workdir}/node_modules` } }),
  // Into <workdir>/node_modules, recorded in <workdir>/package.json. Offline (unless the
  // sandbox names a registry), --offline:
  // npm resolves from its cache and local tarballs only and fails a registry package with
  // ENOTCACHED at once (instead of its fetch retries).
  install: (libraries, layout) => ({
    argv: [
      "npm",
      "install",
      "--no-audit",
      "--no-fund",
      "--no-progress",
      ...(layout.offline && !layout.env?.["NPM_CONFIG_REGISTRY"] && !layout.env?.["npm_config_registry"] ? ["--offline"] : []),
      "--prefix",
      layout.workdir,
      "--",
      ...libraries,
    ],
  }),
  libraryPattern: npmName,
  libraryHint: npmHint,
};

const typescript: LanguageHandler = {
  name: "typescript",
  aliases: ["ts"],
  image: "sandboxd/node:latest",
  imageDir: "node",
  plots: false,
  // In the workdir (like JavaScript) so that imports resolve <workdir>/node_modules and
  // files uploaded beside the code; compiled into the run's own directory.
  sourcePath: (_code, layout) => runFile(layout, ".ts"),
  compile: (source, layout) => ({
    // tsc prints its diagnostics on stdout; a compile error belongs on stderr.
    argv: [
      "sh",
      "-c",
      'exec tsc "$@" >&2',
      "tsc",
      "--outDir",
      layout.runDir,
      "--rootDir",
      layout.workdir,
      "--target",
      "es2022",
      "--module",
      "commonjs",
      "--esModuleInterop",
      "--skipLibCheck",
      "--types",
      "node",
      // A comma list: installed @types first, then Node's own (Debian's libnode ships them).
      "--typeRoots",
      `${layout.workdir}/node_modules/@types,/usr/share/nodejs/@types`,
      source,
    ],
  }),
  run: (source, layout, args) => ({
    argv: ["node", `${layout.runDir}/${baseName(source).replace(/\.ts$/, ".js")}`, ...args],
    env: { NODE_PATH: `${layout.workdir}/node_modules` },
  }),
  install: javascript.install!,
  libraryPattern: npmName,
  libraryHint: npmHint,
};

/**
 * The name a Java source file must have, which is also the class the run starts: its public
 * top-level type (javac requires the match); without one, the class declaring `main`
 * (any file name is allowed then); else Main.
 */
export function javaClassName(code: string): string {
  const pub = /^\s*public\s+(?:(?:final|abstract|sealed|non-sealed|strictfp)\s+)*(?:class|interface|enum|record)\s+([A-Za-z_$][A-Za-z0-9_$]*)/m.exec(code);
  if (pub?.[1]) return pub[1];
  const main = /\bstatic\s+(?:final\s+)?void\s+main\s*\(/.exec(code);
  if (main) {
    let owner: string | undefined;
    for (const m of code.slice(0, main.index).matchAll(/\b(?:class|enum|record)\s+([A-Za-z_$][A-Za-z0-9_$]*)/g)) owner = m[1];
    if (owner) return owner;
  }
  return "Main";
}

/** The package a Java compilation unit declares, or "" for the default package. */
export function javaPackage(code: string): string {
  return /^\s*package\s+([A-Za-z_$][A-Za-z0-9_$]*(?:\s*\.\s*[A-Za-z_$][A-Za-z0-9_$]*)*)\s*;/m.exec(code)?.[1]?.replace(/\s+/g, "") ?? "";
}

const java: LanguageHandler = {
  name: "java",
  image: "sandboxd/java:latest",
  imageDir: "java",
  plots: false,
  // <runDir>/<package dirs>/<Class>.java: the run derives the class's full name from it.
  sourcePath: (code, layout) => {
    const pkg = javaPackage(code);
    return `${layout.runDir}/${pkg === "" ? "" : `${pkg.replaceAll(".", "/")}/`}${javaClassName(code)}.java`;
  },
  compile: (source, layout) => ({ argv: ["javac", "-d", layout.runDir, "-cp", `${layout.workdir}:${layout.workdir}/lib/*`, source] }),
  run: (source, layout, args) => {
    const rel = source.startsWith(`${layout.runDir}/`) ? source.slice(layout.runDir.length + 1) : baseName(source);
    const cls = rel.replace(/\.java$/, "").replaceAll("/", ".");
    return { argv: ["java", "-cp", `${layout.runDir}:${layout.workdir}:${layout.workdir}/lib/*`, cls, ...args] };
  },
  // Jars are copied into <workdir>/lib, which compile and run put on the classpath.
  install: (libraries, layout) => ({ argv: ["install", "-v", "-D", "-m", "0644", "-t", `${layout.workdir}/lib`, "--", ...libraries] }),
  libraryPattern: jarPath,
  libraryHint: "a library is the absolute path of a .jar in the sandbox; it is copied into <workdir>/lib, which is on the classpath",
};

/**
 * Unpacks header archives into a prefix. A fixed script: the archives arrive as arguments,
 * never inside the script text.
 */
const unpackHeaders = [
  'prefix=$1; shift; mkdir -p "$prefix" || exit 1',
  "for a do",
  '  [ -f "$a" ] || { echo "$a: no such file" >&2; exit 1; }',
  `  tar -tf "$a" | grep -Eq '^(\\./)?include/' || { echo "$a: no include/ directory at the top of the archive (lay it out as include/<name>/<header>)" >&2; exit 1; }`,
  '  tar -xf "$a" -C "$prefix" || exit 1',
  '  echo "unpacked $a into $prefix"',
  "done",
].join("\n");

const cpp: LanguageHandler = {
  name: "cpp",
  aliases: ["c++"],
  image: "sandboxd/cpp:latest",
  imageDir: "cpp",
  plots: false,
  sourcePath: (_code, layout) => `${layout.runDir}/main.cpp`,
  // -iquote: `#include "x.h"` finds headers uploaded to the workdir; -I: installed libraries.
  compile: (source, layout) => ({
    argv: ["g++", "-std=c++17", "-O1", "-iquote", layout.workdir, "-I", `${layout.workdir}/.local/include`, "-o", `${layout.runDir}/main`, source],
  }),
  // stdbuf makes C stdio line-buffered on a pipe so output streams live.
  run: (_source, layout, args) => ({ argv: ["stdbuf", "-oL", "-eL", `${layout.runDir}/main`, ...args] }),
  // apt cannot run as the sandbox's non-root user on a read-only root without network, so
  // a library is a header archive laid out as a prefix (include/...), unpacked into ~/.local.
  install: (libraries, layout) => ({ argv: ["sh", "-c", unpackHeaders, "sandboxd-install", `${layout.workdir}/.local`, ...libraries] }),
  libraryPattern: headerArchive,
  libraryHint:
    "a library is the absolute path of a .tar, .tar.gz or .tgz in the sandbox holding headers under include/ (header-only libraries); " +
    "it is unpacked into <workdir>/.local, whose include/ is on the compiler's include path. " +
    "Debian packages need root and network: create the sandbox from a Dockerfile (FROM sandboxd/cpp:latest, USER root, RUN apt-get install -y ..., USER 1000:1000), on a daemon whose builds may use the network (--network.build default)",
};

const go: LanguageHandler = {
  name: "go",
  aliases: ["golang"],
  image: "sandboxd/go:latest",
  imageDir: "go",
  plots: false,
  // Build cache and module cache off the read-only root, whatever the image says.
  env: { GOCACHE: "/tmp/go-cache", GOPATH: "/tmp/go" },
  sourcePath: (_code, layout) => `${layout.runDir}/main.go`,
  // Built from the workdir, so a go.mod there (written by installs) resolves the imports.
  compile: (source, layout) => ({ argv: ["go", "build", "-o", `${layout.runDir}/main`, source] }),
  run: (_source, layout, args) => ({ argv: [`${layout.runDir}/main`, ...args] }),
  // `go get` into <workdir>/go.mod (created on first use), modules from GOPROXY. Offline
  // (unless the sandbox names a GOPROXY, a file:// one say), GOPROXY=off: the module cache
  // still satisfies a module, anything else fails at once ("module lookup disabled")
  // instead of dialing proxy.golang.org.
  install: (libraries, layout) => ({
    argv: ["sh", "-c", 'test -f go.mod || go mod init sandbox || exit 1; exec go get -- "$@"', "sandboxd-install", ...libraries],
    ...(layout.offline && !layout.env?.["GOPROXY"] ? { env: { GOPROXY: "off" } } : {}),
  }),
  libraryPattern: goModule,
  libraryHint: "a library is a Go module path with an optional @version (example.com/mod@v1.2.3), fetched through GOPROXY into <workdir>/go.mod",
};

const ruby: LanguageHandler = {
  name: "ruby",
  aliases: ["rb"],
  image: "sandboxd/ruby:latest",
  imageDir: "ruby",
  plots: false,
  sourcePath: (_code, layout) => runFile(layout, ".rb"),
  // -e runs first: unbuffered stdout/stderr so output streams live; $0 is the program so
  // `if __FILE__ == $0` holds.
  run: (source, _layout, args) => ({ argv: ["ruby", "-e", "$stdout.sync = true; $stderr.sync = true; $0 = ARGV.shift; load $0", source, ...args] }),
  // --user-install: into ~/.local/share/gem (HOME is the workdir), which RubyGems searches.
  // No `--`: gem passes what follows it to extension builds; names cannot start with '-'.
  // Offline (unless the sandbox names a GEMRC, whose sources may be file:// ones), --local
  // --conservative: a gem already installed (the image's, or one installed before) is kept,
  // .gem files install, any other name fails at once ("Could not find a valid gem ... in
  // any repository") instead of after RubyGems' fetch of rubygems.org.
  install: (libraries, layout) => ({
    argv: [
      "gem",
      "install",
      "--no-document",
      "--user-install",
      ...(layout.offline && !layout.env?.["GEMRC"] ? ["--local", "--conservative"] : []),
      ...libraries,
    ],
  }),
  libraryPattern: gemName,
  libraryHint: "a library is a gem name with an optional :version (name:1.2.3) or the absolute path of a .gem in the sandbox",
};

/**
 * Installs into R_LIBS_USER; install.packages only warns on failure, so each is checked.
 * With SANDBOXD_OFFLINE set (no network, no R_REPOS), a name is never downloaded: one
 * already installed (the image's, or installed before) is kept, any other fails at once
 * instead of after install.packages' attempts to reach the repository.
 */
const rInstall = [
  "lib <- path.expand(Sys.getenv('R_LIBS_USER', '~/.R/library'))",
  "dir.create(lib, recursive = TRUE, showWarnings = FALSE)",
  ".libPaths(c(lib, .libPaths()))",
  "a <- commandArgs(TRUE)",
  "local <- startsWith(a, '/')",
  "offline <- nzchar(Sys.getenv('SANDBOXD_OFFLINE'))",
  "fetch <- !local & !(offline & nzchar(vapply(a, function(p) system.file(package = p), '')))",
  "if (offline && any(fetch)) { message('not installed, and not downloadable without network: ', paste(a[fetch], collapse = ', ')); quit(status = 1) }",
  "if (any(local)) install.packages(a[local], lib = lib, repos = NULL, type = 'source')",
  "if (any(fetch)) install.packages(a[fetch], lib = lib, repos = Sys.getenv('R_REPOS', 'https://cloud.r-project.org'))",
  "pkgs <- ifelse(local, sub('_.*$', '', basename(a)), a)",
  "ok <- vapply(pkgs, requireNamespace, logical(1), lib.loc = .libPaths(), quietly = TRUE)",
  "if (!all(ok)) { message('not installed: ', paste(pkgs[!ok], collapse = ', ')); quit(status = 1) }",
].join("; ");

const r: LanguageHandler = {
  name: "r",
  aliases: ["R"],
  image: "sandboxd/r:latest",
  imageDir: "r",
  plots: true,
  sourcePath: (_code, layout) => runFile(layout, ".R"),
  run: (source, _layout, args) => ({ argv: ["Rscript", source, ...args] }),
  install: (libraries, layout) => ({
    argv: ["Rscript", "-e", rInstall, ...libraries],
    ...(layout.offline && !layout.env?.["R_REPOS"] ? { env: { SANDBOXD_OFFLINE: "1" } } : {}),
  }),
  libraryPattern: rName,
  libraryHint: "a library is a CRAN package name (from R_REPOS) or the absolute path of a source package .tar.gz in the sandbox",
  // R expands ~ (HOME is the workdir) and puts the folder on .libPaths() once it exists.
  env: { R_LIBS_USER: "~/.R/library" },
};

const bash: LanguageHandler = {
  name: "bash",
  aliases: ["sh", "shell"],
  image: "sandboxd/base:latest",
  imageDir: "base",
  plots: false,
  sourcePath: (_code, layout) => runFile(layout, ".sh"),
  run: (source, _layout, args) => ({ argv: ["bash", source, ...args] }),
  libraryHint: "bash has no package manager: use a sandbox image built from a Dockerfile with the tools installed",
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
    const hint = handler.libraryHint ? `; ${handler.libraryHint}` : "";
    if (!handler.install || !handler.libraryPattern) {
      throw invalidArgument(`installing libraries is not supported for ${handler.name}${hint}`, { reason: "INSTALL_NOT_SUPPORTED" });
    }
    for (const lib of libraries) {
      if (lib.length > 200 || !handler.libraryPattern.test(lib)) {
        throw invalidArgument(`invalid library name for ${handler.name}: ${JSON.stringify(lib.slice(0, 200))}${hint}`, {
          reason: "INVALID_LIBRARY",
          metadata: { library: lib.slice(0, 200) },
        });
      }
    }
  }
}

export const builtinLanguages: readonly LanguageHandler[] = [python, javascript, typescript, java, cpp, go, ruby, r, bash];
