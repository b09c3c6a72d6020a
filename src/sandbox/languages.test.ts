import { describe, expect, it } from "vitest";
import { SandboxdError } from "../common/errors.js";
import { LanguageRegistry, builtinLanguages, javaClassName, javaPackage, type LanguageHandler } from "./languages.js";

const layout = { workdir: "/work", runDir: "/tmp/.sandboxd/runs/r1", runId: "r1" };

function refusal(fn: () => void): SandboxdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SandboxdError) return err;
    throw err;
  }
  throw new Error("expected a SandboxdError");
}

describe("LanguageRegistry", () => {
  it("registers a custom handler, found by name and alias, without touching the built-ins", () => {
    const registry = new LanguageRegistry();
    const lua: LanguageHandler = {
      name: "lua",
      aliases: ["Lua5"],
      image: "example/lua:5.4",
      imageDir: "lua",
      plots: false,
      sourcePath: (_code, l) => `${l.workdir}/main.lua`,
      run: (source, _l, args) => ({ argv: ["lua", source, ...args] }),
      install: (libraries) => ({ argv: ["luarocks", "install", "--local", ...libraries] }),
      libraryPattern: /^[a-z][a-z0-9-]*$/,
    };
    registry.register(lua);
    expect(registry.get("lua")).toBe(lua);
    expect(registry.get(" lua5 ")).toBe(lua);
    expect(registry.names()).toEqual([...builtinLanguages.map((h) => h.name), "lua"].sort());
    expect(registry.get("python").name).toBe("python");
    const source = lua.sourcePath("print(1)", layout);
    expect(lua.run(source, layout, ["a"]).argv).toEqual(["lua", "/work/main.lua", "a"]);
    expect(() => registry.validateLibraries(lua, ["penlight"])).not.toThrow();
    expect(refusal(() => registry.validateLibraries(lua, ["pen light"])).reason).toBe("INVALID_LIBRARY");
  });

  it("names the supported languages when one is unknown", () => {
    const err = refusal(() => new LanguageRegistry().get("cobol"));
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect(err.reason).toBe("LANGUAGE_NOT_SUPPORTED");
    expect(err.message).toBe('language "cobol" is not supported; supported: bash, cpp, go, java, javascript, python, r, ruby, typescript');
  });
});

