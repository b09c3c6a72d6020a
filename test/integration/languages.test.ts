import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { onKubernetes } from "../helpers/engine.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, NetworkMode, RunPhase, Stream, type RunEvent } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect, type Collected } from "../helpers/events.js";
import { freePort } from "../helpers/ports.js";
import {
  gemScript,
  goProxyModuleScript,
  headerArchiveScript,
  jarScript,
  makeWheelCode,
  npmTarballScript,
  rPackageScript,
  type PackageScript,
} from "../helpers/packages.js";

// Every language the daemon ships, each in its own sandbox of one shared daemon: hello,
// exact exit codes, compile errors (as the COMPILE phase, not a failed program), stdin,
// live output, and a library installed offline from a package the test builds in the
// sandbox, kept for later runs and not reinstalled.

let d: DaemonHandle;
/** The package index's port: the one host port bridged sandboxes of this daemon may reach. */
let indexPort = 0;

beforeAll(async () => {
  indexPort = await freePort();
  d = await startDaemon({ args: ["--network.host-allow-ports", String(indexPort)] });
});

afterAll(async () => {
  await d?.stop();
});

const stdinText = "line one\nzwei ü\n";
/** For tests that compile several times (tsc and javac take seconds of CPU each). */
const slow = 300_000;

interface Programs {
  language: string;
  /** Prints `hello from <language>\n`. */
  hello: string;
  /** Prints `bad\n` on stderr and exits 42. */
  fails: string;
  /** Copies stdin to stdout. */
  echo: string;
  /** Prints `first\n`, waits until the file exists, prints `second\n` (no explicit flush). */
  live: (gate: string) => string;
  compileError?: { code: string; message: RegExp };
}

const started = (r: Collected, phase: RunPhase) => r.events.some((e) => e.event.case === "started" && e.event.value.phase === phase);
const startedPhases = (r: Collected) => r.events.flatMap((e) => (e.event.case === "started" ? [e.event.value.phase] : []));

/** Runs a Run stream to its end; when `match` is given, the call must fail with that. */
async function rejected(run: Promise<unknown>, code: number, details: RegExp): Promise<void> {
  await expect(run).rejects.toMatchObject({ code, details: expect.stringMatching(details) });
}

async function shell(sandboxId: string, pkg: PackageScript | string): Promise<Collected> {
  const r = await collect(d.sandbox.exec({ sandboxId, shell: typeof pkg === "string" ? pkg : pkg.shell, timeoutMs: 110_000 }));
  expect({ exit: r.exit.exitCode, stderr: r.stderr }).toMatchObject({ exit: 0 });
  return r;
}

/**
 * The tests every language passes. Returns the sandbox id getter for language-specific
 * tests in the same describe.
 */
