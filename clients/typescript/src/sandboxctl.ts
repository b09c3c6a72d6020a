#!/usr/bin/env node
/**
 * sandboxctl: sandboxd from a terminal or a script. Human-readable by default, `--json`
 * for scripts; `run` and `exec` stream output live and pass the exit code through.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { createClient, type BuiltImage, type SandboxdClient } from "./client.js";
import { SandboxdError } from "./errors.js";
import {
  ExitStatus,
  NetworkMode,
  RunPhase,
  SandboxState,
  Stream,
  type DisplayData,
  type RunEvent,
  type Sandbox as SandboxInfo,
  type SandboxUsage,
} from "./gen/sandboxd/v1/common_pb.js";
import { FileEventType, TransferKind } from "./gen/sandboxd/v1/sandbox_service_pb.js";
import type { Volume } from "./gen/sandboxd/v1/volume_service_pb.js";
import type { RunOptions } from "./client.js";
import type { Execution, RunResult } from "./run.js";

const USAGE = `usage: sandboxctl [--address HOST:PORT] [--token T] [--json] <command> ...
       sandboxctl --version

  run FILE [--lang L] [--sandbox ID] [--timeout SEC] [--lib PKG]... [-- ARGS...]
                         run a file (ephemeral sandbox unless --sandbox); live output, exit code passed through;
                         FILE - reads the code from stdin
  exec ID [--workdir D] [--env K=V]... [--timeout SEC] -- CMD [ARGS...]
  exec ID --sh 'LINE'    run a command in a sandbox
  create [--lang L] [--image I | --dockerfile PATH] [--label K=V]...
                         create a sandbox, print its id; --dockerfile builds PATH first, as build
  --allow-host H, --allow-cidr C, --allow-port P (each repeatable; create, and run without --sandbox)
                         egress allow-list (NETWORK_MODE_ALLOW_LIST): the sandbox reaches only
                         these hosts (*.domain wildcards), CIDRs and ports (default 80, 443)
                         through the daemon's egress proxy
  build PATH             build a Dockerfile (PATH: the file, or a folder holding a Dockerfile;
                         the files beside it are the context), its output live on stderr; prints
                         the image (for create --image); builds have no network unless the
                         daemon allows it (--network.build default)
  get ID                 a sandbox's state, image, labels, expiry
  ls [--label K=V]...    list sandboxes
  logs RUN_ID            a run's output from its start, then live until it ends; its exit code
                         (Ctrl-C stops following; the run goes on)
  attach RUN_ID          as logs, and stdin (when not a terminal) goes to the run
  rm ID...               destroy sandboxes
  pause ID...            freeze sandboxes' processes (Docker, Podman); they keep files and processes
  resume ID...           thaw paused sandboxes
  shell ID [--shell /bin/bash]   a terminal in the sandbox (a real pseudo-terminal: raw mode,
                         resizes follow, exit code passed through); with piped input or
                         --session: a persistent shell session, a command line at a time
  exec -it ID -- CMD [ARGS...]   CMD on a terminal in the sandbox (vim, top, python3 REPL)
  repl ID | repl --lang python   interactive IPython session
  cp SRC DEST            copy files; one side is ID:/path (directories as tar)
  artifacts ID [--out DIR]       list plots and other artifacts; --out downloads them
  volume create NAME [--size BYTES]   create a named volume (the size is recorded, not enforced)
  volume list | volume get NAME | volume delete NAME...
                         this tenant's volumes; mount one with create --volume NAME:PATH[:ro],
                         an allow-listed host directory with create --volume /HOST/DIR:PATH[:rw]
  stats ID [--watch] [--interval MS]
                         memory (now, peak, limit), CPU time, processes and the used bytes of
                         the writable paths; --watch: a line every interval until the sandbox goes
  watch-files ID [PATH] [-r]     changes under PATH (default: the workdir; -r: and below) as they
                         happen, a line each (TYPE PATH, or RENAME OLD -> NEW), until Ctrl-C

run, exec and attach pass stdin to the program when it is not a terminal; Ctrl-C ends the
run (exit 130). --json: one JSON event a line for runs, then a "result" line.
cp ID:/path - writes the file (a directory as tar) to stdout.

environment: SANDBOXD_ADDRESS, SANDBOXD_TOKEN`;

const extensions: Record<string, string> = {
  ".py": "python",
  ".js": "javascript",
  ".mjs": "javascript",
  ".ts": "typescript",
  ".java": "java",
  ".cpp": "cpp",
  ".cc": "cpp",
  ".go": "go",
  ".rb": "ruby",
  ".r": "r",
  ".R": "r",
  ".sh": "bash",
};

class UsageError extends Error {}
/** Ctrl-C ended the command (exit 130). */
class Interrupted extends Error {}

interface Globals {
  json: boolean;
  client: SandboxdClient;
}

