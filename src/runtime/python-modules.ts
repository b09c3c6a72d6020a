import { readFileSync } from "node:fs";

/**
 * Python programs that run inside a sandbox and share modules (the resident agent, the
 * session runners and their reaper) are sent on the process's stdin and loaded from there,
 * so nothing has to be written into the sandbox first (its root is read-only).
 */
export interface PythonModule {
  /** The module's name; the last module of a pack is the program and runs under it. */
  name: string;
  source: Uint8Array;
}

/** The /proc reader (src/agent/sandboxd_procfs.py) the agent and the session runners share. */
export const procfsModule: PythonModule = {
  name: "sandboxd_procfs",
  source: readFileSync(new URL("../agent/sandboxd_procfs.py", import.meta.url)),
};

/**
 * The Python fork server (src/agent/sandboxd_forkserver.py) as a module of one string,
 * `SOURCE`, which the agent runs with `python3 -u -c` (JSON's string syntax is Python's).
 */
export const forkServerSourceModule: PythonModule = {
  name: "sandboxd_forkserver_source",
  source: Buffer.from(`SOURCE = ${JSON.stringify(readFileSync(new URL("../agent/sandboxd_forkserver.py", import.meta.url), "utf8"))}\n`),
};

/**
 * `python3 -c <moduleLoader>` reads exactly one pack from stdin (see packModules): every
 * module but the last goes into `sys.modules` under its name, so that the last one, the
 * program, imports them. After the pack, stdin is the program's (the agent's frames).
 */
export const moduleLoader = [
  "import os, sys, types",
  "def r(n):",
  "    b = b''",
  "    while len(b) < n:",
  "        c = os.read(0, n - len(b))",
  "        if not c: raise SystemExit(3)",
  "        b += c",
  "    return b",
  "def u32(): return int.from_bytes(r(4), 'big')",
  "n = u32()",
  "for i in range(n):",
  "    name = r(u32()).decode()",
  "    m = types.ModuleType(name)",
  "    if i < n - 1: sys.modules[name] = m",
  "    exec(compile(r(u32()), name, 'exec'), m.__dict__)",
].join("\n");

/** `u32 count`, then each module as `u32 length | name | u32 length | source`. */
export function packModules(modules: readonly PythonModule[]): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const parts: Uint8Array[] = [u32(modules.length)];
  for (const m of modules) {
    const name = Buffer.from(m.name);
    parts.push(u32(name.length), name, u32(m.source.byteLength), m.source);
  }
  return Buffer.concat(parts);
}