function languageBasics(p: Programs, spec: { env?: Record<string, string> } = {}): () => string {
  let sandboxId = "";
  const compiled = p.compileError !== undefined;

  beforeAll(async () => {
    // A generous deadline: tsc and javac take seconds of CPU, many times that on a loaded machine.
    const res = await d.sandbox.createSandbox({ spec: { language: p.language, env: spec.env ?? {}, executionTimeoutMs: 110_000 } });
    sandboxId = res.sandbox?.id ?? "";
  });

  afterAll(async () => {
    if (sandboxId) await d.sandbox.destroySandbox({ sandboxId });
  });

  it("runs hello world", async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: p.hello }));
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`hello from ${p.language}\n`);
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(0);
    expect(r.exit.phase).toBe(RunPhase.RUN);
  });

  it(`reports a program's exact exit code in the RUN phase${compiled ? " after it compiled" : ""}`, async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: p.fails }));
    expect(r.stderr).toBe("bad\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(42);
    expect(r.exit.phase).toBe(RunPhase.RUN);
    expect(startedPhases(r)).toEqual(compiled ? [RunPhase.COMPILE, RunPhase.RUN] : [RunPhase.RUN]);
  });

  if (p.compileError) {
    const { code, message } = p.compileError;
    it("ends a compile error in the COMPILE phase with the compiler's message on stderr", async () => {
      const r = await collect(d.sandbox.run({ sandboxId, code }));
      expect(r.exit.status).toBe(ExitStatus.EXITED);
      expect(r.exit.phase).toBe(RunPhase.COMPILE);
      expect(r.exit.exitCode).not.toBe(0);
      expect(r.exit.message).toBe("compilation failed");
      expect(r.stderr).toMatch(message);
      expect(started(r, RunPhase.RUN)).toBe(false);
      const phases = new Set(r.events.flatMap((e) => (e.event.case === "output" ? [e.event.value.phase] : [])));
      expect([...phases]).toEqual([RunPhase.COMPILE]);
    });
  }

  it("feeds stdin to the program", async () => {
    const r = await collect(d.sandbox.run({ sandboxId, code: p.echo, stdin: Buffer.from(stdinText) }));
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(stdinText);
    expect(r.exit.exitCode).toBe(0);
  });

  it("streams output live: the first line arrives before the second is written", async () => {
    // The program writes its second line only once the test, having received the first,
    // creates the gate file: output held back in a buffer would never arrive and time out.
    const gate = `/tmp/gate-${randomBytes(4).toString("hex")}`;
    const chunks: string[] = [];
    let opened = false;
    let exit: Extract<RunEvent["event"], { case: "exited" }>["value"] | undefined;
    for await (const { event } of d.sandbox.run({ sandboxId, code: p.live(gate), timeoutMs: 110_000 })) {
      const e = event?.event;
      if (e?.case === "output" && e.value.phase === RunPhase.RUN && e.value.stream === Stream.STDOUT) {
        chunks.push(Buffer.from(e.value.data).toString());
        if (!opened && chunks.join("").includes("first\n")) {
          expect(chunks.join("")).not.toContain("second");
          await shell(sandboxId, `touch ${gate}`);
          opened = true;
        }
      }
      if (e?.case === "exited") exit = e.value;
    }
    expect(opened).toBe(true);
    expect(chunks.join("")).toBe("first\nsecond\n");
    expect(exit?.status).toBe(ExitStatus.EXITED);
    expect(exit?.exitCode).toBe(0);
  });

  return () => sandboxId;
}

/**
 * Installs a library as part of a run, then proves it is kept: the same run again does not
 * install, and a run that does not list it still uses it.
 */
async function installAndKeep(sandboxId: string, library: string, code: string, expected: string): Promise<Collected> {
  const first = await collect(d.sandbox.run({ sandboxId, code, libraries: [library], timeoutMs: 110_000 }));
  expect(first.exit.phase, first.stderr).toBe(RunPhase.RUN);
  expect(first.exit.exitCode, first.stderr).toBe(0);
  expect(started(first, RunPhase.INSTALL)).toBe(true);
  expect(first.stdout).toContain(expected);
  const again = await collect(d.sandbox.run({ sandboxId, code, libraries: [library] }));
  expect(started(again, RunPhase.INSTALL)).toBe(false);
  expect(again.stdout).toBe(expected);
  const later = await collect(d.sandbox.run({ sandboxId, code }));
  expect(later.stdout).toBe(expected);
  expect(later.exit.exitCode).toBe(0);
  return first;
}

/** A hostile library name is refused before anything runs in the sandbox. */
async function refusesLibrary(sandboxId: string, library: string, details: RegExp): Promise<void> {
  const marker = `/tmp/pwned-${randomBytes(4).toString("hex")}`;
  const name = library.replaceAll("MARKER", marker);
  await rejected(collect(d.sandbox.run({ sandboxId, code: "x", libraries: [name] })), 3, details);
  await rejected(collect(d.sandbox.install({ sandboxId, libraries: [name] })), 3, details);
  const check = await collect(d.sandbox.exec({ sandboxId, argv: ["ls", "-a", "/tmp"] }));
  expect(check.stdout).not.toContain(marker.slice("/tmp/".length));
}