function kv(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const at = item.indexOf("=");
    if (at <= 0) throw new UsageError(`expected KEY=VALUE, got ${JSON.stringify(item)}`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

function print(g: Globals, value: unknown, human: () => string): void {
  process.stdout.write(
    g.json
      ? `${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v))}\n`
      : human(),
  );
}

/** A shell's exit code for how a run ended: 128+signal when killed, 124 on timeout (as timeout(1)). */
function exitCodeOf(r: RunResult): number {
  if (r.status === "EXITED") return r.exitCode;
  if (r.status === "TIMEOUT") return 124;
  if (r.status === "KILLED" || r.status === "OOM") return 128 + (r.signal || 9);
  if (r.status === "CANCELLED") return 130;
  return 1;
}

/** What a run needs from this process: stdin to forward, the user's file name, Ctrl-C. */
interface Follow {
  /** Forward this process's stdin to the run (started with keepStdinOpen). */
  stdin?: boolean;
  /** The user's name for the code file: the daemon's name for it is replaced in stderr. */
  fileName?: string;
  /** Aborted by Ctrl-C. */
  signal?: AbortSignal;
  /** What Ctrl-C did, on stderr. */
  interrupted?: string;
}

/** The daemon's name for a run's code file (languages.ts: <workdir>/.sandboxd-<runId><ext>). */
const sourcePathPattern = /(?:\/[^\s"':]*)?\/\.sandboxd-[A-Za-z0-9_-]+\.[a-z]+/g;

/**
 * Rewrites stderr so tracebacks name the user's file. Output is passed on at once, except a
 * trailing piece that may be the start of a path (held until the next chunk or the end).
 */
export function sourceNameRewriter(fileName: string, write: (text: string) => void): { push(text: string): void; end(): void } {
  let carry = "";
  return {
    push(text) {
      const all = carry + text;
      const tail = /(?:\/[^\s"':]*)$/.exec(all);
      const cut = tail ? tail.index : all.length;
      carry = all.slice(cut);
      if (cut > 0) write(all.slice(0, cut).replace(sourcePathPattern, fileName));
    },
    end() {
      if (carry) write(carry.replace(sourcePathPattern, fileName));
      carry = "";
    },
  };
}

/** A RunEvent as one JSON line: the oneof's case names the event. */
function eventJson(ev: RunEvent): Record<string, unknown> {
  const e = ev.event;
  const base: Record<string, unknown> = { seq: Number(ev.seq) };
  switch (e.case) {
    case "output":
      return {
        ...base,
        type: "output",
        stream: e.value.stream === Stream.STDERR ? "stderr" : "stdout",
        phase: RunPhase[e.value.phase] ?? "UNSPECIFIED",
        text: new TextDecoder().decode(e.value.data),
      };
    case "exited":
      return {
        ...base,
        type: "exited",
        status: ExitStatus[e.value.status] ?? "UNSPECIFIED",
        exitCode: e.value.exitCode,
        signal: e.value.signal,
        durationMs: Number(e.value.durationMs),
        phase: RunPhase[e.value.phase] ?? "UNSPECIFIED",
        truncated: e.value.truncated,
        message: e.value.message,
        ...(e.value.usageMeasured ? { peakMemoryBytes: Number(e.value.peakMemoryBytes), cpuTimeMs: Number(e.value.cpuTimeMs) } : {}),
      };
    case "started":
      return {
        ...base,
        type: "started",
        runId: e.value.runId,
        sandboxId: e.value.sandboxId,
        pid: e.value.pid,
        phase: RunPhase[e.value.phase] ?? "UNSPECIFIED",
      };
    case "artifact":
      return { ...base, type: "artifact", id: e.value.id, name: e.value.name, format: e.value.format, size: Number(e.value.size) };
    case undefined:
      return { ...base, type: "unknown" };
    default:
      return { ...base, type: e.case, ...(toJson(e.value) as Record<string, unknown>) };
  }
}

function toJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (k, v: unknown) =>
      k === "$typeName" ? undefined : typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v,
    ),
  ) as unknown;
}

/** Copies this process's stdin into the run, then closes the run's stdin. */
async function forwardStdin(g: Globals, runId: string, done: AbortSignal): Promise<void> {
  try {
    for await (const chunk of process.stdin) {
      if (done.aborted) return;
      await g.client.writeInput(runId, chunk as Buffer);
    }
    if (!done.aborted) await g.client.writeInput(runId, new Uint8Array(), true);
  } catch {
    // the run ended first (it did not read all of its input): nothing to report
  }
}

/**
 * Streams a run to this terminal (with --json, one JSON event a line) and returns its exit
 * code. A failed install shows the installer's output; Ctrl-C ends the run and gives 130.
 */
async function follow(g: Globals, start: (o: RunOptions) => Execution, f: Follow = {}): Promise<number> {
  const install: Uint8Array[] = [];
  const finished = new AbortController();
  let stdinDone: Promise<void> = Promise.resolve();
  const err = f.fileName ? sourceNameRewriter(f.fileName, (t) => void process.stderr.write(t)) : null;
  const options: RunOptions = {
    ...(f.signal ? { signal: f.signal } : {}),
    ...(f.stdin ? { keepStdinOpen: true } : {}),
    onEvent: (ev) => {
      const e = ev.event;
      if (g.json) process.stdout.write(`${JSON.stringify(eventJson(ev))}\n`);
      if (e.case === "started" && f.stdin) stdinDone = forwardStdin(g, e.value.runId, finished.signal);
      if (e.case === "output" && e.value.phase === RunPhase.INSTALL) install.push(e.value.data);
    },
    ...(g.json
      ? {}
      : {
          onStdout: (_t: string, d: Uint8Array) => void process.stdout.write(d),
          onStderr: (t: string, d: Uint8Array) => (err ? err.push(t) : void process.stderr.write(d)),
        }),
  };
  let r: RunResult;
  try {
    r = await start(options).result();
  } catch (e) {
    if (f.signal?.aborted) {
      err?.end();
      process.stderr.write(`sandboxctl: ${f.interrupted ?? "interrupted"}\n`);
      return 130;
    }
    throw e;
  } finally {
    finished.abort();
    if (f.stdin) process.stdin.destroy();
  }
  err?.end();
  await stdinDone;
  if (g.json) {
    print(
      g,
      {
        type: "result",
        runId: r.runId,
        status: r.status,
        exitCode: r.exitCode,
        signal: r.signal,
        durationMs: r.durationMs,
        phase: r.phase,
        message: r.message,
        stdout: r.stdout,
        stderr: r.stderr,
        truncated: r.truncated,
        artifacts: r.artifacts.map((a) => ({ id: a.id, name: a.name, format: a.format })),
      },
      () => "",
    );
  } else {
    if (r.phase === "INSTALL" && !(r.status === "EXITED" && r.exitCode === 0)) {
      const text = Buffer.concat(install).toString("utf8");
      if (text) process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
      const how = `${r.status}${r.status === "EXITED" ? ` ${r.exitCode}` : ""}`;
      process.stderr.write(`sandboxctl: ${r.message ? `${r.message} (${how})` : `installing libraries failed (${how})`}\n`);
    } else if (r.status !== "EXITED") {
      process.stderr.write(`sandboxctl: run ${r.runId} ended ${r.status}${r.message ? `: ${r.message}` : ""}\n`);
    }
  }
  const code = exitCodeOf(r);
  // An install that failed with exit 0 would otherwise look like success.
  return r.phase === "INSTALL" && code === 0 ? 1 : code;
}

function liveCallbacks(g: Globals) {
  return g.json
    ? {}
    : { onStdout: (_t: string, d: Uint8Array) => void process.stdout.write(d), onStderr: (_t: string, d: Uint8Array) => void process.stderr.write(d) };
}

function interruptible(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSig = () => controller.abort(new Error("interrupted"));
  process.once("SIGINT", onSig);
  return { signal: controller.signal, dispose: () => process.off("SIGINT", onSig) };
}

/** Forward stdin only when it is not a terminal (a pipe or a file). */
const stdinIsData = () => !process.stdin.isTTY;

const egressOptions = {
  "allow-host": { type: "string", multiple: true },
  "allow-cidr": { type: "string", multiple: true },
  "allow-port": { type: "string", multiple: true },
} as const;

/** The network part of a spec from --allow-host/--allow-cidr/--allow-port; empty when none is given. */
function egressSpec(values: { "allow-host"?: string[]; "allow-cidr"?: string[]; "allow-port"?: string[] }): {
  network?: NetworkMode;
  egress?: { hosts: string[]; cidrs: string[]; ports: number[] };
} {
  const hosts = values["allow-host"] ?? [];
  const cidrs = values["allow-cidr"] ?? [];
  const ports = (values["allow-port"] ?? []).map((p) => {
    if (!/^\d{1,5}$/.test(p)) throw new UsageError(`--allow-port ${p}: not a port number`);
    return Number(p);
  });
  if (hosts.length + cidrs.length + ports.length === 0) return {};
  return { network: NetworkMode.ALLOW_LIST, egress: { hosts, cidrs, ports } };
}

async function cmdRun(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      lang: { type: "string" },
      sandbox: { type: "string" },
      timeout: { type: "string" },
      lib: { type: "string", multiple: true },
      env: { type: "string", multiple: true },
      ...egressOptions,
    },
  });
  const [file, ...args] = positionals;
  const egress = egressSpec(values);
  if (values.sandbox && Object.keys(egress).length > 0) throw new UsageError("--allow-* sets up a new sandbox's network; not with --sandbox");
  if (!file) throw new UsageError("run needs a FILE");
  const code = readFileSync(file === "-" ? 0 : file, "utf8");
  const language = values.lang ?? extensions[extname(file)] ?? "";
  const stop = interruptible();
  try {
    const base = {
      args,
      libraries: values.lib ?? [],
      env: kv(values.env),
      ...(values.timeout ? { runTimeoutMs: Math.round(Number(values.timeout) * 1000) } : {}),
    };
    // `run -` reads the code from stdin, so stdin is not the program's then.
    const f: Follow = { signal: stop.signal, stdin: file !== "-" && stdinIsData(), ...(file !== "-" ? { fileName: file } : {}) };
    if (values.sandbox) {
      const sandbox = await g.client.getSandbox(values.sandbox);
      return await follow(g, (o) => sandbox.run(code, { ...base, ...o }), f);
    }
    if (!language) throw new UsageError(`cannot tell the language of ${file}; pass --lang`);
    const spec = Object.keys(egress).length > 0 ? { spec: { language, ...egress } } : {};
    return await follow(g, (o) => g.client.runEphemeral(language, code, { ...base, ...spec, ...o }), f);
  } finally {
    stop.dispose();
  }
}

