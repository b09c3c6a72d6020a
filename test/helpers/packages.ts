/**
 * Python code that builds a tiny wheel inside the sandbox (no network, no build tools):
 * a wheel is a zip with the module and its dist-info. Used to test installs offline.
 */
export function makeWheelCode(name: string, version: string, dir: string, body = "def hello():\n    return 'hello from the wheel'\n"): string {
  const dist = `${name}-${version}.dist-info`;
  const whl = `${dir}/${name}-${version}-py3-none-any.whl`;
  return [
    "import os, zipfile",
    `os.makedirs(${JSON.stringify(dir)}, exist_ok=True)`,
    `with zipfile.ZipFile(${JSON.stringify(whl)}, 'w') as z:`,
    `    z.writestr(${JSON.stringify(`${name}/__init__.py`)}, ${JSON.stringify(body)})`,
    `    z.writestr(${JSON.stringify(`${dist}/METADATA`)}, ${JSON.stringify(`Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`)})`,
    `    z.writestr(${JSON.stringify(`${dist}/WHEEL`)}, 'Wheel-Version: 1.0\\nGenerator: sandboxd-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')`,
    `    z.writestr(${JSON.stringify(`${dist}/RECORD`)}, '')`,
    `print(${JSON.stringify(whl)})`,
  ].join("\n");
}

/**
 * The shell scripts below build a tiny local package of each kind inside a sandbox, with
 * the tools its image carries and no network. Each returns the script (for Exec's `shell`,
 * run by /bin/sh) and the path of the package it leaves behind.
 */
export interface PackageScript {
  shell: string;
  path: string;
}

const eof = "SANDBOXD_TEST_EOF";

/** Shell lines writing files below a directory (paths relative to it). */
function writeFiles(root: string, files: Record<string, string>): string[] {
  return Object.entries(files).flatMap(([rel, content]) => {
    const path = `${root}/${rel}`;
    return [`mkdir -p "$(dirname "${path}")"`, `cat > "${path}" <<'${eof}'`, content.replace(/\n$/, ""), eof];
  });
}

function script(lines: string[]): string {
  return ["set -e", ...lines].join("\n");
}

/** An npm package tarball (`package/` inside, as `npm pack` makes it), built with tar. */
export function npmTarballScript(dir: string, name: string, version: string, files: Record<string, string>): PackageScript {
  const path = `${dir}/${name}-${version}.tgz`;
  const manifest = JSON.stringify({ name, version, main: "index.js", ...("index.d.ts" in files ? { types: "index.d.ts" } : {}) });
  return {
    path,
    shell: script([
      "b=$(mktemp -d)",
      ...writeFiles("$b/package", { "package.json": manifest, ...files }),
      `mkdir -p "${dir}"`,
      `tar -C "$b" -czf "${path}" package`,
    ]),
  };
}

/** A gem built by `gem build` from a generated gemspec; `files` are relative to the gem root. */
export function gemScript(dir: string, name: string, version: string, files: Record<string, string>): PackageScript {
  const path = `${dir}/${name}-${version}.gem`;
  const gemspec = [
    "Gem::Specification.new do |s|",
    `  s.name = ${JSON.stringify(name)}`,
    `  s.version = ${JSON.stringify(version)}`,
    '  s.summary = "sandboxd test gem"',
    '  s.authors = ["sandboxd"]',
    '  s.license = "MIT"',
    `  s.files = ${JSON.stringify(Object.keys(files))}`,
    "end",
  ].join("\n");
  return {
    path,
    shell: script([
      "b=$(mktemp -d)",
      ...writeFiles("$b", { [`${name}.gemspec`]: gemspec, ...files }),
      `mkdir -p "${dir}"`,
      `cd "$b"`,
      `gem build "${name}.gemspec" --output "${path}"`,
    ]),
  };
}

/** An R source package (`R CMD build`) exporting the functions defined in `code`. */
export function rPackageScript(dir: string, name: string, version: string, exports: readonly string[], code: string): PackageScript {
  const path = `${dir}/${name}_${version}.tar.gz`;
  const description = [
    `Package: ${name}`,
    `Version: ${version}`,
    "Title: A sandboxd Test Package",
    "Description: Built inside a sandbox for an offline install test.",
    "License: MIT",
    'Authors@R: person("Sandbox", "Daemon", email = "sandboxd@example.com", role = c("aut", "cre"))',
  ].join("\n");
  const namespace = exports.map((f) => `export(${f})`).join("\n");
  return {
    path,
    shell: script([
      "b=$(mktemp -d)",
      ...writeFiles(`$b/${name}`, { DESCRIPTION: description, NAMESPACE: namespace, [`R/${name}.R`]: code }),
      `mkdir -p "${dir}"`,
      `cd "${dir}"`,
      `R CMD build --no-build-vignettes --no-manual "$b/${name}"`,
    ]),
  };
}

/**
 * A Go module served by a file-system GOPROXY (`GOPROXY=file://<proxyDir>`): the
 * `<module>/@v/` folder with list, .info, .mod and the module .zip (made with the
 * sandbox's python3, which every image carries for the agent). Module paths must be
 * lower case (no case-encoding here).
 */
export function goProxyModuleScript(proxyDir: string, module: string, version: string, files: Record<string, string>): PackageScript {
  const at = `${proxyDir}/${module}/@v`;
  const gomod = `module ${module}\n\ngo 1.19\n`;
  const zip = [
    "import os, sys, zipfile",
    "src, prefix, out = sys.argv[1:]",
    "with zipfile.ZipFile(out, 'w') as z:",
    "    for root, _, names in os.walk(src):",
    "        for n in names:",
    "            p = os.path.join(root, n)",
    "            z.write(p, prefix + '/' + os.path.relpath(p, src))",
  ].join("\n");
  return {
    path: at,
    shell: script([
      "b=$(mktemp -d)",
      ...writeFiles("$b/src", { "go.mod": gomod, ...files }),
      ...writeFiles("$b", { "zip.py": zip }),
      `mkdir -p "${at}"`,
      `cp "$b/src/go.mod" "${at}/${version}.mod"`,
      `echo '${JSON.stringify({ Version: version, Time: "2024-01-01T00:00:00Z" })}' > "${at}/${version}.info"`,
      `echo "${version}" >> "${at}/list"`,
      `python3 "$b/zip.py" "$b/src" "${module}@${version}" "${at}/${version}.zip"`,
    ]),
  };
}

/** A .jar compiled with javac from `sources` (paths by package, e.g. greet/Greet.java). */
export function jarScript(path: string, sources: Record<string, string>): PackageScript {
  return {
    path,
    shell: script([
      "b=$(mktemp -d)",
      ...writeFiles("$b/src", sources),
      `javac -d "$b/classes" ${Object.keys(sources)
        .map((s) => `"$b/src/${s}"`)
        .join(" ")}`,
      `mkdir -p "$(dirname "${path}")"`,
      `jar cf "${path}" -C "$b/classes" .`,
    ]),
  };
}

/** A header-only C++ library archive laid out as a prefix: include/<headers>. */
export function headerArchiveScript(path: string, headers: Record<string, string>): PackageScript {
  return {
    path,
    shell: script(["b=$(mktemp -d)", ...writeFiles("$b/include", headers), `mkdir -p "$(dirname "${path}")"`, `tar -C "$b" -czf "${path}" include`]),
  };
}