describe("python", () => {
  const id = languageBasics({
    language: "python",
    hello: 'print("hello from python")',
    fails: 'import sys\nprint("bad", file=sys.stderr)\nsys.exit(42)',
    echo: "import sys\nsys.stdout.write(sys.stdin.read())",
    live: (gate) => `import os, time\nprint("first")\nwhile not os.path.exists(${JSON.stringify(gate)}):\n    time.sleep(0.02)\nprint("second")`,
  });

  it("installs a wheel built in the sandbox with pip, offline", async () => {
    const wheel = (await collect(d.sandbox.run({ sandboxId: id(), code: makeWheelCode("sbx_greet", "1.0", "/sandbox/pkgs") }))).stdout.trim();
    const first = await installAndKeep(id(), wheel, "import sbx_greet\nprint(sbx_greet.hello())", "hello from the wheel\n");
    expect(first.stdout).toMatch(/Successfully installed sbx[-_]greet-1\.0/);
  });

  it("refuses a library name that is a shell command", async () => {
    await refusesLibrary(id(), "numpy; touch MARKER", /invalid library name for python: "numpy; touch .*PEP 508/);
    await refusesLibrary(id(), "numpy; rm -rf /", /invalid library name for python/);
    await refusesLibrary(id(), "--index-url=http://evil.example/simple", /invalid library name for python/);
  });
});

describe("javascript", () => {
  const id = languageBasics({
    language: "javascript",
    hello: 'console.log("hello from javascript");',
    fails: 'console.error("bad");\nprocess.exit(42);',
    echo: "process.stdin.pipe(process.stdout);",
    live: (gate) =>
      `const fs = require("fs");\nconsole.log("first");\nconst t = setInterval(() => {\n  if (fs.existsSync(${JSON.stringify(gate)})) {\n    clearInterval(t);\n    console.log("second");\n  }\n}, 20);`,
  });

  it("installs an npm tarball built in the sandbox, offline", async () => {
    const pkg = npmTarballScript("/sandbox/pkgs", "sbx-greet", "1.0.0", { "index.js": 'exports.hello = () => "hello from npm";' });
    await shell(id(), pkg);
    const first = await installAndKeep(id(), pkg.path, 'const { hello } = require("sbx-greet");\nconsole.log(hello());', "hello from npm\n");
    expect(first.stdout).toMatch(/added 1 package/);
  });

  it("refuses a library name that is a shell command", async () => {
    await refusesLibrary(id(), "left-pad && touch MARKER", /invalid library name for javascript: .*npm package spec/);
    await refusesLibrary(id(), "$(touch MARKER)", /invalid library name for javascript/);
  });
});

describe("typescript", () => {
  const id = languageBasics({
    language: "typescript",
    hello: 'const greeting: string = "hello from typescript";\nconsole.log(greeting);',
    fails: 'const code: number = 42;\nconsole.error("bad");\nprocess.exit(code);',
    echo: "process.stdin.pipe(process.stdout);",
    live: (gate) =>
      `import * as fs from "fs";\nconsole.log("first");\nconst t = setInterval(() => {\n  if (fs.existsSync(${JSON.stringify(gate)})) {\n    clearInterval(t);\n    console.log("second");\n  }\n}, 20);`,
    compileError: { code: 'const n: number = "not a number";\nconsole.log(n);', message: /error TS2322: Type 'string' is not assignable to type 'number'/ },
  });

  it(
    "installs an npm tarball with types; tsc checks against them",
    async () => {
      const pkg = npmTarballScript("/sandbox/pkgs", "sbx-typed", "1.0.0", {
        "index.js": 'exports.hello = () => "hello from typed npm";',
        "index.d.ts": "export declare function hello(): string;",
      });
      await shell(id(), pkg);
      await installAndKeep(id(), pkg.path, 'import { hello } from "sbx-typed";\nconst s: string = hello();\nconsole.log(s);', "hello from typed npm\n");
      // The package's declarations are what tsc checks: misuse is a compile error.
      const wrong = await collect(d.sandbox.run({ sandboxId: id(), code: 'import { hello } from "sbx-typed";\nconst n: number = hello();\nconsole.log(n);' }));
      expect(wrong.exit.phase).toBe(RunPhase.COMPILE);
      expect(wrong.stderr).toMatch(/TS2322/);
    },
    slow,
  );

  it(
    "uses node's types and imports a TypeScript file uploaded beside the code",
    async () => {
      await shell(id(), "printf 'export const twice = (n: number): number => n * 2;\\n' > /sandbox/util.ts");
      const r = await collect(
        d.sandbox.run({ sandboxId: id(), code: 'import { twice } from "./util";\nimport { platform } from "node:os";\nconsole.log(twice(21), platform());' }),
      );
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("42 linux\n");
    },
    slow,
  );
});

describe("java", () => {
  const id = languageBasics({
    language: "java",
    hello: 'public class Main {\n  public static void main(String[] args) {\n    System.out.println("hello from java");\n  }\n}',
    fails: 'public class Main {\n  public static void main(String[] args) {\n    System.err.println("bad");\n    System.exit(42);\n  }\n}',
    echo: "public class Main {\n  public static void main(String[] args) throws Exception {\n    System.in.transferTo(System.out);\n    System.out.flush();\n  }\n}",
    live: (gate) =>
      `public class Main {\n  public static void main(String[] args) throws Exception {\n    System.out.println("first");\n    while (!new java.io.File(${JSON.stringify(gate)}).exists()) Thread.sleep(20);\n    System.out.println("second");\n  }\n}`,
    compileError: {
      code: 'public class Main {\n  public static void main(String[] args) {\n    int n = "text";\n  }\n}',
      message: /error: incompatible types: String cannot be converted to int/,
    },
  });

  it(
    "runs a public class of any name, and code in a package",
    async () => {
      const hello = await collect(
        d.sandbox.run({
          sandboxId: id(),
          code: 'public class Hello {\n  public static void main(String[] args) {\n    System.out.println("from Hello");\n  }\n}',
        }),
      );
      expect(hello.stdout).toBe("from Hello\n");
      const plain = await collect(
        d.sandbox.run({
          sandboxId: id(),
          code: 'class Program {\n  public static void main(String[] args) {\n    System.out.println("no public class");\n  }\n}',
        }),
      );
      expect(plain.stderr).toBe("");
      expect(plain.stdout).toBe("no public class\n");
      const packaged = await collect(
        d.sandbox.run({
          sandboxId: id(),
          code: "package demo.app;\n\npublic final class Tool {\n  public static void main(String[] args) {\n    System.out.println(Tool.class.getName());\n  }\n}",
        }),
      );
      expect(packaged.stdout).toBe("demo.app.Tool\n");
    },
    slow,
  );

  it(
    "installs a jar built in the sandbox onto the classpath",
    async () => {
      const jar = jarScript("/sandbox/pkgs/greet-1.0.jar", {
        "greet/Greet.java": 'package greet;\n\npublic class Greet {\n  public static String hello() { return "hello from the jar"; }\n}',
      });
      await shell(id(), jar);
      const code = "import greet.Greet;\n\npublic class Main {\n  public static void main(String[] args) {\n    System.out.println(Greet.hello());\n  }\n}";
      const first = await installAndKeep(id(), jar.path, code, "hello from the jar\n");
      expect(first.stdout).toContain("/sandbox/lib/greet-1.0.jar");
    },
    slow,
  );

  it("refuses a library that is not a local jar", async () => {
    await refusesLibrary(id(), "com.google.guava:guava:33.0", /invalid library name for java: .*absolute path of a \.jar/);
    await refusesLibrary(id(), "/sandbox/x.jar; touch MARKER", /invalid library name for java/);
  });
});

describe("cpp", () => {
  const id = languageBasics({
    language: "cpp",
    hello: '#include <iostream>\n\nint main() {\n  std::cout << "hello from cpp" << std::endl;\n}',
    fails: '#include <cstdio>\n\nint main() {\n  std::fprintf(stderr, "bad\\n");\n  return 42;\n}',
    echo: "#include <iostream>\n\nint main() {\n  std::cout << std::cin.rdbuf();\n}",
    // No flush and no endl: line buffering (stdbuf) must deliver the line.
    live: (gate) =>
      `#include <iostream>\n#include <unistd.h>\n\nint main() {\n  std::cout << "first\\n";\n  while (access(${JSON.stringify(gate)}, F_OK) != 0) usleep(20000);\n  std::cout << "second\\n";\n}`,
    compileError: { code: "int main() {\n  undeclared_function();\n}", message: /error: ['‘]undeclared_function['’] was not declared in this scope/ },
  });

  it("installs a header-only library from a local archive and includes it", async () => {
    const lib = headerArchiveScript("/sandbox/pkgs/sbx-greet-1.0.tar.gz", {
      "sbx/greet.hpp": '#pragma once\n#include <string>\nnamespace sbx { inline std::string hello() { return "hello from the header"; } }',
    });
    await shell(id(), lib);
    const code = '#include <iostream>\n#include <sbx/greet.hpp>\n\nint main() {\n  std::cout << sbx::hello() << "\\n";\n}';
    const first = await installAndKeep(id(), lib.path, code, "hello from the header\n");
    expect(first.stdout).toContain("unpacked /sandbox/pkgs/sbx-greet-1.0.tar.gz into /sandbox/.local");
  });

  it("includes headers uploaded to the workdir", async () => {
    await shell(id(), "printf 'inline int answer() { return 42; }\\n' > /sandbox/answer.h");
    const r = await collect(
      d.sandbox.run({ sandboxId: id(), code: '#include <cstdio>\n#include "answer.h"\n\nint main() {\n  std::printf("%d\\n", answer());\n}' }),
    );
    expect(r.stdout).toBe("42\n");
  });

  it("an archive without include/ fails the install with a message", async () => {
    await shell(id(), "mkdir -p /tmp/flat && echo x > /tmp/flat/x.hpp && tar -C /tmp/flat -czf /sandbox/pkgs/flat.tgz x.hpp");
    const r = await collect(d.sandbox.run({ sandboxId: id(), code: "int main() {}", libraries: ["/sandbox/pkgs/flat.tgz"] }));
    expect(r.exit.phase).toBe(RunPhase.INSTALL);
    expect(r.exit.exitCode).not.toBe(0);
    expect(r.stderr).toContain("/sandbox/pkgs/flat.tgz: no include/ directory at the top of the archive");
  });

  it("refuses Debian package names with how to get them, and shell commands", async () => {
    await refusesLibrary(id(), "libfmt-dev", /invalid library name for cpp: "libfmt-dev".*header.*Dockerfile/);
    await refusesLibrary(id(), "/sandbox/a.tgz; touch MARKER", /invalid library name for cpp/);
  });
});

describe("go", () => {
  // Modules come from a file-system proxy the test lays out; a real one is GOPROXY's default.
  const id = languageBasics(
    {
      language: "go",
      hello: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello from go")\n}',
      fails: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tfmt.Fprintln(os.Stderr, "bad")\n\tos.Exit(42)\n}',
      echo: 'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\nfunc main() {\n\tio.Copy(os.Stdout, os.Stdin)\n}',
      live: (gate) =>
        `package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"time"\n)\n\nfunc main() {\n\tfmt.Println("first")\n\tfor {\n\t\tif _, err := os.Stat(${JSON.stringify(gate)}); err == nil {\n\t\t\tbreak\n\t\t}\n\t\ttime.Sleep(20 * time.Millisecond)\n\t}\n\tfmt.Println("second")\n}`,
      compileError: { code: "package main\n\nfunc main() {\n\tundefinedFunction()\n}", message: /undefined: undefinedFunction/ },
    },
    { env: { GOPROXY: "file:///sandbox/goproxy", GONOSUMDB: "example.com" } },
  );

  it("go gets a module from a local GOPROXY into the workdir's go.mod; later runs import it", async () => {
    const mod = goProxyModuleScript("/sandbox/goproxy", "example.com/greet", "v1.0.0", {
      "greet.go": 'package greet\n\nfunc Hello() string { return "hello from the module" }\n',
    });
    await shell(id(), mod);
    const code = 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\nfunc main() {\n\tfmt.Println(greet.Hello())\n}';
    const first = await installAndKeep(id(), "example.com/greet@v1.0.0", code, "hello from the module\n");
    expect(first.stderr).toContain("go: added example.com/greet v1.0.0");
    const gomod = await collect(d.sandbox.exec({ sandboxId: id(), argv: ["cat", "/sandbox/go.mod"] }));
    expect(gomod.stdout).toMatch(/require example\.com\/greet v1\.0\.0/);
  });

  it("refuses a library name that is a shell command", async () => {
    await refusesLibrary(id(), "example.com/x;touch MARKER", /invalid library name for go: .*module path/);
    await refusesLibrary(id(), "-toolexec=touch MARKER", /invalid library name for go/);
  });
});