/**
 * A terminal in the sandbox on this one: keys go there as typed (raw mode: Ctrl-C, arrows,
 * line editing are the remote program's), its screen comes here, window resizes follow,
 * and its exit code is ours. The local terminal is restored however it ends.
 */
async function runTerminal(g: Globals, sandboxId: string, options: { argv: string[]; env: Record<string, string>; cwd?: string }): Promise<number> {
  const input = process.stdin;
  const output = process.stdout;
  const size = () => ({ rows: output.rows || 24, cols: output.columns || 80 });
  const term = await g.client.openTerminal(sandboxId, {
    argv: options.argv,
    env: options.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...size(),
    onOutput: (data) => output.write(data),
  });
  const raw = input.isTTY === true;
  const onData = (d: Buffer) => term.write(d);
  // Piped input: its end is an end of input on the terminal (Ctrl-D).
  const onEnd = () => term.write("\x04");
  const onResize = () => {
    const s = size();
    term.resize(s.rows, s.cols);
  };
  try {
    if (raw) input.setRawMode(true);
    input.on("data", onData);
    input.on("end", onEnd);
    input.resume();
    // Node reports the local terminal's SIGWINCH as 'resize' on a TTY stdout.
    output.on("resize", onResize);
    const exit = await term.wait();
    if (exit.status === "EXITED") return exit.exitCode;
    if (exit.signal > 0) return 128 + exit.signal;
    process.stderr.write(`sandboxctl: the terminal ended: ${exit.status}${exit.message ? `: ${exit.message}` : ""}\n`);
    return 1;
  } finally {
    output.off("resize", onResize);
    input.off("data", onData);
    input.off("end", onEnd);
    if (raw) input.setRawMode(false);
    input.pause();
  }
}