describe("library names", () => {
  const registry = new LanguageRegistry();
  const valid: Record<string, string[]> = {
    python: ["numpy", "pandas==2.1.0", "requests[socks]>=2,<3", "/sandbox/pkgs/x-1.0-py3-none-any.whl"],
    javascript: ["left-pad", "@types/node@18", "lodash@^4.17.0", "/sandbox/pkgs/x-1.0.0.tgz"],
    typescript: ["zod", "/sandbox/pkgs/x-1.0.0.tgz"],
    java: ["/sandbox/pkgs/greet-1.0.jar"],
    cpp: ["/sandbox/pkgs/json-3.11.tar.gz", "/tmp/h.tgz", "/sandbox/h.tar"],
    go: ["github.com/google/uuid", "example.com/greet@v1.0.0", "golang.org/x/text@latest"],
    ruby: ["rake", "rake:13.0.6", "/sandbox/pkgs/x-1.0.0.gem"],
    r: ["data.table", "/sandbox/my_pkgs/x_1.0.tar.gz"],
  };
  const hostile = ["numpy; rm -rf /", "x && touch /tmp/p", "$(id)", "`id`", "-x", "--index-url=http://evil", "a\nb", "x|y", "x y"];

  for (const [language, names] of Object.entries(valid)) {
    it(`${language}: accepts package names and local packages, refuses shell syntax and options`, () => {
      const h = registry.get(language);
      expect(() => registry.validateLibraries(h, names)).not.toThrow();
      for (const name of hostile) {
        const err = refusal(() => registry.validateLibraries(h, [name]));
        expect(err.code).toBe("INVALID_ARGUMENT");
        expect(err.reason).toBe("INVALID_LIBRARY");
        expect(err.message).toContain(`invalid library name for ${h.name}: ${JSON.stringify(name)}; a library is`);
      }
    });

    it(`${language}: libraries reach the package manager as separate argv entries, never in a script`, () => {
      const h = registry.get(language);
      const cmd = h.install?.(names, { workdir: "/work" });
      expect(cmd).toBeDefined();
      expect(cmd?.argv.slice(-names.length)).toEqual(names);
      for (const arg of cmd?.argv.slice(0, -names.length) ?? []) for (const name of names) expect(arg).not.toContain(name);
    });
  }

  it("python and npm install offline (no index, no registry) in sandboxes without network", () => {
    const pip = registry.get("python");
    expect(pip.install?.(["numpy"], { workdir: "/work", offline: true }).argv).toContain("--no-index");
    expect(pip.install?.(["numpy"], { workdir: "/work" }).argv).not.toContain("--no-index");
    // An index the sandbox names (file:// works offline) is the user's choice.
    expect(pip.install?.(["x"], { workdir: "/work", offline: true, env: { PIP_INDEX_URL: "file:///sandbox/simple" } }).argv).not.toContain("--no-index");
    for (const language of ["javascript", "typescript"]) {
      const npm = registry.get(language);
      expect(npm.install?.(["left-pad"], { workdir: "/work", offline: true }).argv).toContain("--offline");
      expect(npm.install?.(["left-pad"], { workdir: "/work", offline: false }).argv).not.toContain("--offline");
    }
  });

  it("go, ruby and r install offline (no proxy, no rubygems.org, no CRAN) in sandboxes without network", () => {
    const go = registry.get("go");
    expect(go.install?.(["example.com/m@v1.0.0"], { workdir: "/work", offline: true }).env).toEqual({ GOPROXY: "off" });
    expect(go.install?.(["example.com/m"], { workdir: "/work" }).env).toBeUndefined();
    // A GOPROXY the sandbox names (file:// works offline) is the user's choice.
    expect(go.install?.(["example.com/m"], { workdir: "/work", offline: true, env: { GOPROXY: "file:///sandbox/goproxy" } }).env).toBeUndefined();
    const gem = registry.get("ruby");
    expect(gem.install?.(["rake"], { workdir: "/work", offline: true }).argv).toEqual(expect.arrayContaining(["--local", "--conservative"]));
    expect(gem.install?.(["rake"], { workdir: "/work" }).argv).not.toContain("--local");
    expect(gem.install?.(["rake"], { workdir: "/work", offline: true, env: { GEMRC: "/sandbox/gemrc" } }).argv).not.toContain("--local");
    const r = registry.get("r");
    expect(r.install?.(["ggplot2"], { workdir: "/work", offline: true }).env).toEqual({ SANDBOXD_OFFLINE: "1" });
    expect(r.install?.(["ggplot2"], { workdir: "/work" }).env).toBeUndefined();
    expect(r.install?.(["ggplot2"], { workdir: "/work", offline: true, env: { R_REPOS: "file:///sandbox/cran" } }).env).toBeUndefined();
  });

  it("java and cpp never download: a library is a file in the sandbox, a name is refused", () => {
    for (const [language, name] of [
      ["java", "org.json:json:20240303"],
      ["cpp", "fmt"],
    ] as const) {
      const err = refusal(() => registry.validateLibraries(registry.get(language), [name]));
      expect(err.reason).toBe("INVALID_LIBRARY");
    }
  });

  it("cpp: Debian package names are refused with the way to get them", () => {
    const err = refusal(() => registry.validateLibraries(registry.get("cpp"), ["libfmt-dev"]));
    expect(err.message).toMatch(/header archive|headers under include\//);
    expect(err.message).toContain("Dockerfile");
  });

  it("bash: any library is INSTALL_NOT_SUPPORTED; no libraries is fine", () => {
    const bash = registry.get("bash");
    const err = refusal(() => registry.validateLibraries(bash, ["jq"]));
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect(err.reason).toBe("INSTALL_NOT_SUPPORTED");
    expect(err.message).toMatch(/^installing libraries is not supported for bash; bash has no package manager/);
    expect(() => registry.validateLibraries(bash, [])).not.toThrow();
  });

  it("refuses overlong names", () => {
    expect(refusal(() => registry.validateLibraries(registry.get("python"), ["a".repeat(201)])).reason).toBe("INVALID_LIBRARY");
  });
});

describe("handlers", () => {
  const registry = new LanguageRegistry();

  it("java: the file is named after the public type, else the class with main; packages become folders", () => {
    expect(javaClassName("public class Main { public static void main(String[] a) {} }")).toBe("Main");
    expect(javaClassName("import java.util.*;\n\npublic final class Hello {\n}")).toBe("Hello");
    expect(javaClassName("public record Point(int x, int y) {}")).toBe("Point");
    expect(javaClassName("class Util {}\nclass Program {\n  public static void main(String[] args) {}\n}")).toBe("Program");
    expect(javaClassName('// public class Commented\nclass A { static String s = "public class B"; }')).toBe("Main");
    expect(javaPackage("package demo.app;\npublic class Tool {}")).toBe("demo.app");
    expect(javaPackage("public class Tool {}")).toBe("");

    const java = registry.get("java");
    const code = "package demo.app;\n\npublic class Tool {\n  public static void main(String[] a) {}\n}";
    const source = java.sourcePath(code, layout);
    expect(source).toBe("/tmp/.sandboxd/runs/r1/demo/app/Tool.java");
    expect(java.run(source, layout, ["x"]).argv).toEqual(["java", "-cp", "/tmp/.sandboxd/runs/r1:/work:/work/lib/*", "demo.app.Tool", "x"]);
    expect(java.compile?.(source, layout).argv).toEqual(["javac", "-d", "/tmp/.sandboxd/runs/r1", "-cp", "/work:/work/lib/*", source]);
  });

  it("typescript: source in the workdir, compiled into the run's folder, diagnostics on stderr", () => {
    const ts = registry.get("ts");
    const source = ts.sourcePath("let x = 1", layout);
    expect(source).toBe("/work/.sandboxd-r1.ts");
    const argv = ts.compile?.(source, layout).argv ?? [];
    expect(argv.slice(0, 4)).toEqual(["sh", "-c", 'exec tsc "$@" >&2', "tsc"]);
    expect(argv[argv.indexOf("--typeRoots") + 1]).toBe("/work/node_modules/@types,/usr/share/nodejs/@types");
    expect(argv[argv.indexOf("--outDir") + 1]).toBe(layout.runDir);
    expect(argv.at(-1)).toBe(source);
    expect(ts.run(source, layout, []).argv).toEqual(["node", "/tmp/.sandboxd/runs/r1/.sandboxd-r1.js"]);
  });

  it("cpp: compiles with the workdir for quoted includes and ~/.local/include for libraries", () => {
    const cpp = registry.get("c++");
    const argv = cpp.compile?.("/tmp/.sandboxd/runs/r1/main.cpp", layout).argv ?? [];
    expect(argv).toEqual(expect.arrayContaining(["-iquote", "/work", "-I", "/work/.local/include"]));
    expect(cpp.install?.(["/a.tgz"], { workdir: "/work" }).argv.slice(3)).toEqual(["sandboxd-install", "/work/.local", "/a.tgz"]);
  });

  it("go, r: caches and libraries do not depend on a fixed workdir path or on the image's env", () => {
    expect(registry.get("go").env).toMatchObject({ GOCACHE: "/tmp/go-cache", GOPATH: "/tmp/go" });
    expect(registry.get("r").env).toEqual({ R_LIBS_USER: "~/.R/library" });
    expect(registry.get("r").install?.(["x"], { workdir: "/elsewhere" }).env).toBeUndefined();
  });

  it("ruby: the program is $0, so `if __FILE__ == $0` holds", () => {
    const argv = registry.get("ruby").run("/work/p.rb", layout, ["a"]).argv;
    expect(argv).toEqual(["ruby", "-e", "$stdout.sync = true; $stderr.sync = true; $0 = ARGV.shift; load $0", "/work/p.rb", "a"]);
  });
});