describe("ruby", () => {
  const id = languageBasics({
    language: "ruby",
    hello: 'puts "hello from ruby"',
    fails: 'warn "bad"\nexit 42',
    echo: "$stdout.write($stdin.read)",
    live: (gate) => `puts "first"\nsleep 0.02 until File.exist?(${JSON.stringify(gate)})\nputs "second"`,
  });

  it("runs the main-script idiom", async () => {
    const r = await collect(d.sandbox.run({ sandboxId: id(), code: 'def main = puts("main ran")\nmain if __FILE__ == $PROGRAM_NAME' }));
    expect(r.stdout).toBe("main ran\n");
  });

  it("installs a gem built in the sandbox with gem build, offline", async () => {
    const gem = gemScript("/sandbox/pkgs", "sbx_greet", "1.0.0", { "lib/sbx_greet.rb": 'module SbxGreet\n  def self.hello = "hello from the gem"\nend' });
    await shell(id(), gem);
    const first = await installAndKeep(id(), gem.path, 'require "sbx_greet"\nputs SbxGreet.hello', "hello from the gem\n");
    expect(first.stdout).toContain("Successfully installed sbx_greet-1.0.0");
  });

  it("refuses a library name that is a shell command", async () => {
    await refusesLibrary(id(), "rake`touch MARKER`", /invalid library name for ruby: .*gem name/);
  });
});