async function cmdExec(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      workdir: { type: "string" },
      env: { type: "string", multiple: true },
      timeout: { type: "string" },
      sh: { type: "string" },
      interactive: { type: "boolean", short: "i" },
      tty: { type: "boolean", short: "t" },
    },
  });
  const [id, ...command] = positionals;
  if (!id || (command.length === 0 && !values.sh)) throw new UsageError("exec needs ID and a command (after --) or --sh");
  if (values.tty) {
    return runTerminal(g, id, {
      argv: values.sh ? ["/bin/sh", "-c", values.sh] : command,
      env: kv(values.env),
      ...(values.workdir ? { cwd: values.workdir } : {}),
    });
  }
  const sandbox = await g.client.getSandbox(id);
  const stop = interruptible();
  try {
    const options = {
      env: kv(values.env),
      ...(values.workdir ? { workdir: values.workdir } : {}),
      ...(values.timeout ? { runTimeoutMs: Math.round(Number(values.timeout) * 1000) } : {}),
    };
    return await follow(g, (o) => sandbox.exec(values.sh ?? command, { ...options, ...o }), { signal: stop.signal, stdin: stdinIsData() });
  } finally {
    stop.dispose();
  }
}

function summary(s: SandboxInfo) {
  return {
    id: s.id,
    language: s.spec?.language ?? "",
    state: SandboxState[s.state] ?? "UNSPECIFIED",
    image: s.image,
    labels: s.spec?.labels ?? {},
    createdAt: s.createdAt ? new Date(Number(s.createdAt.seconds) * 1000).toISOString() : "",
    expiresAt: s.expiresAt ? new Date(Number(s.expiresAt.seconds) * 1000).toISOString() : "",
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

async function cmdCreate(g: Globals, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      lang: { type: "string", default: "python" },
      image: { type: "string" },
      dockerfile: { type: "string" },
      label: { type: "string", multiple: true },
      volume: { type: "string", multiple: true },
      ...egressOptions,
    },
  });
  if (values.image && values.dockerfile) throw new UsageError("create takes --image or --dockerfile, not both");
  const mounts = (values.volume ?? []).map(volumeMount);
  const image = values.dockerfile ? (await build(g, values.dockerfile)).image : (values.image ?? "");
  const sandbox = await g.client.createSandbox({ language: values.lang, image, labels: kv(values.label), mounts, ...egressSpec(values) });
  print(g, summary(sandbox.info), () => `${sandbox.id}\n`);
  return 0;
}

/**
 * Builds PATH, its output live on stderr (or one JSON line per piece with --json); Ctrl-C
 * stops the build (exit 130).
 */
async function build(g: Globals, path: string): Promise<BuiltImage> {
  const { signal, dispose } = interruptible();
  try {
    return await g.client.buildImage(dockerfileSpec(path), {
      signal,
      onOutput: (text) => void (g.json ? process.stdout.write(`${JSON.stringify({ build: { output: text } })}\n`) : process.stderr.write(text)),
    });
  } catch (err) {
    if (signal.aborted) throw new Interrupted();
    throw err;
  } finally {
    dispose();
  }
}

async function cmdBuild(g: Globals, argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError("build takes one PATH (a Dockerfile or a folder holding one)");
  const built = await build(g, positionals[0]!);
  print(g, { result: built }, () => `${built.image}\n`);
  return 0;
}

const maxContextBytes = 32 * 1024 * 1024;

/**
 * A Dockerfile (or a folder holding one) as the daemon builds it: its content, and every
 * file of its folder but itself and .git as the build context (paths relative to the folder).
 */
export function dockerfileSpec(path: string): { content: string; contextFiles: Record<string, Uint8Array> } {
  const file = statSync(path).isDirectory() ? join(path, "Dockerfile") : path;
  const root = dirname(file);
  const contextFiles: Record<string, Uint8Array> = {};
  let total = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== ".git") walk(full);
      } else if (entry.isFile() && resolve(full) !== resolve(file)) {
        const data = readFileSync(full);
        total += data.byteLength;
        if (total > maxContextBytes) throw new UsageError(`the build context beside ${file} is over ${maxContextBytes} bytes`);
        contextFiles[relative(root, full).split(sep).join("/")] = data;
      }
    }
  };
  walk(root);
  return { content: readFileSync(file, "utf8"), contextFiles };
}

async function cmdGet(g: Globals, argv: string[]): Promise<number> {
  const [id] = argv;
  if (!id || argv.length > 1) throw new UsageError("get needs one sandbox ID");
  const s = summary((await g.client.getSandbox(id)).info);
  print(g, s, () =>
    table([
      ["id", s.id],
      ["language", s.language],
      ["state", s.state],
      ["image", s.image],
      [
        "labels",
        Object.entries(s.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(","),
      ],
      ["created", s.createdAt],
      ["expires", s.expiresAt],
    ]),
  );
  return 0;
}

/** `logs RUN_ID`: the run's output from its start, then live until it ends; `attach` also feeds it stdin. */
function cmdAttach(withStdin: boolean): (g: Globals, argv: string[]) => Promise<number> {
  return async (g, argv) => {
    const [runId] = argv;
    if (!runId || argv.length > 1) throw new UsageError(`${withStdin ? "attach" : "logs"} needs one RUN_ID`);
    const stop = interruptible();
    try {
      // Attach leaves the run going when its call ends: Ctrl-C stops following, not the run.
      return await follow(g, (o) => g.client.attach(runId, 0, o), {
        signal: stop.signal,
        stdin: withStdin && stdinIsData(),
        interrupted: `stopped following ${runId}; the run goes on`,
      });
    } finally {
      stop.dispose();
    }
  };
}

async function cmdLs(g: Globals, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { label: { type: "string", multiple: true } } });
  const list = (await g.client.listSandboxes(kv(values.label))).map(summary);
  print(g, list, () =>
    table([["ID", "LANGUAGE", "STATE", "IMAGE", "CREATED", "EXPIRES"], ...list.map((s) => [s.id, s.language, s.state, s.image, s.createdAt, s.expiresAt])]),
  );
  return 0;
}

async function cmdRm(g: Globals, argv: string[]): Promise<number> {
  if (argv.length === 0) throw new UsageError("rm needs at least one ID");
  const results: { id: string; destroyed: boolean }[] = [];
  for (const id of argv) results.push({ id, destroyed: await g.client.destroySandbox(id) });
  print(g, results, () => results.map((r) => `${r.id} ${r.destroyed ? "destroyed" : "already gone"}\n`).join(""));
  return 0;
}

function cmdPauseResume(pause: boolean) {
  return async (g: Globals, argv: string[]): Promise<number> => {
    const verb = pause ? "pause" : "resume";
    if (argv.length === 0) throw new UsageError(`${verb} needs at least one ID`);
    const results: { id: string; changed: boolean; state: string }[] = [];
    for (const id of argv) {
      const res = pause ? await g.client.pauseSandbox(id) : await g.client.resumeSandbox(id);
      results.push({ id, changed: res.changed, state: res.sandbox ? summary(res.sandbox).state : "UNSPECIFIED" });
    }
    const done = pause ? "paused" : "resumed";
    const already = pause ? "already paused" : "already running";
    print(g, results, () => results.map((r) => `${r.id} ${r.changed ? done : already}\n`).join(""));
    return 0;
  };
}

/** A line-at-a-time session in the terminal; Ctrl-C interrupts the running command. */
async function interactiveLoop(
  g: Globals,
  session: Awaited<ReturnType<Awaited<ReturnType<SandboxdClient["getSandbox"]>>["createSession"]>>,
  prompt: string,
  continuation: ((buf: string[]) => boolean) | null,
): Promise<number> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt, terminal: process.stdin.isTTY });
  let running: AbortController | null = null;
  rl.on("SIGINT", () => {
    if (running) void session.interrupt().catch(() => undefined);
    else rl.close();
  });
  // Prompts only for a person at a terminal; piped input gets output alone.
  const showPrompt = () => {
    if (process.stdin.isTTY) rl.prompt();
  };
  let buffer: string[] = [];
  showPrompt();
  let last = 0;
  for await (const line of rl) {
    buffer.push(line);
    if (continuation?.(buffer)) {
      rl.setPrompt("... ");
      showPrompt();
      continue;
    }
    const code = buffer.join("\n");
    buffer = [];
    rl.setPrompt(prompt);
    if (code.trim() === "") {
      showPrompt();
      continue;
    }
    running = new AbortController();
    // A cell's value comes on stdout (`Out[n]: ...`) and its traceback on stderr, as IPython
    // prints them; what display() shows comes as events, printed here as text.
    const r = await session
      .run(code, {
        ...liveCallbacks(g),
        signal: running.signal,
        onEvent: (ev) => {
          if (!g.json && ev.event.case === "display") process.stdout.write(displayText(ev.event.value));
        },
      })
      .result();
    running = null;
    if (g.json) print(g, { status: r.status, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }, () => "");
    last = exitCodeOf(r);
    showPrompt();
  }
  await session.close();
  return last;
}

/** A displayed value as a terminal shows it: its text/plain form, or what an image became. */
function displayText(d: DisplayData): string {
  const plain = d.data["text/plain"];
  const text = plain ? Buffer.from(plain).toString("utf8") : `<${Object.keys(d.data).join(", ")}>`;
  return `${text}${d.artifactId ? ` (artifact ${d.artifactId})` : ""}\n`;
}