describe("r", () => {
  const id = languageBasics({
    language: "r",
    hello: 'cat("hello from r\\n")',
    fails: 'message("bad")\nquit(status = 42)',
    echo: 'writeLines(readLines(file("stdin")))',
    live: (gate) => `cat("first\\n")\nwhile (!file.exists(${JSON.stringify(gate)})) Sys.sleep(0.02)\ncat("second\\n")`,
  });

  it("installs a source package built with R CMD build, offline", async () => {
    const pkg = rPackageScript("/sandbox/my_pkgs", "sbxgreet", "1.0", ["hello"], 'hello <- function() "hello from the R package"\n');
    await shell(id(), pkg);
    const first = await installAndKeep(id(), pkg.path, 'library(sbxgreet)\ncat(hello(), "\\n", sep = "")', "hello from the R package\n");
    expect(first.stderr).toContain("DONE (sbxgreet)");
    const where = await collect(d.sandbox.run({ sandboxId: id(), code: 'cat(find.package("sbxgreet"), "\\n", sep = "")' }));
    expect(where.stdout).toBe("/sandbox/.R/library/sbxgreet\n");
  });

  it("refuses a library name that is R code", async () => {
    await refusesLibrary(id(), "ggplot2'); system('touch MARKER", /invalid library name for r: .*CRAN package name/);
  });
});