async function cmdShell(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { shell: { type: "string" }, env: { type: "string", multiple: true }, session: { type: "boolean" } },
  });
  const [id] = positionals;
  if (!id) throw new UsageError("shell needs a sandbox ID");
  // At a terminal: a real one in the sandbox. Piped input (or --session): a shell session,
  // one command line at a time.
  if (process.stdin.isTTY && !values.session) return runTerminal(g, id, { argv: values.shell ? [values.shell] : [], env: kv(values.env) });
  values.shell ??= "/bin/sh";
  const sandbox = await g.client.getSandbox(id);
  const session = await sandbox.createSession({ kind: "shell", shell: values.shell, env: kv(values.env) });
  return interactiveLoop(g, session, "$ ", null);
}

async function cmdRepl(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { lang: { type: "string" } } });
  const [id] = positionals;
  if (!id && !values.lang) throw new UsageError("repl needs a sandbox ID or --lang python");
  const sandbox = id ? await g.client.getSandbox(id) : await g.client.createSandbox({ language: values.lang ?? "python" });
  try {
    const session = await sandbox.createSession({ kind: "ipython" });
    // A block (a line ending in ':' or indented lines after it) runs at the first empty line.
    const more = (buf: string[]) => {
      const first = buf[0] ?? "";
      const last = buf[buf.length - 1] ?? "";
      return first.trimEnd().endsWith(":") ? last.trim() !== "" : false;
    };
    return await interactiveLoop(g, session, ">>> ", more);
  } finally {
    if (!id) await sandbox.destroy();
  }
}

/** Progress on stderr for long transfers, when it is a terminal. */
function progress(label: string): (done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => undefined;
  let lastDraw = 0;
  return (done, total) => {
    const now = Date.now();
    if (now - lastDraw < 100 && done !== total) return;
    lastDraw = now;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    process.stderr.write(`\r${label} ${mib(done)} MiB${total ? ` / ${mib(total)} MiB (${Math.floor((done / total) * 100)}%)` : ""}`);
    if (total && done >= total) process.stderr.write("\n");
  };
}

async function cmdCp(g: Globals, argv: string[]): Promise<number> {
  const [src, dest] = argv;
  if (!src || !dest) throw new UsageError("cp needs SRC and DEST");
  const remote = (p: string) => /^([A-Za-z0-9_-]+):(\/.*|[^/].*)$/.exec(p);
  const from = remote(src);
  const to = dest === "-" ? null : remote(dest);
  if (!!from === !!to) throw new UsageError("exactly one of SRC and DEST must be ID:/path");
  if (to) {
    const sandbox = await g.client.getSandbox(to[1] ?? "");
    const path = to[2] ?? "";
    const isDir = statSync(src).isDirectory();
    const data = isDir ? execFileSync("tar", ["-C", src, "-cf", "-", "."], { maxBuffer: 1 << 30 }) : readFileSync(src);
    const res = await sandbox.upload(path, data, {
      kind: isDir ? TransferKind.TAR : TransferKind.FILE,
      mode: isDir ? 0 : statSync(src).mode & 0o777,
      onProgress: data.byteLength > 1 << 20 ? progress(`uploading ${basename(src)}`) : () => undefined,
    });
    print(g, { path, bytes: res.bytes, sha256: res.sha256 }, () => `${src} -> ${dest} (${res.bytes} bytes)\n`);
  } else if (from) {
    const sandbox = await g.client.getSandbox(from[1] ?? "");
    const { header, data } = await sandbox.download(from[2] ?? "", { onProgress: progress(`downloading ${basename(from[2] ?? "")}`) });
    if (dest === "-") {
      // The bytes alone (a directory as its tar), for a pipe.
      await new Promise<void>((res, rej) => process.stdout.write(data, (e) => (e ? rej(e) : res())));
      return 0;
    }
    if (header?.kind === TransferKind.TAR) {
      mkdirSync(dest, { recursive: true });
      const r = spawnSync("tar", ["-C", dest, "-xf", "-", "--no-same-owner"], { input: data });
      if (r.status !== 0) throw new Error(`tar failed: ${r.stderr.toString()}`);
    } else {
      mkdirSync(dirname(resolve(dest)), { recursive: true });
      writeFileSync(dest, data, { mode: header?.mode || 0o644 });
    }
    print(g, { path: dest, bytes: data.byteLength }, () => `${src} -> ${dest} (${data.byteLength} bytes)\n`);
  }
  return 0;
}

async function cmdArtifacts(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: "string" } } });
  const [id] = positionals;
  if (!id) throw new UsageError("artifacts needs a sandbox ID");
  const sandbox = await g.client.getSandbox(id);
  const list = await sandbox.listArtifacts();
  const rows: { id: string; name: string; format: string; size: number; width: number; height: number; index: number; runId: string; file: string }[] = [];
  for (const a of list) {
    let file = "";
    if (values.out) {
      mkdirSync(values.out, { recursive: true });
      const { data } = await sandbox.downloadArtifact(a.id, { onProgress: Number(a.size) > 1 << 20 ? progress(`downloading ${a.name}`) : () => undefined });
      file = join(values.out, a.name || `${String(a.index).padStart(6, "0")}.${a.format || "bin"}`);
      writeFileSync(file, data);
    }
    rows.push({ id: a.id, name: a.name, format: a.format, size: Number(a.size), width: a.width, height: a.height, index: a.index, runId: a.runId, file });
  }
  print(g, rows, () =>
    table([
      ["ID", "NAME", "FORMAT", "SIZE", "WIDTHxHEIGHT", "FILE"],
      ...rows.map((r) => [r.id, r.name, r.format, String(r.size), `${r.width}x${r.height}`, r.file]),
    ]),
  );
  return 0;
}