describe("bash", () => {
  const id = languageBasics({
    language: "bash",
    hello: 'echo "hello from bash"',
    fails: "echo bad >&2\nexit 42",
    echo: "cat",
    live: (gate) => `echo first\nwhile [ ! -e ${gate} ]; do sleep 0.02; done\necho second`,
  });

  it("has no package manager: libraries are INVALID_ARGUMENT", async () => {
    await rejected(
      collect(d.sandbox.run({ sandboxId: id(), code: "echo never", libraries: ["jq"] })),
      3,
      /installing libraries is not supported for bash; bash has no package manager/,
    );
    await rejected(collect(d.sandbox.install({ sandboxId: id(), libraries: ["jq"] })), 3, /not supported for bash/);
    await rejected(collect(d.sandbox.run({ language: "bash", code: "echo never", libraries: ["jq"] })), 3, /not supported for bash/);
  });
});

// Bridged sandboxes are Docker's and Podman's (on Kubernetes the pod network is the cluster's, and closed).
describe.skipIf(onKubernetes)("egress: libraries by name from a package index (NETWORK_MODE_BRIDGE and the index in env)", () => {
  // A package index served by the test on the host, reached through the engine's bridge on
  // the one host port the daemon lets bridged sandboxes reach (--network.host-allow-ports):
  // what README's "Languages" section tells users to configure for a local mirror.
  const files = new Map<string, { body: Buffer; type: string }>();
  const requested: string[] = [];
  let server: Server;
  let port = 0;
  let gateway = "";
  const sandboxes: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requested.push(req.url ?? "");
      const f = files.get((req.url ?? "").split("?")[0] ?? "");
      if (!f) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": f.type, "content-length": f.body.byteLength }).end(f.body);
    });
    await new Promise<void>((resolve) => server.listen(indexPort, "0.0.0.0", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const sandboxId of sandboxes) await d.sandbox.destroySandbox({ sandboxId });
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A bridge-networked sandbox; the index's address is its default gateway (the host). */
  async function bridged(language: string, env: (base: string) => Record<string, string>): Promise<{ id: string; base: string }> {
    if (!gateway) {
      const probe = await d.sandbox.createSandbox({ spec: { language: "bash", network: NetworkMode.BRIDGE } });
      sandboxes.push(probe.sandbox!.id);
      const route = await shell(probe.sandbox!.id, "awk '$2 == \"00000000\" { print $3; exit }' /proc/net/route");
      const hex = route.stdout.trim();
      gateway = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");
    }
    const base = `http://${gateway}:${port}`;
    const res = await d.sandbox.createSandbox({ spec: { language, network: NetworkMode.BRIDGE, env: env(base), executionTimeoutMs: 110_000 } });
    sandboxes.push(res.sandbox!.id);
    return { id: res.sandbox!.id, base };
  }

  async function fetchFile(sandboxId: string, path: string): Promise<Buffer> {
    const r = await collect(d.sandbox.exec({ sandboxId, argv: ["base64", "-w0", path] }));
    expect(r.exit.exitCode).toBe(0);
    return Buffer.from(r.stdout, "base64");
  }

  it("python: pip installs by name from PIP_INDEX_URL", async () => {
    const { id, base } = await bridged("python", (b) => ({ PIP_INDEX_URL: `${b}/simple`, PIP_TRUSTED_HOST: gateway }));
    const wheel = (await collect(d.sandbox.run({ sandboxId: id, code: makeWheelCode("sbx_net", "1.0", "/tmp/build") }))).stdout.trim();
    const body = await fetchFile(id, wheel);
    const name = wheel.slice(wheel.lastIndexOf("/") + 1);
    files.set(`/files/${name}`, { body, type: "application/octet-stream" });
    const sha = createHash("sha256").update(body).digest("hex");
    files.set("/simple/sbx-net/", {
      body: Buffer.from(`<html><body><a href="${base}/files/${name}#sha256=${sha}">${name}</a></body></html>`),
      type: "text/html",
    });
    await installAndKeep(id, "sbx-net==1.0", "import sbx_net\nprint(sbx_net.hello())", "hello from the wheel\n");
    expect(requested).toContain("/simple/sbx-net/");
  });

  it("javascript: npm installs by name from NPM_CONFIG_REGISTRY", async () => {
    const { id, base } = await bridged("javascript", (b) => ({ NPM_CONFIG_REGISTRY: `${b}/npm/` }));
    const pkg = npmTarballScript("/tmp/build", "sbx-net", "1.0.0", { "index.js": 'exports.hello = () => "hello over npm";' });
    await shell(id, pkg);
    const body = await fetchFile(id, pkg.path);
    const tarball = `${base}/npm/sbx-net/-/sbx-net-1.0.0.tgz`;
    files.set("/npm/sbx-net/-/sbx-net-1.0.0.tgz", { body, type: "application/octet-stream" });
    const dist = { tarball, shasum: createHash("sha1").update(body).digest("hex"), integrity: `sha512-${createHash("sha512").update(body).digest("base64")}` };
    const packument = {
      name: "sbx-net",
      "dist-tags": { latest: "1.0.0" },
      versions: { "1.0.0": { name: "sbx-net", version: "1.0.0", main: "index.js", dist } },
    };
    files.set("/npm/sbx-net", { body: Buffer.from(JSON.stringify(packument)), type: "application/json" });
    await installAndKeep(id, "sbx-net@^1.0.0", 'console.log(require("sbx-net").hello());', "hello over npm\n");
    expect(requested).toContain("/npm/sbx-net");
  });

  it("go: go get fetches from GOPROXY", async () => {
    const { id } = await bridged("go", (b) => ({ GOPROXY: `${b}/goproxy`, GONOSUMDB: "example.com" }));
    const mod = goProxyModuleScript("/tmp/goproxy", "example.com/net", "v1.0.0", {
      "net.go": 'package net\n\nfunc Hello() string { return "hello over goproxy" }\n',
    });
    await shell(id, mod);
    for (const f of ["list", "v1.0.0.info", "v1.0.0.mod", "v1.0.0.zip"]) {
      files.set(`/goproxy/example.com/net/@v/${f}`, { body: await fetchFile(id, `${mod.path}/${f}`), type: "application/octet-stream" });
    }
    const code = 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/net"\n)\n\nfunc main() {\n\tfmt.Println(net.Hello())\n}';
    await installAndKeep(id, "example.com/net@v1.0.0", code, "hello over goproxy\n");
    expect(requested).toContain("/goproxy/example.com/net/@v/v1.0.0.zip");
  });

  it("r: install.packages by name from R_REPOS", async () => {
    const { id } = await bridged("r", (b) => ({ R_REPOS: `${b}/cran` }));
    const pkg = rPackageScript("/tmp/build", "sbxnet", "1.0", ["hello"], 'hello <- function() "hello over cran"\n');
    await shell(id, pkg);
    files.set("/cran/src/contrib/sbxnet_1.0.tar.gz", { body: await fetchFile(id, pkg.path), type: "application/x-gzip" });
    const index = Buffer.from("Package: sbxnet\nVersion: 1.0\nNeedsCompilation: no\n\n");
    files.set("/cran/src/contrib/PACKAGES", { body: index, type: "text/plain" });
    files.set("/cran/src/contrib/PACKAGES.gz", { body: gzipSync(index), type: "application/x-gzip" });
    await installAndKeep(id, "sbxnet", 'library(sbxnet)\ncat(hello(), "\\n", sep = "")', "hello over cran\n");
    expect(requested).toContain("/cran/src/contrib/sbxnet_1.0.tar.gz");
  });
});