/**
 * `--volume SOURCE:PATH[:ro|rw]` of create: SOURCE is a volume's name or id, or (starting
 * with /) a host directory. Volumes default to read-write, host directories to read-only.
 */
export function volumeMount(spec: string): { source: { case: "volume" | "hostPath"; value: string }; path: string; readOnly: boolean } {
  const parts = spec.split(":");
  const mode = parts.length === 3 ? parts[2] : undefined;
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1] || (mode !== undefined && mode !== "ro" && mode !== "rw"))
    throw new UsageError(`--volume takes SOURCE:PATH[:ro|rw], got ${JSON.stringify(spec)}`);
  const host = (parts[0] as string).startsWith("/");
  return {
    source: { case: host ? "hostPath" : "volume", value: parts[0] as string },
    path: parts[1] as string,
    readOnly: mode === undefined ? host : mode === "ro",
  };
}

function volumeRow(v: Volume) {
  return {
    id: v.id,
    name: v.name,
    sizeLimitBytes: Number(v.sizeLimitBytes),
    usedBytes: Number(v.usedBytes),
    mountedBy: v.mountedBy,
    createdAt: v.createdAt ? new Date(Number(v.createdAt.seconds) * 1000).toISOString() : "",
  };
}

async function cmdVolume(g: Globals, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "create": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { size: { type: "string" } } });
      if (positionals.length !== 1) throw new UsageError("volume create needs one NAME");
      const size = values.size === undefined ? 0 : Number(values.size);
      if (!Number.isSafeInteger(size) || size < 0) throw new UsageError(`--size takes a number of bytes, got ${JSON.stringify(values.size)}`);
      const v = volumeRow(await g.client.createVolume(positionals[0] as string, size));
      print(g, v, () => `${v.id}\n`);
      return 0;
    }
    case "list":
    case "ls": {
      const list = (await g.client.listVolumes()).map(volumeRow);
      print(g, list, () =>
        table([
          ["ID", "NAME", "SIZE LIMIT", "MOUNTED BY", "CREATED"],
          ...list.map((v) => [v.id, v.name, String(v.sizeLimitBytes), v.mountedBy.join(",") || "-", v.createdAt]),
        ]),
      );
      return 0;
    }
    case "get": {
      if (rest.length !== 1) throw new UsageError("volume get needs one NAME or ID");
      const v = volumeRow(await g.client.getVolume(rest[0] as string));
      print(
        g,
        v,
        () => `${v.id}  ${v.name}  used ${v.usedBytes} bytes (limit ${v.sizeLimitBytes || "none"}, not enforced)  mounted by ${v.mountedBy.join(",") || "-"}\n`,
      );
      return 0;
    }
    case "delete":
    case "rm": {
      if (rest.length === 0) throw new UsageError("volume delete needs at least one NAME or ID");
      const results: { volume: string; deleted: boolean }[] = [];
      for (const volume of rest) results.push({ volume, deleted: await g.client.deleteVolume(volume) });
      print(g, results, () => results.map((r) => `${r.volume} ${r.deleted ? "deleted" : "already gone"}\n`).join(""));
      return 0;
    }
    default:
      throw new UsageError("volume takes create, list, get or delete");
  }
}

function bytes(n: bigint | number): string {
  const v = Number(n);
  if (v >= 1024 ** 3) return `${(v / 1024 ** 3).toFixed(1)} GiB`;
  if (v >= 1024 ** 2) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${v} B`;
}

function usageJson(u: SandboxUsage | undefined) {
  if (!u?.available) return { available: false, reason: u?.unavailableReason ?? "not measured" };
  return {
    available: true,
    memoryBytes: Number(u.memoryBytes),
    memoryPeakBytes: Number(u.memoryPeakBytes),
    memoryLimitBytes: Number(u.memoryLimitBytes),
    cpuTimeMs: Number(u.cpuTimeMs),
    processes: u.processes,
    processesLimit: u.processesLimit,
    paths: u.paths.map((p) => ({ path: p.path, usedBytes: Number(p.usedBytes), totalBytes: Number(p.totalBytes) })),
  };
}

function usageLine(u: SandboxUsage | undefined): string {
  if (!u?.available) return `usage not available: ${u?.unavailableReason ?? "not measured"}\n`;
  const limit = u.memoryLimitBytes > 0n ? ` / ${bytes(u.memoryLimitBytes)}` : "";
  const paths = u.paths.map((p) => `${p.path} ${bytes(p.usedBytes)}${p.totalBytes > 0n ? ` / ${bytes(p.totalBytes)}` : ""}`).join(", ");
  return `mem ${bytes(u.memoryBytes)}${limit} (peak ${bytes(u.memoryPeakBytes)})  cpu ${(Number(u.cpuTimeMs) / 1000).toFixed(2)} s  procs ${u.processes}  ${paths}\n`;
}

/** `stats ID`: the sandbox's usage; --watch streams it (WatchSandbox) until the sandbox goes away. */
async function cmdStats(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { watch: { type: "boolean" }, interval: { type: "string" } } });
  const [id] = positionals;
  if (!id || positionals.length > 1) throw new UsageError("stats needs one sandbox ID");
  if (!values.watch) {
    const u = await g.client.getUsage(id);
    print(g, usageJson(u), () => {
      if (!u?.available) return usageLine(u);
      const rows = [
        ["memory", `${bytes(u.memoryBytes)}${u.memoryLimitBytes > 0n ? ` of ${bytes(u.memoryLimitBytes)}` : ""}`],
        ["memory peak", bytes(u.memoryPeakBytes)],
        ["cpu time", `${(Number(u.cpuTimeMs) / 1000).toFixed(3)} s`],
        ["processes", `${u.processes}${u.processesLimit > 0 ? ` of ${u.processesLimit}` : ""}`],
        ...u.paths.map((p) => [p.path, `${bytes(p.usedBytes)} used${p.totalBytes > 0n ? ` of ${bytes(p.totalBytes)}` : ""}`]),
      ];
      return table(rows);
    });
    return 0;
  }
  const interval = values.interval === undefined ? 1000 : Number(values.interval);
  if (!Number.isInteger(interval) || interval < 0) throw new UsageError("--interval takes milliseconds");
  const stop = interruptible();
  try {
    for await (const u of g.client.watchSandbox(id, interval, { signal: stop.signal })) print(g, usageJson(u), () => usageLine(u));
  } catch (err) {
    if (stop.signal.aborted) return 130;
    throw err;
  } finally {
    stop.dispose();
  }
  return 0;
}

/** `watch-files ID [PATH] [-r]`: WatchFiles, a line (or a JSON object) per change, until Ctrl-C or the sandbox goes. */
async function cmdWatchFiles(g: Globals, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { recursive: { type: "boolean", short: "r" } } });
  const [id, path = ""] = positionals;
  if (!id || positionals.length > 2) throw new UsageError("watch-files needs a sandbox ID and at most one PATH");
  const stop = interruptible();
  try {
    const onReady = () => process.stderr.write(`sandboxctl: watching ${path || "the workdir"}${values.recursive ? " and below" : ""} (Ctrl-C stops)\n`);
    for await (const e of g.client.watchFiles(id, path, { recursive: values.recursive ?? false, signal: stop.signal, onReady })) {
      const type = FileEventType[e.type] ?? "UNSPECIFIED";
      print(g, { type, path: e.path, ...(e.oldPath ? { oldPath: e.oldPath } : {}), isDir: e.isDir, ...(e.message ? { message: e.message } : {}) }, () =>
        type === "RENAME" ? `RENAME ${e.oldPath} -> ${e.path}\n` : type === "OVERFLOW" ? `OVERFLOW ${e.message}\n` : `${type} ${e.path}${e.isDir ? "/" : ""}\n`,
      );
    }
  } catch (err) {
    if (stop.signal.aborted) return 130;
    throw err;
  } finally {
    stop.dispose();
  }
  return 0;
}

const commands: Record<string, (g: Globals, argv: string[]) => Promise<number>> = {
  run: cmdRun,
  exec: cmdExec,
  create: cmdCreate,
  build: cmdBuild,
  get: cmdGet,
  logs: cmdAttach(false),
  attach: cmdAttach(true),
  ls: cmdLs,
  rm: cmdRm,
  pause: cmdPauseResume(true),
  resume: cmdPauseResume(false),
  shell: cmdShell,
  repl: cmdRepl,
  cp: cmdCp,
  artifacts: cmdArtifacts,
  volume: cmdVolume,
  stats: cmdStats,
  "watch-files": cmdWatchFiles,
};

/** The client package's version: package.json is one level above both src/ and dist/. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  // Global flags come before the command; everything after it belongs to the command.
  let i = 0;
  const globals: { address?: string; token?: string; json: boolean } = { json: false };
  for (; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--json") globals.json = true;
    else if (a === "--address" || a === "--token") globals[a.slice(2) as "address" | "token"] = argv[++i] ?? "";
    else if (a === "-h" || a === "--help") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else if (a === "--version") {
      process.stdout.write(`sandboxctl ${packageVersion()}\n`);
      return 0;
    } else break;
  }
  const name = argv[i];
  const rest = argv.slice(i + 1).filter((a) => {
    if (a === "--json") globals.json = true;
    return a !== "--json";
  });
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const client = createClient({ ...(globals.address ? { address: globals.address } : {}), ...(globals.token ? { token: globals.token } : {}) });
  try {
    return await command({ json: globals.json, client }, rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sandboxctl: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof Interrupted) {
      process.stderr.write("sandboxctl: interrupted\n");
      return 130;
    }
    const e = err instanceof SandboxdError ? err : null;
    if (globals.json && e) process.stdout.write(`${JSON.stringify({ error: { code: e.code, reason: e.reason, message: e.message, metadata: e.metadata } })}\n`);
    process.stderr.write(
      `sandboxctl: ${e ? `${e.code}${e.reason !== e.code ? ` (${e.reason})` : ""}: ${e.message}` : err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  } finally {
    client.close();
  }
}

const invokedDirectly = process.argv[1] && /sandboxctl(\.[jt]s)?$/.test(process.argv[1]);
if (invokedDirectly) {
  // A reader that stops early (`sandboxctl --json run x.py | head -1`) ends sandboxctl quietly.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(process.exitCode ?? 0);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sandboxctl: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
